"""The sweeper on a plain Hydra app (tests/sweeper_app, none of the project's keys): each
behaviour of hydra-optuna-sweeper, and the extras (asynchronous slots, seeds, confirm runs,
pruning from the job, re-runs, study-name clashes). Real multiruns in subprocesses."""
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers import run_sweep

APP = Path(__file__).resolve().parent / "sweeper_app" / "app.py"
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def sweep(tmp_path, *overrides, name="s", check=True):
    return run_sweep(APP, tmp_path, *overrides, name=name, check=check)


def results(tmp_path, name="s"):
    return OmegaConf.to_container(OmegaConf.load(tmp_path / name / "optimization_results.yaml"))


def stored(tmp_path, study="s"):
    return optuna.load_study(study_name=study, storage=f"sqlite:///{tmp_path}/o.db")


def db(tmp_path, study="s"):
    return [f"hydra.sweeper.storage=sqlite:///{tmp_path}/o.db", f"hydra.sweeper.study_name={study}"]


def test_hydra_finds_the_sweeper():
    assert "IQAOptunaSweeper" in [c.__name__ for c in Plugins.instance().discover(Sweeper)]


def test_basic_launcher_runs_n_trials_in_batches_of_n_jobs_and_writes_the_results(tmp_path):
    sweep(tmp_path, "hydra/launcher=basic", "hydra.sweeper.n_trials=8", "hydra.sweeper.n_jobs=3", *db(tmp_path))
    study = stored(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 8
    assert sorted(p.name for p in (tmp_path / "s").iterdir() if p.name.isdigit()) == [str(i) for i in range(8)]
    out = results(tmp_path)
    assert out == {"name": "optuna", "best_params": study.best_trial.params, "best_value": study.best_trial.value}
    assert study.direction == optuna.study.StudyDirection.MINIMIZE


def test_a_fixed_value_and_a_delete_on_the_command_line(tmp_path):
    sweep(tmp_path, "x=choice(0, 1, 2)", "y=0", "~z", "hydra.sweeper.n_trials=5", "hydra.sweeper.n_jobs=1",
          "hydra.sweeper.sampler.seed=123", *db(tmp_path))
    study = stored(tmp_path)
    assert all(set(t.params) == {"x"} and t.user_attrs["y"] == "0" for t in study.trials)
    assert results(tmp_path)["best_params"] == {"x": study.best_trial.params["x"]}
    job = OmegaConf.load(tmp_path / "s" / "0" / ".hydra" / "config.yaml")
    assert job.y == 0 and "z" not in job


def test_same_sampler_and_seed_give_the_trials_of_a_plain_ask_and_tell_loop(tmp_path):
    """hydra-optuna-sweeper asks and tells one trial at a time with n_jobs=1, with its tpe options: so
    must this sweeper (Optuna's own TPESampler default is multivariate since Optuna 5)."""
    sweep(tmp_path, "hydra.sweeper.n_trials=14", "hydra.sweeper.n_jobs=1", "hydra.sweeper.sampler.seed=7", *db(tmp_path))
    got = [t.params for t in stored(tmp_path).trials]
    reference = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=7, n_startup_trials=10, n_ei_candidates=24,
                                                                       multivariate=False))
    space = {"x": optuna.distributions.FloatDistribution(-2, 2, step=0.5),
             "y": optuna.distributions.CategoricalDistribution([-1, 0, 1])}
    for _ in range(14):
        trial = reference.ask(space)
        reference.tell(trial, (trial.params["x"] - 1) ** 2 + trial.params["y"] ** 2)
    assert got == [t.params for t in reference.trials]


@pytest.mark.parametrize("n_trials", [10, 1])
def test_grid_sampler_stops_at_the_grid_size(tmp_path, n_trials):
    sweep(tmp_path, "hydra/sweeper/sampler=grid", f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.n_jobs=1",
          "x=choice(-1, 1)", "y=range(-1.0, 1.0, step=1)", "+v=choice(foo, bar)", *db(tmp_path))
    trials = stored(tmp_path).trials
    assert len(trials) == min(n_trials, 8)  # 2 x 2 (the range's stop is not a grid value) x 2
    assert {(t.params["x"], t.params["y"], t.params["+v"]) for t in trials} <= {
        (x, y, v) for x in (-1, 1) for y in (-1.0, 0.0) for v in ("foo", "bar")}
    if n_trials == 10:
        assert results(tmp_path)["best_value"] == 0.0


