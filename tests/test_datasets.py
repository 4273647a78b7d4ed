"""Each real dataset's loader on a tiny copy in its real layout: labels, splits, the cache, bad data."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from helpers import ROOT
from fake_datasets import corrupt, make_csv, make_koniq, make_livec, make_spaq, picture, write_csv
from iqa import data
from iqa.config import register_configs
from iqa.data import cache
from iqa.data import patches
from iqa.errors import ConfigError, DataError

SMALL = ["loader.patch_size=32", "loader.batch_size=8"]


@pytest.fixture
def cfg(tmp_path):
    """compose(*overrides): the run config Hydra builds, with a private image cache."""
    register_configs()

    def go(*overrides):
        with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
            return compose("config", overrides=[*SMALL, f"data.cache_dir={tmp_path / 'cache'}", *overrides])
    return go


@pytest.fixture
def decodes(monkeypatch):
    """Counts the images the cache decodes (a spy around the real decoder)."""
    calls = []

    def counting(path, short_side=None):
        calls.append(path)
        return real(path, short_side)
    real = cache.decode_image
    monkeypatch.setattr(cache, "decode_image", counting)
    return calls


def one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


def test_koniq_labels_and_official_split(tmp_path, cfg):
    truth = make_koniq(tmp_path / "koniq")
    c = cfg("data=koniq", f"data.root={tmp_path / 'koniq'}", "data.split=official", "data.short_side=0")
    bundle = data.build(c.data, c.loader)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (10, 3, 3)
    parts = {"train": bundle.train, "val": bundle.val, "test": bundle.test}
    for part, images in parts.items():
        assert {truth[n]["set"] for n in images.names} == {{"train": "training", "val": "validation"}.get(part, part)}
        assert np.allclose(images.mos, [truth[n]["MOS_zscore"] for n in images.names])
        assert images.images[0].shape == (48, 64, 3)
    assert len({n for s in parts.values() for n in s.names}) == 16
    c = cfg("data=koniq", f"data.root={tmp_path / 'koniq'}", "data.label=MOS", "data.short_side=24")
    full = data.load_dataset("koniq", c.data)
    assert np.allclose(full.mos, [truth[n]["MOS"] for n in full.names])
    assert {img.shape for img in full.images} == {(24, 32, 3)}


def test_random_split_is_disjoint_and_follows_split_seed(tmp_path, cfg):
    make_koniq(tmp_path / "koniq", sets=(16, 2, 2))
    names = {}
    for seed in (0, 1):
        c = cfg("data=koniq", f"data.root={tmp_path / 'koniq'}", "data.short_side=0", f"data.split_seed={seed}",
                "seed=7")
        b = data.build(c.data, c.loader)
        assert (len(b.train), len(b.val), len(b.test)) == (14, 2, 4)  # 20% test, then 10% of the rest validate
        parts = [set(b.train.names), set(b.val.names), set(b.test.names)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        names[seed] = sorted(b.test.names)
    assert names[0] != names[1]


def test_spaq_resized_and_attribute_labels(tmp_path, cfg):
    truth = make_spaq(tmp_path / "spaq")
    c = cfg("data=spaq", f"data.root={tmp_path / 'spaq'}", "data.short_side=36", "data.label=Sharpness")
    s = data.load_dataset("spaq", c.data)
    assert len(s) == 12 and {img.shape for img in s.images} == {(36, 48, 3)}
    assert np.allclose(s.mos, [truth[n]["Sharpness"] for n in s.names])


def test_livec_skips_the_rater_training_images(tmp_path, cfg):
    truth = make_livec(tmp_path / "livec")
    c = cfg("data=koniq", "data.root=/unused", "data.cross=[livec]", f"data.sets.livec.root={tmp_path / 'livec'}")
    s = data.load_dataset("livec", c.data)
    assert s.names == list(truth) and len(s) == 12
    assert not any(n.startswith("trainingImages/") for n in s.names)
    assert np.allclose(s.mos, list(truth.values()))


def test_csv_split_column_and_groups(tmp_path, cfg):
    truth = make_csv(tmp_path / "csv")
    c = cfg("data=csv", f"data.root={tmp_path / 'csv'}", "data.split=official")
    b = data.build(c.data, c.loader)
    assert sorted(b.test.names) == sorted(p for p, t in truth.items() if t["split"] == "test")
    # The column has no val part: one is drawn from its train part, content-disjoint.
    assert sorted(b.train.names + b.val.names) == sorted(p for p, t in truth.items() if t["split"] == "train")
    assert not {truth[n]["group"] for n in b.val.names} & {truth[n]["group"] for n in b.train.names}
    c = cfg("data=csv", f"data.root={tmp_path / 'csv'}", "data.test_fraction=0.5")
    b = data.build(c.data, c.loader)
    train_groups = {truth[n]["group"] for n in b.train.names}
    assert not train_groups & {truth[n]["group"] for n in b.test.names}


def test_second_load_decodes_nothing_and_crops_slice_the_map(tmp_path, cfg, decodes):
    make_csv(tmp_path / "csv")
    c = cfg("data=csv", f"data.root={tmp_path / 'csv'}")
    first = data.load_dataset("csv", c.data)
    assert len(decodes) == 12
    second = data.load_dataset("csv", c.data)
    assert len(decodes) == 12
    assert all(np.array_equal(a, b) for a, b in zip(first.images, second.images))
    assert isinstance(second.images[0], np.memmap)
    for ds in (patches.TrainPatches(second, 32, 1, 0), patches.TestCrops(second, 32, 2, "grid")):
        assert ds.tensors[0].data_ptr() == second.images[0].ctypes.data  # no copy of the cached pixels
    changed = tmp_path / "csv" / second.names[3]
    picture(changed, 60, 40, seed=999)
    os.utime(changed, ns=(1, 1))
    third = data.load_dataset("csv", c.data)
    assert len(decodes) == 24 and not np.array_equal(third.images[3], second.images[3])


def test_added_file_invalidates_the_cache(tmp_path, cfg, decodes):
    make_spaq(tmp_path / "spaq", n=4)
    c = cfg("data=spaq", f"data.root={tmp_path / 'spaq'}", "data.short_side=0")
    data.load_dataset("spaq", c.data)
    assert len(decodes) == 4
    make_spaq(tmp_path / "spaq", n=5)
    assert len(data.load_dataset("spaq", c.data)) == 5 and len(decodes) == 9


def test_bad_image_is_named_or_skipped(tmp_path, cfg):
    make_koniq(tmp_path / "koniq")
    bad = sorted((tmp_path / "koniq" / "1024x768").iterdir())[2]
    corrupt(bad)
    c = cfg("data=koniq", f"data.root={tmp_path / 'koniq'}", "data.short_side=0")
    with pytest.raises(DataError) as e:
        data.load_dataset("koniq", c.data)
    assert f"image {bad} cannot be decoded" in one_line(e) and "data.on_bad_image=skip" in str(e.value)
    c = cfg("data=koniq", f"data.root={tmp_path / 'koniq'}", "data.short_side=0", "data.on_bad_image=skip")
    b = data.build(c.data, c.loader)
    assert b.skipped_images() == {"koniq": {"count": 1, "names": [bad.name]}}
    assert len(b.train) + len(b.val) + len(b.test) == 15


@pytest.mark.parametrize("damage, expected", [
    (lambda r: os.remove(r / "koniq10k_scores_and_distributions.csv"),
     "koniq metadata file {root}/koniq10k_scores_and_distributions.csv does not exist"),
    (lambda r: write_csv(r / "koniq10k_scores_and_distributions.csv", ["image_name", "MOS"], [["a.jpg", 3.0]]),
     "{root}/koniq10k_scores_and_distributions.csv has no column 'MOS_zscore' (columns: image_name, MOS)"),
    (lambda r: write_csv(r / "koniq10k_scores_and_distributions.csv", ["image_name", "MOS_zscore"], [["a.jpg", "n/a"]]),
     "row 2 column 'MOS_zscore': 'n/a' is not a number"),
    (lambda r: os.remove(sorted((r / "1024x768").iterdir())[0]), "does not exist: pass data.on_bad_image=skip"),
    (lambda r: os.remove(r / "koniq10k_distributions_sets.csv"), "koniq split file"),
    (lambda r: write_csv(r / "koniq10k_distributions_sets.csv", ["image_name", "set"], [["x.jpg", "training"]]),
     "koniq10k_distributions_sets.csv has no row for"),
])
def test_bad_koniq_metadata_gives_one_line(tmp_path, cfg, damage, expected):
    root = tmp_path / "koniq"
    make_koniq(root)
    damage(root)
    c = cfg("data=koniq", f"data.root={root}", "data.short_side=0", "data.split=official")
    with pytest.raises(DataError) as e:
        data.build(c.data, c.loader)
    assert expected.format(root=root) in one_line(e)


def test_config_and_split_errors(tmp_path, cfg):
    truth = make_csv(tmp_path / "csv")
    with pytest.raises(ConfigError, match="data.root is not set: pass data.root=PATH to the csv folder"):
        data.build(cfg("data=csv").data, cfg().loader)
    with pytest.raises(DataError, match=r"data.sets.spaq.root=/no/such does not exist"):
        data.build(cfg("data=csv", f"data.root={tmp_path / 'csv'}", "data.cross=[spaq]",
                       "data.sets.spaq.root=/no/such").data, cfg().loader)
    with pytest.raises(ConfigError, match="data.split=official is out of range for spaq"):
        make_spaq(tmp_path / "spaq")
        c = cfg("data=spaq", f"data.root={tmp_path / 'spaq'}", "data.split=official", "data.short_side=0")
        data.build(c.data, c.loader)
    rows = [[path, t["mos"], "train"] for path, t in truth.items()]
    write_csv(tmp_path / "csv" / "labels.csv", ["path", "mos", "split"], rows)
    with pytest.raises(DataError, match="csv: the test part of the official split is empty"):
        c = cfg("data=csv", f"data.root={tmp_path / 'csv'}", "data.split=official")
        data.build(c.data, c.loader)


def test_livec_wrong_variable_is_named(tmp_path, cfg):
    import scipy.io
    make_livec(tmp_path / "livec")
    scipy.io.savemat(tmp_path / "livec" / "Data" / "AllMOS_release.mat", {"MOS": np.ones((1, 19))})
    c = cfg("data=livec", f"data.root={tmp_path / 'livec'}")
    with pytest.raises(DataError) as e:
        data.load_dataset("livec", c.data)
    assert "AllMOS_release.mat has no variable 'AllMOS_release' (variables: MOS)" in one_line(e)
