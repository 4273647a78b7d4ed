"""What Optuna is told for a trial run over several seeds: the mean (not the median) over seeds,
the sample std (ddof 1), `std_penalty` against the direction, several objectives each on its own,
and a job that raises optuna.TrialPruned. Real multiruns of tests/sweeper_app/noise_app.py, whose
value on each seed is set by `by_seed` (plus x with slope=1)."""
import math
import statistics
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers import run_sweep

APP = Path(__file__).resolve().parent / "sweeper_app" / "noise_app.py"
BY_SEED = [0.0, 0.0, 3.0]  # mean 1, median 0, sample std sqrt(3), population std sqrt(2)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def sweep(tmp_path, *overrides, check=True):
    return run_sweep(APP, tmp_path, f"hydra.sweeper.storage=sqlite:///{tmp_path}/o.db", "hydra.sweeper.study_name=s",
                     "hydra.sweeper.seeds=[0,1,2]", f"by_seed={BY_SEED}", "hydra/sweeper/sampler=random",
                     "hydra.sweeper.sampler.seed=1", "hydra.sweeper.n_jobs=1", *overrides, check=check)


def trials(tmp_path):
    return optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/o.db").trials


def test_the_mean_over_three_seeds_is_told_with_the_sample_std(tmp_path):
    sweep(tmp_path, "slope=1", "hydra.sweeper.direction=maximize", "hydra.sweeper.n_trials=3")
    done = trials(tmp_path)
    assert [t.state for t in done] == [TrialState.COMPLETE] * 3
    for t in done:
        per_seed = [b + t.params["x"] for b in BY_SEED]
        assert t.value == pytest.approx(statistics.fmean(per_seed))  # 1 + x: the median would be x
        assert t.value != pytest.approx(statistics.median(per_seed))
        assert t.user_attrs["std"] == pytest.approx(math.sqrt(3))  # ddof 1; ddof 0 would give sqrt(2)
        assert t.user_attrs["seed_values"] == pytest.approx({str(s): v for s, v in enumerate(per_seed)})


@pytest.mark.parametrize("direction, sign", [("maximize", -1.0), ("minimize", 1.0)])
def test_std_penalty_counts_against_the_direction(tmp_path, direction, sign):
    """maximize: mean - k std, minimize: mean + k std, so a spread over seeds always looks worse."""
    sweep(tmp_path, "slope=1", f"hydra.sweeper.direction={direction}", "hydra.sweeper.std_penalty=0.5",
          "hydra.sweeper.n_trials=3")
    done = trials(tmp_path)
    for t in done:
        assert t.user_attrs["mean"] == pytest.approx(1.0 + t.params["x"])
        assert t.value == pytest.approx(1.0 + t.params["x"] + sign * 0.5 * math.sqrt(3))
    best = OmegaConf.load(tmp_path / "s" / "optimization_results.yaml").best_value
    assert best == pytest.approx((max if direction == "maximize" else min)(t.value for t in done))


def test_std_penalty_decides_between_a_steady_and_a_spread_configuration(tmp_path):
    """x=1 is better on average by 0.2 but has std 0.5 over the seeds, x=0 is steady: without a
    penalty x=1 wins, with std_penalty=1 x=0 does."""
    winners = {}
    for k in (0.0, 1.0):
        folder = tmp_path / f"k{k}"
        folder.mkdir()
        sweep(folder, "by_seed=[0,0,0]", "slope=0.2", "spread=0.5", "hydra.sweeper.direction=maximize",
              "hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=2", f"hydra.sweeper.std_penalty={k}")
        winners[k] = OmegaConf.load(folder / "s" / "optimization_results.yaml").best_params["x"]
    assert winners == {0.0: 1, 1.0: 0}


def test_a_negative_std_penalty_is_refused_before_any_trial(tmp_path):
    proc = sweep(tmp_path, "hydra.sweeper.std_penalty=-0.5", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "error: hydra.sweeper.std_penalty=-0.5 is out of range: must be >= 0"
    assert not (tmp_path / "o.db").exists() or not optuna.get_all_study_summaries(f"sqlite:///{tmp_path}/o.db")


def test_two_objectives_each_take_their_mean_over_seeds_and_their_penalty(tmp_path):
    sweep(tmp_path, "slope=1", "two_objectives=true", "hydra.sweeper.direction=[maximize,minimize]",
          "hydra.sweeper.std_penalty=0.5", "hydra.sweeper.n_trials=2")
    for t in trials(tmp_path):
        x = t.params["x"]
        first, second = [b + x for b in BY_SEED], [2 * b - x for b in BY_SEED]
        assert t.user_attrs["mean"] == pytest.approx(statistics.fmean(first))
        assert t.user_attrs["mean_1"] == pytest.approx(statistics.fmean(second))
        assert t.user_attrs["std_1"] == pytest.approx(statistics.stdev(second))
        assert t.values == pytest.approx([statistics.fmean(first) - 0.5 * statistics.stdev(first),
                                          statistics.fmean(second) + 0.5 * statistics.stdev(second)])


@pytest.mark.parametrize("seeds", ["hydra.sweeper.seeds=[0,1,2]", "hydra.sweeper.seeds=null"])
def test_a_job_raising_trial_pruned_prunes_its_trial_and_is_no_failure(tmp_path, seeds):
    proc = sweep(tmp_path, "prune=true", "hydra.sweeper.n_trials=2", "hydra.sweeper.max_failure_rate=0", seeds)
    assert proc.returncode == 0
    done = trials(tmp_path)
    assert [t.state for t in done] == [TrialState.PRUNED] * 2
    assert all("fail_reason" not in t.user_attrs for t in done)
    assert "trial 0 PRUNED: the app was asked to prune" in proc.stdout + proc.stderr


def test_confirm_runs_record_the_sample_std_over_their_seeds(tmp_path):
    """Confirm seeds 3, 4, 5 give the winner 0, 0 and 3 (plus x): mean 1 + x, std sqrt(3)."""
    sweep(tmp_path, "slope=1", "hydra.sweeper.direction=maximize", "hydra.sweeper.n_trials=2", "by_seed=[9,9,9,0,0,3]",
          "hydra.sweeper.confirm_seeds=[3,4,5]", "hydra.sweeper.metrics_file=metrics.json",
          "hydra.sweeper.confirm_metrics=[test]")
    confirm = OmegaConf.to_container(OmegaConf.load(tmp_path / "s" / "optimization_results.yaml"))["confirm"]
    x = trials(tmp_path)[confirm["trial"]].params["x"]
    assert confirm["values"] == pytest.approx({3: x, 4: x, 5: 3.0 + x})
    assert confirm["mean"] == pytest.approx(1.0 + x) and confirm["std"] == pytest.approx(math.sqrt(3))
    assert confirm["metrics"]["test"] == pytest.approx({"mean": 1.0 + x, "std": math.sqrt(3)})
