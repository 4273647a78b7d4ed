"""How many contents each part of a split gets: `data.test_fraction` of the content groups to test,
then `data.val_fraction` of the groups test leaves to val, rounded to the nearest count, at least one
group and two images per scored part; too few groups is an error naming the counts. A split file may
list images that were skipped as unreadable."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import compose

from iqa.data.imageset import ImageSet
from iqa.data.splits import choose, divide, random_parts, with_val
from iqa.errors import ConfigError, DataError


def image_set(groups, name="set", split=None, skipped=()):
    """One tiny image per entry of `groups` (the content it shows)."""
    groups = np.asarray(groups)
    names = [f"img{i:03d}.png" for i in range(len(groups))]
    return ImageSet(name, [np.zeros((4, 4, 3), np.uint8)] * len(groups), np.linspace(0, 1, len(groups)),
                    groups, names, None if split is None else np.asarray(split), list(skipped))


def contents(n_groups, per_group=1):
    return image_set(np.repeat(np.arange(n_groups), per_group))


def group_counts(images, parts):
    """Content groups per part."""
    return {p: len(set(images.groups[parts == p].tolist())) for p in ("train", "val", "test")}


def data_cfg(*overrides):
    return compose("data.split_seed=3", *overrides).data


@pytest.mark.parametrize("n_groups,test_fraction,val_fraction,expected", [
    (20, 0.25, 0.2, {"test": 5, "val": 3, "train": 12}),  # val: 0.2 of the 15 groups test leaves, not of 20
    (10, 0.26, 0.1, {"test": 3, "val": 1, "train": 6}),   # 2.6 -> 3 (nearest, not truncated); 0.7 -> 1
    (10, 0.14, 0.45, {"test": 1, "val": 4, "train": 5}),  # 1.4 -> 1 (nearest, not rounded up); 4.05 -> 4
    (40, 0.3, 0.5, {"test": 12, "val": 14, "train": 14}),
    (10, 0.01, 0.01, {"test": 1, "val": 1, "train": 8}),  # each part at least one group
    (10, 0.2, 0.0, {"test": 2, "val": 0, "train": 8}),    # no validation part
])
def test_part_sizes_follow_the_fractions(n_groups, test_fraction, val_fraction, expected):
    images = contents(n_groups, per_group=3)
    parts = random_parts(images, test_fraction, val_fraction, split_seed=0)
    assert group_counts(images, parts) == expected
    # every image of a content lands in the part of its group
    for g in np.unique(images.groups):
        assert len(set(parts[images.groups == g])) == 1


def test_a_scored_part_takes_groups_until_it_has_two_images():
    images = contents(10, per_group=1)
    parts = random_parts(images, 0.1, 0.1, split_seed=0)
    assert group_counts(images, parts) == {"test": 2, "val": 2, "train": 6}
    # Groups of two images are enough alone.
    images = contents(10, per_group=2)
    assert group_counts(images, random_parts(images, 0.1, 0.1, split_seed=0)) == {"test": 1, "val": 1, "train": 8}


def test_test_part_does_not_depend_on_the_validation_fraction():
    images = contents(30, per_group=2)
    tests = [set(np.flatnonzero(random_parts(images, 0.2, v, split_seed=5) == "test")) for v in (0.0, 0.1, 0.4)]
    assert tests[0] == tests[1] == tests[2]
    other = set(np.flatnonzero(random_parts(images, 0.2, 0.1, split_seed=6) == "test"))
    assert other != tests[0] and len(other) == len(tests[0])


def test_too_few_groups_for_three_parts_is_an_error_with_the_counts():
    # Three groups hold a test, a validation and a training part ...
    images = contents(3, per_group=2)
    assert group_counts(images, random_parts(images, 0.2, 0.2, 0)) == {"test": 1, "val": 1, "train": 1}
    # ... two do not, unless there is no validation part.
    with pytest.raises(DataError) as e:
        random_parts(contents(2, per_group=2), 0.2, 0.2, 0)
    assert str(e.value) == ("set: 2 content groups are too few to split off a test (1) and a validation (1) part "
                            "and keep one for training")
    assert group_counts(contents(2, 2), random_parts(contents(2, 2), 0.2, 0.0, 0)) == {"test": 1, "val": 0,
                                                                                     "train": 1}
    with pytest.raises(DataError, match=r"^set: 4 content groups are too few to split off a test \(3\) and a "
                                        r"validation \(1\) part"):
        random_parts(contents(4, per_group=2), 0.75, 0.5, 0)
    with pytest.raises(DataError, match=r"^set: 1 content groups are too few to split off a test \(1\) and a "
                                        r"validation \(0\) part"):
        random_parts(contents(1, per_group=4), 0.2, 0.0, 0)


def test_a_given_split_gets_val_from_its_train_part():
    split = ["test"] * 4 + ["train"] * 16
    images = image_set(np.arange(20), split=split)
    parts = with_val(images, images.split, 0.25, 0, "the official split")
    assert list(parts[:4]) == ["test"] * 4  # test stays as given
    assert group_counts(images, parts) == {"test": 4, "val": 4, "train": 12}  # 0.25 of the 16 train groups
    assert list(images.split) == split  # the given parts are not modified
    # A split with a validation part, or val_fraction=0, is used as it is.
    given = np.asarray(["val"] * 2 + split[2:])
    assert list(with_val(images, given, 0.25, 0, "x")) == list(given)
    assert list(with_val(images, images.split, 0.0, 0, "x")) == split
    # Singleton groups: val takes two of them, never one image.
    assert group_counts(images, with_val(images, images.split, 0.01, 0, "x"))["val"] == 2


def test_a_given_split_with_too_few_train_groups_for_val_is_an_error():
    images = image_set([0, 0, 1, 1], split=["test", "test", "train", "train"])
    with pytest.raises(DataError) as e:
        with_val(images, images.split, 0.2, 0, "the official split")
    assert str(e.value) == ("set: the train part of the official split has 1 content groups, too few to split off a "
                            "validation part (set data.val_fraction=0 to select on test)")
    three = image_set([0, 0, 1, 1, 2, 2, 3, 3], split=["test"] * 2 + ["train"] * 6)
    assert group_counts(three, with_val(three, three.split, 0.2, 0, "x")) == {"test": 1, "val": 1, "train": 2}


def test_split_file_may_list_an_image_skipped_as_unreadable(tmp_path):
    images = image_set(np.arange(8), name="koniq", skipped=["broken.png"])
    rows = [f"{n},{p}" for n, p in zip(images.names, ["train"] * 4 + ["val"] * 2 + ["test"] * 2)]
    path = tmp_path / "split.csv"
    path.write_text("image,part\n" + "\n".join(rows[:3] + ["broken.png,test"] + rows[3:]) + "\n")
    split, source = choose(images, data_cfg(f"data.split_file={path}"))
    assert source == f"split file {path}" and split.names == images.names
    assert split.counts() == {"train": 4, "val": 2, "test": 2}
    train, val, test = divide(images, split.parts, source)
    assert (train.names, val.names, test.names) == (images.names[:4], images.names[4:6], images.names[6:])
    # A name that is neither an image nor a skipped one is refused, with its row.
    path.write_text("image,part\n" + "\n".join(rows + ["gone.png,test"]) + "\n")
    with pytest.raises(DataError, match=r"split.csv row 10: image 'gone.png' is not in koniq$"):
        choose(images, data_cfg(f"data.split_file={path}"))


def test_choose_takes_the_random_split_from_the_fractions_and_the_split_seed():
    images = contents(20, per_group=2)
    split, source = choose(images, data_cfg("data.test_fraction=0.25", "data.val_fraction=0.2"))
    assert source == "data.split_seed=3"
    assert group_counts(images, split.parts) == {"test": 5, "val": 3, "train": 12}
    assert list(split.parts) == list(random_parts(images, 0.25, 0.2, 3))
    official = image_set(np.arange(10), split=["test"] * 3 + ["train"] * 7)
    split, source = choose(official, data_cfg("data.split=official", "data.val_fraction=0.3"))
    assert source == "the official split" and split.counts() == {"train": 5, "val": 2, "test": 3}
    one_train = image_set(np.arange(4), split=["test"] * 3 + ["train"])
    with pytest.raises(DataError, match=r"^set: the train part of the official split has 1 content groups"):
        choose(one_train, data_cfg("data.split=official", "data.val_fraction=0.3"))
    # A csv column's parts (data.split_column) arrive as the dataset's split, named after the column.
    split, source = choose(official, data_cfg("data.split_column=fold1", "data.val_fraction=0"))
    assert source == "the fold1 split" and split.counts() == {"train": 7, "val": 0, "test": 3}
    for overrides in (["data.split=official"], ["data.split_column=fold1"]):
        with pytest.raises(ConfigError, match=r"^data.split=official is out of range for set: it has no official "
                                              r"split \(use data.split=random\)$"):
            choose(images, data_cfg(*overrides))


def test_divide_refuses_an_empty_train_or_test_part_but_not_an_empty_val_part():
    images = contents(4)
    train, val, test = divide(images, np.asarray(["train", "train", "test", "test"]), "src")
    assert val is None and train.name == "set/train" and test.names == images.names[2:]
    for parts, empty in ((["test"] * 4, "train"), (["train", "val", "val", "train"], "test")):
        with pytest.raises(DataError, match=f"^set: the {empty} part of src is empty$"):
            divide(images, np.asarray(parts), "src")


@pytest.mark.parametrize("seed", range(12))
def test_groups_are_taken_until_a_part_holds_two_images_and_no_more(seed):
    """Contents of one or two images: each scored part takes groups in the drawn order until it holds
    two images; one group fewer would leave it with less."""
    images = image_set(np.repeat(np.arange(12), [1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 1, 2]))
    for parts in (random_parts(images, 0.05, 0.05, seed),
                  with_val(images, random_parts(images, 0.05, 0.0, seed), 0.05, seed, "x")):
        for part in ("test", "val"):
            groups = images.groups[parts == part]
            sizes = sorted(np.sum(images.groups == g) for g in set(groups.tolist()))
            assert sum(sizes) >= 2 and (len(sizes) == 1 or sum(sizes) - sizes[-1] < 2), (part, sizes)


def test_the_error_counts_are_the_groups_each_part_would_need():
    with pytest.raises(DataError, match=r"^set: 1 content groups are too few to split off a test \(1\) and a "
                                        r"validation \(0\) part"):
        random_parts(contents(1, per_group=1), 0.2, 0.0, 0)
    # Three single-image contents: test needs two of them, val the one left.
    with pytest.raises(DataError, match=r"^set: 3 content groups are too few to split off a test \(2\) and a "
                                        r"validation \(1\) part"):
        random_parts(contents(3, per_group=1), 0.3, 0.1, 0)


def test_the_split_is_the_documented_draw_from_the_split_seed():
    """The recipe of docs/data.md, so a split seed names the same split in every version: the content
    groups in the order of numpy's default_rng(split_seed).permutation, the first ones to test, the
    next ones to val; a given split's val from default_rng([split_seed, 1]) over its train groups."""
    images = contents(20, per_group=2)
    order = np.random.default_rng(7).permutation(np.unique(images.groups))
    parts = random_parts(images, 0.25, 0.2, 7)
    assert set(images.groups[parts == "test"].tolist()) == set(order[:5].tolist())
    assert set(images.groups[parts == "val"].tolist()) == set(order[5:8].tolist())
    given = np.where(np.isin(images.groups, order[:5]), "test", "train")
    train_groups = np.unique(images.groups[given == "train"])
    drawn = np.random.default_rng([7, 1]).permutation(train_groups)
    val = with_val(images, given, 0.2, 7, "x")
    assert set(images.groups[val == "val"].tolist()) == set(drawn[:3].tolist())
