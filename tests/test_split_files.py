"""A split as a file: split.csv's format and hash (what metrics.json compares runs by), and the
messages a bad split file gets, each naming the file, the row and the column."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from helpers import compose

from iqa.data.imageset import ImageSet
from iqa.data.splits import Split, choose, file_parts, with_val
from iqa.errors import DataError

NAMES = ["b.png", "a.png", "c.png", "d.png"]


def image_set(names=NAMES):
    return ImageSet("koniq", [np.zeros((4, 4, 3), np.uint8)] * len(names), np.linspace(0, 1, len(names)),
                    np.arange(len(names)), list(names))


def test_the_hash_is_sha256_of_the_sorted_image_part_lines():
    """The documented recipe, so a hash in an older metrics.json still names the same split."""
    split = Split(list(NAMES), np.asarray(["train", "test", "val", "train"]))
    text = "a.png,test\nb.png,train\nc.png,val\nd.png,train"
    assert split.hash() == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_split_csv_is_image_part_in_dataset_order(tmp_path):
    split = Split(list(NAMES), np.asarray(["train", "test", "val", "train"]))
    split.write(tmp_path / "split.csv")
    assert (tmp_path / "split.csv").read_text() == "image,part\nb.png,train\na.png,test\nc.png,val\nd.png,train\n"
    parts = file_parts(image_set(), tmp_path / "split.csv")
    assert parts.tolist() == ["train", "test", "val", "train"] and parts.dtype.kind == "U"


@pytest.mark.parametrize("header", ["image_name,set", "path,split", "Image name,part", "file,set"])
def test_published_column_names_are_read(tmp_path, header):
    path = tmp_path / "s.csv"
    path.write_text(header + "\n" + "".join(f"{n},{p}\n" for n, p in zip(NAMES, ["training", "test", "validation",
                                                                                 "train"])))
    assert file_parts(image_set(), path).tolist() == ["train", "test", "val", "train"]


@pytest.mark.parametrize("text,message", [
    ("name,part\na.png,test\n", "{path} needs an image column (image, image_name, path, Image name, file) and a part "
                                "column (part, set, split); it has name, part"),
    ("image,fold\na.png,test\n", "{path} needs an image column (image, image_name, path, Image name, file) and a part "
                                 "column (part, set, split); it has image, fold"),
    ("image,part\na.png,test\n,train\n", "{path} row 3 column 'image' is empty"),
    ("image,part\na.png,test\n./a.png,train\n", "{path} row 3 column 'image': './a.png' is listed twice: row 2 names "
                                                "the same file (as 'a.png')"),
    ("image,set\na.png,test\nb.png,holdout\n", "{path} row 3 column 'set': 'holdout' is not a split "
                                               "(use train, val or test)"),
])
def test_bad_split_files_name_the_file_row_and_column(tmp_path, text, message):
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(DataError) as e:
        file_parts(image_set(), path)
    assert str(e.value) == message.format(path=path)


def test_missing_file_and_missing_rows_are_named(tmp_path):
    with pytest.raises(DataError, match=r"^split file /no/such\.csv does not exist$"):
        file_parts(image_set(), "/no/such.csv")
    path = tmp_path / "s.csv"
    path.write_text("image,part\nb.png,train\nd.png,test\n")
    with pytest.raises(DataError) as e:
        file_parts(image_set(), path)
    assert str(e.value) == f"{path} has no row for a.png (and 1 more images of koniq)"
    path.write_text("image,part\nb.png,train\nd.png,test\nc.png,test\n")
    with pytest.raises(DataError) as e:
        file_parts(image_set(), path)
    assert str(e.value) == f"{path} has no row for a.png (and 0 more images of koniq)"


def test_a_split_file_without_val_gets_val_from_its_train_part(tmp_path):
    names = [f"{i:02d}.png" for i in range(12)]
    images = image_set(names)
    path = tmp_path / "s.csv"
    path.write_text("image,part\n" + "".join(f"{n},{'test' if i < 4 else 'train'}\n" for i, n in enumerate(names)))
    split, source = choose(images, compose("data.split_seed=5", f"data.split_file={path}",
                                           "data.val_fraction=0.25").data)
    assert source == f"split file {path}" and split.counts() == {"train": 6, "val": 2, "test": 4}
    assert split.parts.tolist() == with_val(images, file_parts(images, path), 0.25, 5, source).tolist()
    assert split.parts.tolist() != with_val(images, file_parts(images, path), 0.25, 6, source).tolist()
    path.write_text("image,part\n" + "".join(f"{n},{'test' if i < 11 else 'train'}\n" for i, n in enumerate(names)))
    with pytest.raises(DataError) as e:
        choose(images, compose(f"data.split_file={path}").data)
    assert str(e.value) == (f"koniq: the train part of split file {path} has 1 content groups, too few to split off "
                            f"a validation part (set data.val_fraction=0 to select on test)")
