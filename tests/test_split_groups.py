"""A given split column must keep every content group in one part."""
import pytest

from fake_datasets import make_csv, write_csv
from helpers import compose
from iqa import data
from iqa.errors import DataError


def test_a_split_column_that_tears_a_content_group_is_refused_naming_it(tmp_path):
    truth = make_csv(tmp_path / "csv")
    rows = [[p, t["mos"], t["split"], t["group"]] for p, t in truth.items()]
    torn = next(r for r in rows if r[3] == "scene1")
    torn[2] = "test"  # scene1's other image stays in train
    write_csv(tmp_path / "csv" / "labels.csv", ["path", "mos", "split", "group"], rows)
    cfg = compose("data=csv", f"data.root={tmp_path / 'csv'}", "data.split=official", "loader.patch_size=32", "loader.batch_size=8",
                  f"data.cache_dir={tmp_path / 'cache'}")
    with pytest.raises(DataError) as e:
        data.build(cfg.data, cfg.loader)
    scene1 = " ".join(p for p, t in truth.items() if t["group"] == "scene1")
    assert str(e.value) == (f"csv: the official split puts the images of 1 content group in more than one part: "
                            f"{scene1} (each group's images must share one part)")


def test_a_split_column_that_keeps_groups_whole_is_taken(tmp_path):
    truth = make_csv(tmp_path / "csv")
    cfg = compose("data=csv", f"data.root={tmp_path / 'csv'}", "data.split=official", "loader.patch_size=32", "loader.batch_size=8",
                  f"data.cache_dir={tmp_path / 'cache'}")
    bundle = data.build(cfg.data, cfg.loader)
    assert sorted(bundle.test.names) == sorted(p for p, t in truth.items() if t["split"] == "test")
    assert bundle.split.sizes() == {"n_train": len(bundle.train), "n_val": len(bundle.val), "n_test": len(bundle.test)}
