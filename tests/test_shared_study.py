"""Workers sharing one study on a real PostgreSQL server (and SQLite): the lock, heartbeats, retries."""
import re
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from helpers import ROOT
from hydra_plugins.iqa_optuna_sweeper._shared_study import FAIL_REASON, budget_used, exclusive, fail_stale_trials, heartbeats


def _storage(url, **heartbeat):
    return RDBStorage(url, **heartbeat)


def _exclusive_is_exclusive(url):
    storage = _storage(url)
    optuna.create_study(storage=storage, study_name="s")
    events, inside = [], threading.Event()

    def worker(name, hold_s):
        with exclusive(_storage(url), "s"):
            events.append(f"{name} in")
            inside.set()
            time.sleep(hold_s)
            events.append(f"{name} out")

    first = threading.Thread(target=worker, args=("a", 0.5))
    first.start()
    inside.wait(10)
    second = threading.Thread(target=worker, args=("b", 0))
    second.start()
    first.join(10)
    second.join(10)
    assert events == ["a in", "a out", "b in", "b out"]
    with exclusive(storage, "another study"), exclusive(storage, "s"):
        pass  # one lock per study


def test_exclusive_on_postgresql(postgres_url):
    _exclusive_is_exclusive(postgres_url)


def test_exclusive_on_sqlite(tmp_path):
    _exclusive_is_exclusive(f"sqlite:///{tmp_path}/optuna.db")


KILLED_WORKER = """
import sys, time, warnings
import optuna
from hydra_plugins.iqa_optuna_sweeper._shared_study import heartbeats
warnings.simplefilter("ignore")
storage = optuna.storages.RDBStorage(sys.argv[1], heartbeat_interval=1, grace_period=2)
study = optuna.load_study(study_name="s", storage=storage)
trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
with heartbeats(storage, [trial._trial_id], 1):
    print(trial.number, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_killed_workers_trial_fails_after_the_grace_period_and_is_retried(postgres_url):
    # Grace 3 s for beats every 1 s: a worker delayed by a busy machine is not taken for dead.
    storage = _storage(postgres_url, heartbeat_interval=1, grace_period=3,
                       heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2))
    study = optuna.create_study(storage=storage, study_name="s")
    worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, postgres_url], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        number = int(worker.stdout.readline())
        time.sleep(4)  # past the grace period: the heartbeats keep the trial alive
        optuna.storages.fail_stale_trials(study)
        assert study.trials[number].state == TrialState.RUNNING
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    deadline = time.time() + 10
    while study.trials[number].state == TrialState.RUNNING and time.time() < deadline:
        time.sleep(0.5)
        optuna.storages.fail_stale_trials(study)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(trials[1]) == number
    assert trials[1].params == trials[0].params
    assert budget_used(trials) == 1  # the retry takes the place of the trial it replaces


@pytest.mark.slow
def test_heartbeats_stop_when_the_block_ends(tmp_path):
    storage = _storage(f"sqlite:///{tmp_path}/optuna.db", heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(storage=storage)
    with pytest.warns(UserWarning, match="Heartbeat"):
        trial = study.ask()
    with heartbeats(storage, [trial._trial_id], 1):
        time.sleep(1.5)
        optuna.storages.fail_stale_trials(study)
        assert study.trials[0].state == TrialState.RUNNING
    time.sleep(3)
    optuna.storages.fail_stale_trials(study)
    assert study.trials[0].state == TrialState.FAIL


@pytest.mark.slow
def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed_and_retried(tmp_path):
    retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
    storage = _storage(f"sqlite:///{tmp_path}/optuna.db", heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(storage=storage)
    with pytest.warns(UserWarning, match="Heartbeat"):
        study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})  # then nothing: no heartbeat, no worker id
    assert fail_stale_trials(study, storage, retry) == []  # not yet past the grace period
    time.sleep(1.5)
    assert fail_stale_trials(study, storage, retry) == [0]
    failed, queued = study.trials
    assert failed.state == TrialState.FAIL and "stopped before the trial's first heartbeat" in failed.user_attrs[FAIL_REASON]
    assert queued.state == TrialState.WAITING and queued.params == failed.params


@pytest.mark.parametrize("keys, line", [
    ({"heartbeat_interval": 10, "grace_period": 5},
     "hydra.sweeper.grace_period=5 is out of range: must be longer than heartbeat_interval"),
    ({"heartbeat_interval": -1}, "hydra.sweeper.heartbeat_interval=-1 is out of range: must be >= 0 seconds"),
    ({"max_retry": -1}, "hydra.sweeper.max_retry=-1 is out of range: must be >= 0"),
])
def test_heartbeat_keys_out_of_range(keys, line):
    # the class `_impl` raises: Hydra's plugin scan may have imported a second `errors` module since
    from hydra_plugins.iqa_optuna_sweeper._impl import OptunaSweep, SweepConfigError
    from hydra_plugins.iqa_optuna_sweeper.iqa_optuna_sweeper import IQAOptunaSweeperConf

    with pytest.raises(SweepConfigError, match="^" + re.escape(line)):
        OptunaSweep(vars(IQAOptunaSweeperConf(**keys)))._check()
    OptunaSweep(vars(IQAOptunaSweeperConf(heartbeat_interval=0, grace_period=None, max_retry=None)))._check()