@pytest.mark.parametrize("ranges", [["x=range(0, 5)", "y=range(0, 3)"], []])
def test_two_objectives_give_a_pareto_front(tmp_path, ranges):
    sweep(tmp_path, "two_objectives=true", "hydra.sweeper.direction=[minimize,minimize]", "hydra.sweeper.n_trials=12",
          "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=123", *ranges)
    front = results(tmp_path)["solutions"]
    assert front and all(len(s["values"]) == 2 for s in front)
    for a in front:
        if ranges:
            assert isinstance(a["params"]["x"], int) and isinstance(a["params"]["y"], int)
        for b in front:
            assert not (all(p <= q for p, q in zip(a["values"], b["values"]))
                        and any(p < q for p, q in zip(a["values"], b["values"])))


def test_custom_search_space_adds_parameters_that_depend_on_others(tmp_path):
    sweep(tmp_path, "hydra.sweeper.custom_search_space=app.configure", "hydra.sweeper.n_trials=6",
          "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=123", "max_z_difference_from_x=0.3")
    best = results(tmp_path)["best_params"]
    assert abs(best["x"] - best["z"]) <= 0.3 and 0 <= best["+w"] <= 1


def test_search_space_key_is_deprecated_and_params_win():
    from hydra_plugins.iqa_optuna_sweeper._impl import OptunaSweep
    from hydra_plugins.iqa_optuna_sweeper.iqa_optuna_sweeper import IQAOptunaSweeperConf

    def space(**keys):
        return OptunaSweep(vars(IQAOptunaSweeperConf(**keys)))._space([])[0]

    with pytest.warns(UserWarning, match="search_space is deprecated"):
        assert space(search_space={"x": {"type": "int", "low": 0, "high": 3}}) == {
            "x": optuna.distributions.IntDistribution(0, 3)}
    with pytest.warns(UserWarning, match="Both hydra.sweeper.params and hydra.sweeper.search_space"):
        assert list(space(search_space={"x": {"type": "int", "low": 0, "high": 3}}, params={"y": "choice(1, 2)"})) == ["y"]


@pytest.mark.parametrize("rate", [0.5, 1.0])
def test_failures_beyond_max_failure_rate_stop_the_sweep_with_the_jobs_error(tmp_path, rate):
    proc = sweep(tmp_path, "error=true", "hydra.sweeper.n_trials=6", f"hydra.sweeper.max_failure_rate={rate}",
                 *db(tmp_path), check=False)
    if rate < 1:
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines()[-1].startswith(
            f"error: 4 trials failed, more than max_failure_rate={rate} x n_trials=6 allows; last: trial ")
        assert "RuntimeError: the app was asked to fail" in proc.stderr
    else:
        assert proc.returncode == 0 and "RuntimeError" not in proc.stderr
        assert [t.state for t in stored(tmp_path).trials] == [TrialState.FAIL] * 6


def test_motpe_sampler_is_refused(tmp_path):
    proc = sweep(tmp_path, "hydra/sweeper/sampler=motpe", check=False)
    assert proc.returncode != 0 and "The 'motpe' sampler was removed in Optuna 4.0" in proc.stderr


@pytest.mark.slow
def test_a_job_prunes_its_trial_through_the_reporting_api(tmp_path):
    sweep(tmp_path, "steps=3", "hydra/sweeper/pruner=threshold", "hydra.sweeper.pruner.upper=100",
          "hydra.sweeper.n_trials=3", *db(tmp_path), "hydra.sweeper.max_failure_rate=0")
    trials = stored(tmp_path).trials
    # Each job reports value + 3 - step: the first report is pruned when above the threshold.
    for t in trials:
        first = (t.params["x"] - 1) ** 2 + t.params["y"] ** 2 + 3
        assert t.state == (TrialState.PRUNED if first > 100 else TrialState.COMPLETE)
    sweep(tmp_path, "steps=3", "hydra/sweeper/pruner=threshold", "hydra.sweeper.pruner.upper=0",
          "hydra.sweeper.n_trials=2", *db(tmp_path, "p"), name="p")
    pruned = stored(tmp_path, "p").trials
    assert [t.state for t in pruned] == [TrialState.PRUNED] * 2
    assert all(t.user_attrs["pruned_by"].startswith("step 0: value ") and list(t.intermediate_values) == [0]
               for t in pruned)


