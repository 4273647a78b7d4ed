"""Adaptive seeds (`hydra.sweeper.adaptive_seeds=true`) on a plain Hydra app whose value is `x`
plus a known offset per seed: trials are queued with chosen `x`, so which one is the incumbent,
which is hopeless and which is close is known. Real multiruns in subprocesses, real SQLite (and
PostgreSQL) studies."""
import json
import statistics
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers import run_sweep

APP = Path(__file__).resolve().parent / "sweeper_app" / "race_app.py"
sys.path.insert(0, str(APP.parent))
from race_app import OFFSETS  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
SEEDS = [1, 2, 3, 4, 5]
RACE = ["hydra.sweeper.adaptive_seeds=true", f"hydra.sweeper.seeds=[{','.join(map(str, SEEDS))}]",
        "hydra.sweeper.n_jobs=1"]


def sweep(tmp_path, *overrides, name="s", check=True):
    return run_sweep(APP, tmp_path, *overrides, name=name, check=check)


def db(url):
    return [f"hydra.sweeper.storage={url}", "hydra.sweeper.study_name=s"]


def queue(url, xs):
    """A study whose first trials have these x, in this order (the sweep asks them first)."""
    study = optuna.create_study(study_name="s", storage=url, direction="minimize")
    for x in xs:
        study.enqueue_trial({"x": x})


def seeds_run(trial):
    return trial.user_attrs["seeds_run"]


def expected(x, seeds, noise=0.01):
    return statistics.fmean(x + noise * OFFSETS[s] for s in seeds)


@pytest.mark.parametrize("min_seeds", [1, 2])
def test_a_bad_trial_stops_after_min_seeds_a_close_one_runs_more_and_the_incumbent_all(tmp_path, min_seeds):
    url = f"sqlite:///{tmp_path}/o.db"
    queue(url, [0.0, 10.0, 0.004])
    sweep(tmp_path, *RACE, f"hydra.sweeper.min_seeds={min_seeds}", "hydra.sweeper.n_trials=3", *db(url))
    incumbent, bad, close = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state for t in (incumbent, bad, close)] == [TrialState.COMPLETE] * 3
    # The first trial has no incumbent to lose to: it runs every seed and becomes the incumbent.
    assert seeds_run(incumbent) == SEEDS and incumbent.user_attrs["race"] == "ran all 5 seeds"
    assert seeds_run(bad) == SEEDS[:min_seeds]
    assert bad.user_attrs["race"].startswith(f"cannot beat the incumbent: after {min_seeds} of 5 seeds")
    assert len(seeds_run(close)) > min_seeds
    for t in (incumbent, bad, close):  # Optuna is told the mean over the seeds the trial ran
        assert t.value == pytest.approx(expected(t.params["x"], seeds_run(t)))
        assert sorted(t.user_attrs["seed_values"]) == sorted(map(str, seeds_run(t)))
        assert sorted(t.user_attrs["run_dirs"]) == sorted(map(str, seeds_run(t)))
    assert (tmp_path / "s" / "trial_1" / f"seed_{min_seeds}").is_dir()
    assert not (tmp_path / "s" / "trial_1" / f"seed_{min_seeds + 1}").exists()
    best = OmegaConf.load(tmp_path / "s" / "optimization_results.yaml")
    assert best.best_params == {"x": 0.0} and best.best_value == pytest.approx(expected(0.0, SEEDS))
    shown = subprocess.run([sys.executable, "-m", "hydra_plugins.iqa_optuna_sweeper", "--storage", url, "--no-plots"],
                           capture_output=True, text=True, timeout=120).stdout
    assert f"| 1 | COMPLETE | x=10.0 | {bad.user_attrs['mean']:.4f} ± {bad.user_attrs['std']:.4f} ({min_seeds} seed" in shown
    assert "(5 seeds, raced)" in shown


def test_a_pruned_seed_ends_its_trial(tmp_path):
    """Seed k reports at step k x steps + s: a trial pruned on its third seed is PRUNED with two seeds run."""
    url = f"sqlite:///{tmp_path}/o.db"
    queue(url, [0.0, 1.0])
    sweep(tmp_path, *RACE, "hydra.sweeper.n_trials=2", "noise=1", "steps=1", "hydra/sweeper/pruner=threshold",
          "hydra.sweeper.pruner.upper=2.5", "hydra.sweeper.pruner.n_warmup_steps=1", *db(url))
    incumbent, pruned = optuna.load_study(study_name="s", storage=url).trials
    assert incumbent.state == TrialState.COMPLETE and seeds_run(incumbent) == SEEDS
    assert pruned.state == TrialState.PRUNED and seeds_run(pruned) == [1, 2]
    assert pruned.user_attrs["pruned_by"] == "seed 3 step 0: value 2.8000"


