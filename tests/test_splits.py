"""Train / val / test splits of every dataset: content-disjoint, fixed by data.split_seed alone,
written as a table with a hash, and read back from a split file or a csv column."""
from __future__ import annotations

import numpy as np
import pytest

from fake_datasets import make_csv, make_koniq, make_livec, make_spaq, write_csv
from helpers import compose
from iqa import data
from iqa.data.splits import Split
from iqa.errors import DataError

SMALL = ["loader.patch_size=32", "loader.batch_size=8", "data.n_refs=10", "data.image_size=64"]


@pytest.fixture
def cfg(tmp_path, cache_dir):
    """compose(*overrides): the run config Hydra builds (the synthetic set comes from the session cache)."""
    return lambda *overrides: compose(*SMALL, *overrides)


def parts_of(bundle):
    return {"train": set(bundle.train.names), "val": set(bundle.val.names) if bundle.val else set(),
            "test": set(bundle.test.names)}


def groups_of(images):
    return set(images.groups.tolist())


def test_synthetic_split_has_three_content_disjoint_parts_fixed_by_the_split_seed(cfg):
    b = data.build(cfg("seed=1").data, cfg().loader)
    assert (len(groups_of(b.train)), len(groups_of(b.val)), len(groups_of(b.test))) == (7, 1, 2)
    assert not (groups_of(b.train) & groups_of(b.val) or groups_of(b.train) & groups_of(b.test)
                or groups_of(b.val) & groups_of(b.test))
    assert b.split.counts() == {"train": len(b.train), "val": len(b.val), "test": len(b.test)}
    same = data.build(cfg("seed=2").data, cfg().loader)  # another run seed: the same split
    assert parts_of(same) == parts_of(b) and same.split.hash() == b.split.hash()
    other = data.build(cfg("data.split_seed=1").data, cfg().loader)
    assert parts_of(other) != parts_of(b) and other.split.hash() != b.split.hash()
    # The validation part comes out of the training part: the test images stay those of the same
    # split seed without validation, so test numbers stay comparable.
    no_val = data.build(cfg("data.val_fraction=0", "trainer.monitor=test_srcc", "objective=test_srcc").data,
                        cfg().loader)
    assert no_val.val is None and parts_of(no_val)["test"] == parts_of(b)["test"]
    assert parts_of(no_val)["train"] == parts_of(b)["train"] | parts_of(b)["val"]


def test_split_csv_round_trips_through_split_file(cfg, tmp_path):
    b = data.build(cfg("data.split_seed=3").data, cfg().loader)
    b.split.write(tmp_path / "split.csv")
    lines = (tmp_path / "split.csv").read_text().splitlines()
    assert lines[0] == "image,part" and len(lines) == 1 + len(b.train) + len(b.val) + len(b.test)
    again = data.build(cfg(f"data.split_file={tmp_path / 'split.csv'}").data, cfg().loader)
    assert parts_of(again) == parts_of(b) and again.split.hash() == b.split.hash()


def test_published_split_file_and_official_split_agree(tmp_path, cfg):
    make_koniq(tmp_path / "koniq")
    root = ["data=koniq", f"data.root={tmp_path / 'koniq'}", "data.short_side=0"]
    official = data.build(cfg(*root, "data.split=official").data, cfg().loader)
    # KonIQ's own sets file (image_name, set = training/validation/test) read as a split file.
    published = data.build(cfg(*root, f"data.split_file={tmp_path / 'koniq' / 'koniq10k_distributions_sets.csv'}").data,
                           cfg().loader)
    assert parts_of(published) == parts_of(official) and (len(official.val), len(official.test)) == (3, 3)


def test_csv_split_column_names_the_parts(tmp_path, cfg):
    truth = make_csv(tmp_path / "csv")
    rows = [[p, t["mos"], t["group"], ["train", "val", "test"][i // 2 % 3]]
            for i, (p, t) in enumerate(truth.items())]  # whole content groups (pairs of images)
    write_csv(tmp_path / "csv" / "labels.csv", ["path", "mos", "group", "fold1"], rows)
    b = data.build(cfg("data=csv", f"data.root={tmp_path / 'csv'}", "data.split_column=fold1").data, cfg().loader)
    want = {part: {r[0] for r in rows if r[3] == part} for part in ("train", "val", "test")}
    assert parts_of(b) == want
    with pytest.raises(DataError, match=r"has no column 'fold2', which data.split_column needs"):
        data.build(cfg("data=csv", f"data.root={tmp_path / 'csv'}", "data.split_column=fold2").data, cfg().loader)


@pytest.mark.parametrize("name,make", [("livec", make_livec), ("spaq", make_spaq)])
def test_datasets_without_groups_get_a_validation_part(tmp_path, cfg, name, make):
    make(tmp_path / name, n=20)
    b = data.build(cfg(f"data={name}", f"data.root={tmp_path / name}", "data.short_side=0").data, cfg().loader)
    assert (len(b.train), len(b.val), len(b.test)) == (14, 2, 4)
    assert len(set.union(*parts_of(b).values())) == 20


def test_bad_split_files_are_named(tmp_path, cfg):
    b = data.build(cfg().data, cfg().loader)
    rows = b.split.rows()
    cases = [
        (["image", "part"], [[r["image"], r["part"]] for r in rows[1:]], f"has no row for {rows[0]['image']} "
                                                                        f"(and 0 more images of synthetic)"),
        (["image", "part"], [[r["image"], r["part"]] for r in rows] + [["nope.png", "test"]],
         f"row {len(rows) + 2}: image 'nope.png' is not in synthetic"),
        (["image", "fold"], [[r["image"], r["part"]] for r in rows], "needs an image column (image, "),
        (["image", "part"], [[r["image"], "holdout" if i == 0 else r["part"]] for i, r in enumerate(rows)],
         "row 2 column 'part': 'holdout' is not a split (use train, val or test)"),
        (["image", "part"], [[r["image"], "train" if r["part"] == "test" else r["part"]] for r in rows],
         "synthetic: the test part of split file"),
    ]
    for header, body, message in cases:
        write_csv(tmp_path / "s.csv", header, body)
        with pytest.raises(DataError, match=None) as e:
            data.build(cfg(f"data.split_file={tmp_path / 's.csv'}").data, cfg().loader)
        assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
    with pytest.raises(DataError, match="split file /no/such.csv does not exist"):
        data.build(cfg("data.split_file=/no/such.csv").data, cfg().loader)


def test_split_hash_ignores_row_order(cfg):
    b = data.build(cfg().data, cfg().loader)
    order = np.random.default_rng(0).permutation(len(b.split.names))
    shuffled = Split([b.split.names[i] for i in order], b.split.parts[order])
    assert shuffled.hash() == b.split.hash()
    flipped = Split(list(b.split.names), np.where(b.split.parts == "val", "train", b.split.parts))
    assert flipped.hash() != b.split.hash()
