"""Real `run.py` and `iqa.predict` processes on tiny datasets in the real layouts."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from helpers import ROOT, TINY, run_py
from fake_datasets import corrupt, make_csv, make_koniq, make_livec, make_spaq, write_csv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """The four layouts, written once for the module."""
    root = tmp_path_factory.mktemp("datasets")
    truth = {"koniq": make_koniq(root / "koniq"), "spaq": make_spaq(root / "spaq"),
             "livec": make_livec(root / "livec"), "csv": make_csv(root / "csv")}
    return root, truth


def overrides(root, cache, *extra, csv_root=None):
    """TINY for one epoch with every dataset's root set (SPAQ resized to a 36 px shorter side)."""
    return [*TINY, "trainer.epochs=1", f"data.cache_dir={cache}", f"data.sets.koniq.root={root / 'koniq'}",
            "data.sets.koniq.short_side=0", f"data.sets.spaq.root={root / 'spaq'}", "data.sets.spaq.short_side=36",
            f"data.sets.livec.root={root / 'livec'}", f"data.sets.csv.root={csv_root or root / 'csv'}", *extra]


@pytest.fixture(scope="module")
def koniq_run(sets, tmp_path_factory, cache_dir):
    """One epoch on KonIQ's official split with SPAQ and LIVE-C as cross sets."""
    root, _ = sets
    work = tmp_path_factory.mktemp("koniq-run")
    out = work / "train"
    run_py(overrides(root, work / "cache", "data=koniq", "data.split=official", "data.cross=[spaq,livec]",
                     f"hydra.run.dir={out}"), work, cache_dir)
    return work, out, json.loads((out / "metrics.json").read_text())


def test_official_split_monitors_validation_and_reports_cross_sets(koniq_run):
    _, out, metrics = koniq_run
    assert metrics["monitor"] == "val_srcc"
    for key in ("val_srcc", "val_plcc", "test_srcc", "test_plcc"):
        assert np.isfinite(metrics[key]), key
    assert set(metrics["cross"]) == {"spaq", "livec"} and np.isfinite(metrics["cross"]["livec"]["srcc"])
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert {"val_srcc", "test_srcc", "cross_spaq_srcc", "cross_livec_plcc"} <= set(rows[0])
    log = (out / "run.log").read_text()
    assert "10 train / 3 val / 3 test images of koniq" in log
    assert "koniq: decoding 16 images" in log and "livec: decoding 12 images" in log


def test_eval_mode_reuses_the_cache_and_matches_training(koniq_run, sets, cache_dir):
    work, out, metrics = koniq_run
    ev = work / "eval"
    run_py(overrides(sets[0], work / "cache", "data=koniq", "data.split=official", "data.cross=[spaq]", "mode=eval",
                     f"checkpoint={out}/checkpoints/best.pt", f"hydra.run.dir={ev}"), work, cache_dir)
    scored = json.loads((ev / "metrics.json").read_text())
    assert scored["test_srcc"] == pytest.approx(metrics["test_srcc"], abs=1e-6)
    assert scored["cross"]["spaq"]["srcc"] == pytest.approx(metrics["cross"]["spaq"]["srcc"], abs=1e-6)
    log = (ev / "run.log").read_text()
    assert "decoding" not in log and "koniq: 16 images from cache" in log
    assert "may contain training images" not in log  # same split as training: no warning


def test_predict_scores_a_folder_like_evaluation(koniq_run, sets):
    work, out, metrics = koniq_run
    root, truth = sets
    proc = subprocess.run([sys.executable, "-m", "iqa.predict", f"checkpoint={out}/checkpoints/best.pt",
                           f"inputs={root / 'spaq' / 'TestImage'}", "short_side=36", f"output={work / 'scores.csv'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((work / "scores.csv").open()))
    assert [r["path"].rsplit("/", 1)[1] for r in rows] == sorted(truth["spaq"])
    srcc = stats.spearmanr([float(r["score"]) for r in rows], [truth["spaq"][n]["MOS"] for n in sorted(truth["spaq"])])
    assert srcc.statistic == pytest.approx(metrics["cross"]["spaq"]["srcc"], abs=1e-6)


def test_every_layout_trains_one_epoch(sets, tmp_path, cache_dir):
    root, truth = sets
    csv_root = tmp_path / "csv"
    shutil.copytree(root / "csv", csv_root)
    (csv_root / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    rows = [[p, t["mos"], t["split"], t["group"]] for p, t in truth["csv"].items()]
    rows.append(["a/broken.jpg", 2.5, "train", "x"])
    write_csv(csv_root / "labels.csv", ["path", "mos", "split", "group"], rows)
    sweep = tmp_path / "multi"
    run_py(["-m", *overrides(root, tmp_path / "cache", "data=spaq,livec,csv", "data.cross=[]",
                             "data.on_bad_image=skip", f"hydra.sweep.dir={sweep}", csv_root=csv_root)],
           tmp_path, cache_dir)
    for job, name in enumerate(["spaq", "livec", "csv"]):
        metrics = json.loads((sweep / str(job) / "metrics.json").read_text())
        assert np.isfinite(metrics["test_srcc"]), name
        assert metrics["skipped_images"] == ({"csv": {"count": 1, "names": ["a/broken.jpg"]}} if name == "csv" else {})


def test_corrupt_image_ends_the_run_with_one_line(sets, tmp_path, cache_dir):
    # The wrong-column and other metadata messages are checked in test_datasets.py; here, the
    # path from a bad file to the command line's one line and exit status.
    _, truth = sets
    bad = tmp_path / "koniq"
    make_koniq(bad)
    broken = bad / "1024x768" / sorted(truth["koniq"])[5]
    corrupt(broken)
    proc = run_py([*TINY, f"data.cache_dir={tmp_path}", "data=koniq", f"data.root={bad}", "data.short_side=0",
                   f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, cache_dir, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: koniq image {broken} cannot be decoded (")
    assert not (tmp_path / "run" / "metrics.json").exists()