@pytest.mark.slow
def test_seeds_tell_the_mean_and_confirm_seeds_rerun_the_best(tmp_path):
    sweep(tmp_path, "hydra.sweeper.seeds=[1,2]", "hydra.sweeper.confirm_seeds=[5,6]", "hydra.sweeper.n_trials=3",
          *db(tmp_path))
    study = stored(tmp_path)
    for t in study.trials:
        assert t.value == pytest.approx((t.params["x"] - 1) ** 2 + t.params["y"] ** 2 + 0.015)
        assert set(t.user_attrs["run_dirs"]) == {"1", "2"}
    best = study.best_trial
    confirm = results(tmp_path)["confirm"]
    expected = {s: (best.params["x"] - 1) ** 2 + best.params["y"] ** 2 + 0.01 * s for s in (5, 6)}
    assert confirm["trial"] == best.number and confirm["values"] == pytest.approx(expected)
    assert confirm["mean"] == pytest.approx(sum(expected.values()) / 2)
    assert study.user_attrs["confirm"]["values"] == {str(k): v for k, v in confirm["values"].items()}
    assert (tmp_path / "s" / "confirm" / "seed_5" / ".hydra").is_dir()
    shown = subprocess.run([sys.executable, "-m", "hydra_plugins.iqa_optuna_sweeper", "--storage",
                            f"sqlite:///{tmp_path}/o.db", "--no-plots"], capture_output=True, text=True, timeout=120)
    assert f"Confirmed trial {best.number} on seeds [5, 6]: value {confirm['mean']:.4f} ± " in shown.stdout
    bad = sweep(tmp_path, "hydra.sweeper.seeds=[1,2]", "hydra.sweeper.confirm_seeds=[2,3]", name="b", check=False)
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "error: hydra.sweeper.confirm_seeds=[2, 3] is out of range: must be distinct seeds that the search does not use")


def test_rerunning_a_study_with_a_fixed_sampler_seed_proposes_new_parameters(tmp_path):
    for name in ("a", "b"):
        sweep(tmp_path, "x=interval(-2, 2)", "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=0",
              "hydra.sweeper.n_trials=3", *db(tmp_path), name=name)
    params = [t.params["x"] for t in stored(tmp_path).trials]
    assert len(params) == 6 and len(set(params)) == 6


def test_a_study_name_clash_stops_before_any_trial(tmp_path):
    sweep(tmp_path, "x=interval(-2, 2)", "hydra.sweeper.n_trials=2", *db(tmp_path))
    proc = sweep(tmp_path, "x=interval(-3, 3)", "hydra.sweeper.n_trials=2", *db(tmp_path), name="t", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: study s exists with another search definition (space differs in x): "
        "give another hydra.sweeper.study_name or the same search")
    assert [t.state for t in stored(tmp_path).trials] == [TrialState.COMPLETE] * 2


@pytest.mark.slow
def test_asynchronous_slots_start_the_next_trial_while_a_long_one_runs(tmp_path):
    """Two trials in flight on two joblib workers: while the first (long) job runs, the other slot
    goes through the short ones, where a batch of two would wait for the long job."""
    draws = None
    space = {"x": optuna.distributions.FloatDistribution(-2, 2, step=0.5),
             "y": optuna.distributions.CategoricalDistribution([-1, 0, 1]),
             "sleep": optuna.distributions.CategoricalDistribution([0.1, 10.0])}
    for seed in range(100):  # a sampler seed whose first 4 draws are long, short, short, short
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        picks = [study.ask(space).params["sleep"] for _ in range(4)]
        if picks == [10.0, 0.1, 0.1, 0.1]:
            draws = seed
            break
    timings = tmp_path / "t.jsonl"
    sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2",
          "hydra.sweeper.n_trials=4", "hydra/sweeper/sampler=random", f"hydra.sweeper.sampler.seed={draws}",
          "sleep=choice(0.1, 10.0)", f"timings={timings}")
    jobs = sorted((json.loads(line) for line in timings.read_text().splitlines()), key=lambda j: j["start"])
    (long,) = [j for j in jobs if j["sleep"] == 10.0]
    during = [j for j in jobs if j["sleep"] == 0.1 and long["start"] <= j["start"] and j["end"] <= long["end"]]
    assert len(during) >= 2, jobs
