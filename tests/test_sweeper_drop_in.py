"""The sweeper's keys beyond hydra-optuna-sweeper's that its users ask for (enqueue_trials,
timeout, a job returning a dict of metrics, metric_names), readable study names, the inspector
command named at the end, and lock files kept out of sight. Real multiruns of a plain app."""
import re

import optuna
import pytest
from optuna.trial import TrialState

from test_sweeper_plugin import db, stored, sweep

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_enqueued_parameter_sets_run_first_and_once_per_study(tmp_path):
    args = [*db(tmp_path), "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=1", "hydra.sweeper.sampler.seed=0",
            "hydra.sweeper.enqueue_trials=[{x:1.5,y:0},{x:-2.0,y:1}]"]
    sweep(tmp_path, *args)
    trials = stored(tmp_path).get_trials()
    assert [t.params for t in trials[:2]] == [{"x": 1.5, "y": 0}, {"x": -2.0, "y": 1}]
    assert len(trials) == 3
    sweep(tmp_path, *args[:1], *args[2:], "hydra.sweeper.study_name=s", "hydra.sweeper.n_trials=1", name="again")
    assert [t.params for t in stored(tmp_path).get_trials()].count({"x": 1.5, "y": 0}) == 1, "queued again"


def test_an_enqueued_key_that_is_not_searched_is_one_line(tmp_path):
    proc = sweep(tmp_path, *db(tmp_path), "hydra.sweeper.enqueue_trials=[{x:1.5,q:0}]", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: hydra.sweeper.enqueue_trials[0] sets q, which is not searched (searched: x, y)"]


def test_timeout_stops_asking_for_trials(tmp_path):
    proc = sweep(tmp_path, *db(tmp_path), "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1", "sleep=1.0",
                 "hydra.sweeper.timeout=1.5")
    trials = stored(tmp_path).get_trials()
    assert 1 <= len(trials) <= 3 and all(t.state == TrialState.COMPLETE for t in trials)
    assert "timeout of 1.5 s reached: no new trials" in proc.stdout + proc.stderr


def test_a_job_returning_a_dict_optimizes_the_named_metrics_and_keeps_the_others(tmp_path):
    sweep(tmp_path, *db(tmp_path), "+as_dict=true", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1",
          "hydra.sweeper.metric_names=[value]")
    study = stored(tmp_path)
    assert study.metric_names == ["value"]
    for t in study.get_trials():
        x, y = t.params["x"], t.params["y"]
        assert t.value == pytest.approx((x - 1) ** 2 + y ** 2)
        assert t.user_attrs["second"] == pytest.approx((x + 1) ** 2 + y ** 2)
        assert t.user_attrs["x_plus_y"] == pytest.approx(x + y)


def test_a_dict_without_metric_names_fails_its_trial_saying_which_key_to_set(tmp_path):
    proc = sweep(tmp_path, *db(tmp_path), "+as_dict=true", "hydra.sweeper.n_trials=1", check=False)
    assert proc.returncode == 1
    [line] = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert line.startswith("error: 1 trials failed") and line.endswith(
        "the job returned a dict of metrics (value, second, x_plus_y): name the ones to optimize in "
        "hydra.sweeper.metric_names")


def test_a_study_named_from_its_search_reads_like_it_and_an_older_name_is_still_found(tmp_path):
    storage = f"sqlite:///{tmp_path}/o.db"
    args = [f"hydra.sweeper.storage={storage}", "hydra.sweeper.name_from_search=true", "hydra.sweeper.n_trials=1"]
    proc = sweep(tmp_path, *args)
    [name] = optuna.get_all_study_names(storage)
    assert re.fullmatch(r"app-[0-9a-f]{8}", name), name  # the sweep's config name
    assert f"inspect: python -m hydra_plugins.iqa_optuna_sweeper --storage {storage} --study {name}" in proc.stdout

    legacy = f"search-{name[-8:]}"  # what the same search was called before
    other = f"sqlite:///{tmp_path}/old.db"
    optuna.create_study(study_name=legacy, storage=other)
    proc = sweep(tmp_path, *args, f"hydra.sweeper.storage={other}", "hydra.sweeper.inspect_command=python -m app.study",
                 name="old")
    assert optuna.get_all_study_names(other) == [legacy]
    assert f"inspect: python -m app.study --storage {other} --study {legacy}" in proc.stdout


def test_lock_files_stay_in_a_hidden_folder_beside_the_database(tmp_path):
    sweep(tmp_path, *db(tmp_path), "hydra.sweeper.n_trials=1")
    assert not list(tmp_path.glob("*.lock"))
    assert list((tmp_path / ".o.db.locks").glob("*.lock"))
