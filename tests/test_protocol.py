"""Real runs under the protocol: the epoch is chosen on validation, test is reported once, test
selection is flagged everywhere, and every number can be recomputed from predictions.csv."""
import csv
import hashlib
import json
import math

import pytest
from scipy import stats

from helpers import TINY, run_py
from iqa.evaluation.metrics import logistic_scores

pytestmark = pytest.mark.slow
OPTIMISTIC = "selected on test: optimistic"


def read_csv(path):
    return list(csv.DictReader(path.open()))


def same(reported, value, abs_tol=1e-9) -> bool:
    """A metrics.json number (None for NaN) equals a recomputed or history.csv value ("nan" for NaN)."""
    value = float(value)
    if reported is None or math.isnan(reported):
        return math.isnan(value)
    return math.isclose(reported, value, rel_tol=1e-9, abs_tol=abs_tol)


def test_epoch_is_chosen_on_validation_and_every_number_recomputes(run_tiny, tmp_path, cache_dir):
    out, metrics, proc = run_tiny("trainer.epochs=3", "trainer.early_stopping=false")
    assert (metrics["monitor"], metrics["objective"], metrics["selected_on_test"]) == ("val_srcc", "val_srcc", False)
    history = read_csv(out / "history.csv")
    best = max(history, key=lambda r: float(r["val_srcc"]))
    assert metrics["best_epoch"] == int(best["epoch"])
    for key in ("val_srcc", "test_srcc", "test_plcc", "test_plcc_logistic", "test_rmse_logistic"):
        assert same(metrics[key], best[key]), key
    assert set(metrics["cross"]["synthetic_cross"]) >= {"plcc_logistic", "rmse_logistic"}
    assert OPTIMISTIC not in (out / "run.log").read_text() + proc.stdout

    split = read_csv(out / "split.csv")
    lines = sorted(f"{r['image']},{r['part']}" for r in split)
    assert metrics["split_hash"] == hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    assert {r["part"] for r in split} == {"train", "val", "test"} and metrics["split_seed"] == 0

    rows = read_csv(out / "predictions.csv")
    assert list(rows[0]) == ["set", "image", "mos", "pred"]
    by_set = {}
    for r in rows:
        by_set.setdefault(r["set"], []).append(r)
    assert set(by_set) == {"val", "test", "cross_synthetic_cross"}
    assert {r["image"] for r in by_set["test"]} == {r["image"] for r in split if r["part"] == "test"}
    for key, set_rows in by_set.items():
        pred, mos = [float(r["pred"]) for r in set_rows], [float(r["mos"]) for r in set_rows]
        flat = metrics if key != "cross_synthetic_cross" else {f"{key}_{m}": v for m, v in
                                                               metrics["cross"]["synthetic_cross"].items()}
        assert same(flat[f"{key}_srcc"], stats.spearmanr(pred, mos).statistic, 1e-6), key
        assert same(flat[f"{key}_plcc_logistic"], logistic_scores(pred, mos)[0]["plcc_logistic"], 1e-4), key

    ev = tmp_path / "eval"
    run_py([*TINY, f"hydra.run.dir={ev}", "mode=eval", f"checkpoint={out}/checkpoints/best.pt"], tmp_path, cache_dir)
    assert (ev / "scatter.png").is_file()
    again = {(r["set"], r["image"]): float(r["pred"]) for r in read_csv(ev / "predictions.csv")}
    assert again.keys() == {(r["set"], r["image"]) for r in rows}
    assert all(again[(r["set"], r["image"])] == pytest.approx(float(r["pred"]), abs=1e-5) for r in rows)


def test_selecting_on_test_is_said_in_the_log_the_last_line_and_metrics(run_tiny):
    out, metrics, proc = run_tiny("trainer.monitor=test_srcc")
    assert metrics["selected_on_test"] is True and metrics["monitor"] == "test_srcc"
    log = (out / "run.log").read_text()
    assert "WARNING" in next(line for line in log.splitlines() if OPTIMISTIC in line)
    assert OPTIMISTIC in proc.stdout.strip().splitlines()[-1]


def test_split_and_seed_replicates_make_one_row_and_test_selection_is_flagged(tmp_path, cache_dir):
    sweep = tmp_path / "sweep"
    proc = run_py(["-m", *TINY, "trainer.epochs=1", "trainer.monitor=val_srcc,test_srcc", "seed=42,43",
                   "data.split_seed=0,1", 'hydra.callbacks.summary.baseline="trainer.monitor=val_srcc"',
                   f"hydra.sweep.dir={sweep}"], tmp_path, cache_dir)
    rows = {r["trainer.monitor"]: r for r in read_csv(sweep / "summary.csv")}
    assert set(rows) == {"val_srcc", "test_srcc"}
    for monitor, row in rows.items():
        assert (row["n"], row["seeds"], row["split_seeds"]) == ("4", "42 43", "0 1")
        assert row["selected_on_test"] == str(monitor == "test_srcc")
    # two split seeds: the split is the unit of the paired test (seeds averaged within it), docs/protocol.md
    assert rows["val_srcc"]["vs_baseline"] == "baseline" and rows["test_srcc"]["vs_baseline_n_paired"] == "2"
    flagged = [line for line in proc.stdout.splitlines() if line.startswith("| trainer.monitor=")]
    assert [OPTIMISTIC in line for line in flagged] == [line.startswith("| trainer.monitor=test_srcc")
                                                       for line in flagged]
    hashes = {}
    for metrics_file in sweep.glob("*/metrics.json"):
        m = json.loads(metrics_file.read_text())
        hashes.setdefault(m["split_seed"], set()).add(m["split_hash"])
    assert all(len(h) == 1 for h in hashes.values()) and hashes[0] != hashes[1]  # the split follows split_seed only