@pytest.mark.slow
def test_a_rerun_continues_a_half_raced_trial_without_rerunning_its_seeds(tmp_path):
    url, calls = f"sqlite:///{tmp_path}/o.db", tmp_path / "calls.jsonl"
    queue(url, [0.0, 0.004])
    command = [*RACE, "hydra.sweeper.n_trials=2", "hydra.sweeper.total_trials=2", f"calls={calls}",
               "interrupt_seed=3", "interrupt_x=0.004", f"interrupt_marker={tmp_path / 'interrupted'}", *db(url)]
    first = sweep(tmp_path, *command, check=False)
    assert first.returncode != 0 and "KeyboardInterrupt" in first.stderr
    study = optuna.load_study(study_name="s", storage=url)
    half = study.trials[1]
    assert half.state == TrialState.FAIL and half.user_attrs["fail_reason"].endswith("stopped: KeyboardInterrupt")
    assert seeds_run(half) == [1, 2]
    sweep(tmp_path, *command, name="again")
    study = optuna.load_study(study_name="s", storage=url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    retry = study.trials[2]
    assert retry.params == {"x": 0.004} and seeds_run(retry) == SEEDS
    assert retry.value == pytest.approx(expected(0.004, SEEDS))
    assert retry.user_attrs["run_dirs"]["1"].endswith("s/trial_1/seed_1")
    assert retry.user_attrs["run_dirs"]["4"].endswith("again/trial_2/seed_4")
    runs = [json.loads(line) for line in calls.read_text().splitlines()]
    # Seeds 1 and 2 of the half-raced trial ran once; seed 3 ran again (it was interrupted), then 4 and 5.
    assert [r["seed"] for r in runs if r["x"] == 0.004] == [1, 2, 3, 3, 4, 5]


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["random", "cmaes"])
def test_samplers_see_raced_trials_as_complete_ones(tmp_path, sampler):
    url = f"sqlite:///{tmp_path}/o.db"
    sweep(tmp_path, *RACE, f"hydra/sweeper/sampler={sampler}", "hydra.sweeper.sampler.seed=0", "+y=interval(0, 1)",
          "hydra.sweeper.n_trials=6", "noise=1", *db(url))
    study = optuna.load_study(study_name="s", storage=url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert seeds_run(study.best_trial) == SEEDS
    assert all(t.value == pytest.approx(expected(t.params["x"], seeds_run(t), noise=1)) for t in study.trials)


@pytest.mark.slow
def test_asynchronous_slots_race_each_trial_in_its_own_slot(tmp_path):
    url = f"sqlite:///{tmp_path}/o.db"
    queue(url, [0.0, 0.0, 10.0, 10.0])
    sweep(tmp_path, *RACE, "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2", "hydra/launcher=joblib",
          "hydra.launcher.n_jobs=2", *db(url))
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert [len(seeds_run(t)) for t in trials] == [5, 5, 1, 1]


@pytest.mark.slow
def test_two_workers_race_on_one_postgresql_study(postgres_url, tmp_path):
    command = [*RACE, "hydra.sweeper.n_trials=6", "hydra.sweeper.total_trials=6", "hydra/sweeper/sampler=random",
               "hydra.sweeper.sampler.seed=0", "noise=1", f"hydra.sweeper.storage='{postgres_url}'",
               "hydra.sweeper.study_name=shared"]
    workers = [subprocess.Popen([sys.executable, str(APP), "-m", f"hydra.sweep.dir={tmp_path / name}", *command],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in ("a", "b")]
    for w in workers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, out + err
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    assert len(study.trials) == 6 and {t.state for t in study.trials} == {TrialState.COMPLETE}
    assert seeds_run(study.best_trial) == SEEDS
    for t in study.trials:
        n = len(seeds_run(t))
        assert seeds_run(t) == SEEDS[:n] and t.value == pytest.approx(expected(t.params["x"], SEEDS[:n], noise=1))
        assert n == 5 or t.user_attrs["race"].startswith("cannot beat the incumbent")


@pytest.mark.parametrize("overrides, line", [
    (["hydra.sweeper.seeds=null"],
     "hydra.sweeper.adaptive_seeds=true needs hydra.sweeper.seeds with at least 2 seeds to race over, got None"),
    (["hydra.sweeper.seeds=[1]"],
     "hydra.sweeper.adaptive_seeds=true needs hydra.sweeper.seeds with at least 2 seeds to race over, got [1]"),
    (["hydra.sweeper.direction=[minimize,minimize]"],
     "hydra.sweeper.adaptive_seeds=true needs a single direction: racing compares each trial with one incumbent, "
     "several objectives have a Pareto front instead"),
    (["hydra.sweeper.min_seeds=6"],
     "hydra.sweeper.min_seeds=6 is out of range: must be in [1, 5] (the number of seeds)"),
    (["hydra.sweeper.race_alpha=0"], "hydra.sweeper.race_alpha=0.0 is out of range: must be in (0, 1)"),
])
def test_settings_racing_cannot_serve_are_refused_in_one_line(tmp_path, overrides, line):
    proc = sweep(tmp_path, *RACE, *overrides, check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == f"error: {line}"
    assert not (tmp_path / "s" / "trial_0").exists()
