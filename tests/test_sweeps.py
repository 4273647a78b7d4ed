"""Real multiruns in subprocesses: the grid's mean ± std tables, and the iqa_optuna sweeper on SQLite."""
import csv
import json
import shutil
import statistics
import subprocess
import sys

import optuna
import pytest
from omegaconf import OmegaConf

from helpers import ROOT, TINY, run_py

pytestmark = pytest.mark.slow
# TINY with fewer images and one epoch: these are the suite's longest tests (14 training jobs).
ONE_EPOCH = [o for o in TINY if not o.startswith("data.n_refs=")] + [
    "data.n_refs=3", "trainer.epochs=1", "loader.test_patch_num=1"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory, cache_dir):
    """The card's command with tiny settings: 2 alphas x 3 seeds."""
    root = tmp_path_factory.mktemp("grid")
    sweep = root / "sweep"
    proc = run_py(["-m", *ONE_EPOCH, "loss.alpha=0.1,0.3", "seed=42,43,44", f"hydra.sweep.dir={sweep}"], root, cache_dir)
    return sweep, proc


def _recomputed(sweep):
    """{alpha: {column: value}} straight from the run folders' metrics.json."""
    by_alpha = {}
    for metrics_file in sweep.glob("*/metrics.json"):
        overrides = OmegaConf.load(metrics_file.parent / ".hydra/overrides.yaml")
        alpha = next(o.split("=")[1] for o in overrides if o.startswith("loss.alpha="))
        by_alpha.setdefault(alpha, []).append(json.loads(metrics_file.read_text()))
    out = {}
    for alpha, runs in by_alpha.items():
        cols = {"n": len(runs), "best_epoch_mean": statistics.mean(r["best_epoch"] for r in runs)}
        series = {f"test_{m}": [r[f"test_{m}"] for r in runs] for m in ("srcc", "plcc", "krcc")}
        series.update({f"cross_synthetic_cross_{m}": [r["cross"]["synthetic_cross"][m] for r in runs]
                       for m in ("srcc", "plcc")})
        for stem, values in series.items():
            cols[f"{stem}_mean"], cols[f"{stem}_std"] = statistics.mean(values), statistics.stdev(values)
        out[alpha] = cols
    return out


def test_card_command_writes_and_prints_mean_std_per_configuration(grid):
    sweep, proc = grid
    assert len([p for p in sweep.iterdir() if (p / "metrics.json").is_file()]) == 6
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert sorted(r["loss.alpha"] for r in rows) == ["0.1", "0.3"]
    expected = _recomputed(sweep)
    for row in rows:
        want = expected[row["loss.alpha"]]
        assert row["seeds"] == "42 43 44"
        for col, value in want.items():
            assert float(row[col]) == pytest.approx(value, rel=1e-9, abs=1e-12), col
    table = (sweep / "summary.md").read_text()
    assert "| loss.alpha=0.1 | 3 |" in table and "| loss.alpha=0.3 | 3 |" in table
    assert table.strip().splitlines()[-1] in proc.stdout


def test_aggregate_rebuilds_an_interrupted_sweep(grid, tmp_path):
    src, _ = grid
    sweep = tmp_path / "copy"
    shutil.copytree(src, sweep)
    for name in ("summary.csv", "summary.md"):
        (sweep / name).unlink()
    (sweep / "4" / "metrics.json").unlink()  # job 4 "still running"
    proc = subprocess.run([sys.executable, "-m", "iqa.aggregate", str(sweep), "--compare", "loss.alpha=0.1",
                           "loss.alpha=0.3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {r["loss.alpha"]: r for r in csv.DictReader((sweep / "summary.csv").open())}
    assert {k: int(r["n"]) for k, r in rows.items()} == {"0.1": 3, "0.3": 2}
    assert "| 4 | incomplete |" in (sweep / "summary.md").read_text()
    assert "over 2 shared replicates" in proc.stdout and "paired t p=" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "iqa.aggregate", str(tmp_path / "nope")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.strip().startswith("error: sweep folder")


def _optuna(root, cache, *extra, study="s", check=True):
    return run_py(["-m", *ONE_EPOCH, "data.cross=[]", "hydra/sweeper=iqa_study", f"hydra.sweeper.study_name={study}",
                   f"hydra.sweeper.storage=sqlite:///{root}/optuna.db", "hydra.sweeper.seeds=[42,43]",
                   "hydra.sweeper.sampler.seed=0", "hydra.sweeper.confirm_seeds=[]", *extra], root, cache, check=check)


def _study(root):
    return optuna.load_study(study_name="s", storage=f"sqlite:///{root}/optuna.db")


def test_optuna_sweep_three_trials_two_seeds_then_resumes(tmp_path, cache_dir):
    search = ["loss=ranking", "loss.alpha=interval(0, 1)"]
    proc = _optuna(tmp_path, cache_dir, *search, "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={tmp_path}/a")
    trials = _study(tmp_path).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    for t in trials:
        values = t.user_attrs["seed_values"]
        assert set(values) == {"42", "43"} == set(t.user_attrs["run_dirs"])
        assert t.value == pytest.approx(statistics.mean(values.values()))
        assert t.user_attrs["std"] == pytest.approx(statistics.stdev(values.values()))
        for seed, folder in t.user_attrs["run_dirs"].items():
            metrics = json.loads((tmp_path / folder / "metrics.json").read_text())
            assert metrics["seed"] == int(seed) and metrics["objective_value"] == pytest.approx(values[seed])
        assert sorted(t.intermediate_values) == [1, 2]  # seed index * epochs + epoch
    first = {t.number: (t.params, t.value) for t in trials}
    assert "study s: 0 trials finished; n_trials=3, total_trials=3" in proc.stdout + proc.stderr

    _optuna(tmp_path, cache_dir, *search, "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={tmp_path}/b")
    trials = _study(tmp_path).get_trials()
    assert len(trials) == 4 and {t.number: (t.params, t.value) for t in trials[:3]} == first
    assert trials[3].state == optuna.trial.TrialState.COMPLETE
    assert sorted(p.name for p in (tmp_path / "b").glob("trial_*")) == ["trial_3"]

    proc = _optuna(tmp_path, cache_dir, *search, "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={tmp_path}/c")
    assert len(_study(tmp_path).get_trials()) == 4 and not list((tmp_path / "c").glob("trial_*"))
    assert "study s: 4 trials finished; n_trials=4, total_trials=4" in proc.stdout + proc.stderr

    # The best configuration re-run on a seed the search never used: its test metrics from metrics.json.
    proc = _optuna(tmp_path, cache_dir, *search, "hydra.sweeper.n_trials=4", "hydra.sweeper.confirm_seeds=[44]",
                   f"hydra.sweep.dir={tmp_path}/d")
    confirm = _study(tmp_path).user_attrs["confirm"]
    metrics = json.loads((tmp_path / "d" / "confirm" / "seed_44" / "metrics.json").read_text())
    assert confirm["trial"] == _study(tmp_path).best_trial.number and confirm["seeds"] == [44]
    assert confirm["values"] == {"44": pytest.approx(metrics["objective_value"])}
    assert {m: s["mean"] for m, s in confirm["metrics"].items()} == pytest.approx(
        {m: metrics[m] for m in ("test_srcc", "test_plcc", "test_krcc")})
    shown = subprocess.run([sys.executable, "-m", "iqa.study", "--storage", f"sqlite:///{tmp_path}/optuna.db",
                            "--study", "s", "--no-plots"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert f"  test_srcc: {metrics['test_srcc']:.4f} ± 0.0000" in shown.stdout


def test_failed_and_pruned_trials_are_recorded_and_the_sweep_completes(tmp_path, cache_dir):
    # Grid over a valid and an out-of-range alpha; a threshold pruner no SRCC can pass prunes the valid one.
    proc = _optuna(tmp_path, cache_dir, "loss=ranking", "loss.alpha=choice(0.5, 1.5)", "trainer.epochs=2",
                   "hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=5",
                   "hydra/sweeper/pruner=threshold", "hydra.sweeper.pruner.lower=2.0",
                   f"hydra.sweep.dir={tmp_path}/s")
    by_alpha = {t.params["loss.alpha"]: t for t in _study(tmp_path).get_trials()}
    assert set(by_alpha) == {0.5, 1.5}
    failed, pruned = by_alpha[1.5], by_alpha[0.5]
    assert failed.state == optuna.trial.TrialState.FAIL and "loss.alpha=1.5" in failed.user_attrs["fail_reason"]
    assert pruned.state == optuna.trial.TrialState.PRUNED and pruned.user_attrs["pruned_by"].startswith("seed 42 step 1: value ")
    runs = {seed: tmp_path / folder for seed, folder in pruned.user_attrs["run_dirs"].items()}
    assert len((runs["42"] / "history.csv").read_text().splitlines()) == 2  # header + epoch 1 of 2
    assert not (runs["43"] / "history.csv").exists()  # stopped before training: its trial was pruned
    assert (runs["42"] / "checkpoints/best.pt").is_file() and not (runs["42"] / "checkpoints/last.pt").exists()
    assert all(json.loads((r / "error.json").read_text())["error"] == "TrialPruned" for r in runs.values())
    table = (tmp_path / "s" / "summary.md").read_text()
    assert table.count("| failed |") == 2 and table.count("| pruned |") == 2

    proc = _optuna(tmp_path, cache_dir, "loss.alpha=choice(1.2, 1.5)", "hydra.sweeper.max_failure_rate=0",
                   f"hydra.sweep.dir={tmp_path}/t", study="t", check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 trials failed, more than max_failure_rate=0.0") and "loss.alpha=1." in last
