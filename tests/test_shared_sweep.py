"""Several `run.py -m hydra/sweeper=iqa_optuna` processes sharing one study on a real PostgreSQL server,
and a worker stopped mid-trial.

Each worker runs the same command (only its sweep folder differs) against one storage URL; the
tests check the study afterwards: exactly n_trials counted, unique numbers, every trial ended,
a killed or interrupted worker's trial failed with its reason and retried, and the password
written nowhere (an unreachable storage is in test_errors.py).
"""
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from helpers import ROOT, TINY, run_py_env
from hydra_plugins.iqa_optuna_sweeper._shared_study import budget_used, counted
from pg_server import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]
TINY_SWEEP = [o for o in TINY if not o.startswith("data.n_refs=")] + [
    "data.n_refs=3", "loader.test_patch_num=1", "data.cross=[]", "hydra/sweeper=iqa_study",
    "hydra.sweeper.study_name=shared", "hydra.sweeper.seeds=[42]", "hydra/sweeper/sampler=random",
    "loss=ranking", "loss.alpha=interval(0, 1)", "hydra.sweeper.confirm_seeds=[]"]


def _start(tmp_path, cache_dir, name, url, *extra):
    args = ["-m", *TINY_SWEEP, f"hydra.sweeper.storage='{url}'", f"hydra.sweep.dir={tmp_path / name}", *extra]
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=tmp_path, env=run_py_env(cache_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout=150):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"worker still running after {timeout} s; its output ends with:\n{(out + err)[-3000:]}")
    return proc.returncode, out + err


def _study(url):
    return optuna.load_study(study_name="shared", storage=url)


def _assert_password_written_nowhere(tmp_path, *outputs):
    assert all(PASSWORD not in o for o in outputs)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "multirun.yaml" for p in files) and any(p.name == "hydra.yaml" for p in files)
    assert [p for p in files if PASSWORD.encode() in p.read_bytes()] == []


def test_two_workers_run_exactly_n_trials_together(postgres_url, tmp_path, cache_dir):
    # A fixed sampler seed in both: each worker derives its own stream from the study's trial count.
    workers = [_start(tmp_path, cache_dir, name, postgres_url, "hydra.sweeper.n_trials=4", "trainer.epochs=2",
                      "hydra.sweeper.sampler.seed=0") for name in ("a", "b")]
    results = [_finish(w) for w in workers]
    for rc, output in results:
        assert rc == 0, output
    trials = _study(postgres_url).get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3] and budget_used(trials) == 4
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.params["loss.alpha"] for t in trials}) == 4, "no parameters proposed twice"
    ran_by = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in trials}
    assert ran_by == {str(w.pid) for w in workers}, "both workers ran trials"
    for t in trials:
        (folder,) = t.user_attrs["run_dirs"].values()
        assert (tmp_path / folder / "metrics.json").is_file()
    _assert_password_written_nowhere(tmp_path, *(output for _, output in results))


def test_a_password_in_the_url_query_is_written_nowhere(postgres_url, tmp_path, cache_dir):
    user_part, rest = postgres_url.split("://", 1)[1].split("@", 1)
    user = user_part.split(":", 1)[0]
    url = f"postgresql://{user}@{rest}?password={PASSWORD}"
    rc, output = _finish(_start(tmp_path, cache_dir, "a", url, "hydra.sweeper.n_trials=1", "trainer.epochs=1"))
    assert rc == 0, output
    assert "?password=***" in output and _study(url).trials[0].state == TrialState.COMPLETE
    _assert_password_written_nowhere(tmp_path, output)


def _first_running_worker(url, workers, timeout=120):
    """The worker process of the first trial seen RUNNING, once its worker id is on the trial."""
    by_pid = {str(w.pid): w for w in workers}
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            running = _study(url).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except KeyError:  # the study does not exist yet
            running = []
        for trial in running:
            pid = trial.user_attrs.get("worker", ":").rsplit(":", 1)[1]
            if pid in by_pid:
                return trial.number, by_pid[pid]
        time.sleep(0.1)
    raise AssertionError("no trial started within the timeout: " + repr([_finish(w, 1) for w in workers]))


def test_a_killed_workers_trial_fails_for_its_stale_heartbeat_and_is_retried(postgres_url, tmp_path, cache_dir):
    heartbeat = ["hydra.sweeper.n_trials=3", "trainer.epochs=3", "hydra.sweeper.heartbeat_interval=1",
                 "hydra.sweeper.grace_period=3", "hydra.sweeper.max_retry=1"]
    workers = [_start(tmp_path, cache_dir, name, postgres_url, *heartbeat) for name in ("a", "b")]
    number, victim = _first_running_worker(postgres_url, workers)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    (survivor,) = [w for w in workers if w is not victim]
    rc, output = _finish(survivor)
    assert rc == 0, output

    trials = _study(postgres_url).get_trials()
    killed = trials[number]
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["fail_reason"].startswith("heartbeat stale: no heartbeat for over 3 s from worker ")
    assert f"from worker {killed.user_attrs['worker']} (killed" in killed.user_attrs["fail_reason"]
    assert f":{victim.pid}" in killed.user_attrs["worker"]
    (retried,) = [t for t in trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == number]
    assert retried.state == TrialState.COMPLETE and retried.params == killed.params
    assert retried.user_attrs["worker"].endswith(f":{survivor.pid}") and "fail_reason" not in retried.user_attrs
    assert [t.number for t in trials] == list(range(len(trials))) == list(range(4))
    assert budget_used(trials) == 3 and {t.state for t in counted(trials)} == {TrialState.COMPLETE}
    assert f"trial {number} FAIL: heartbeat stale" in output


def test_an_interrupted_trial_is_failed_at_once_and_run_again_on_resume(tmp_path, cache_dir):
    url = f"sqlite:///{tmp_path}/optuna.db"
    worker = _start(tmp_path, cache_dir, "a", url, "hydra.sweeper.n_trials=1", "trainer.epochs=50",
                    "trainer.early_stopping=false")
    log = tmp_path / "a" / "trial_0" / "seed_42" / "run.log"
    deadline = time.time() + 120
    while not (log.is_file() and "epoch 1/50" in log.read_text()) and time.time() < deadline:
        time.sleep(0.2)
    worker.send_signal(signal.SIGINT)
    rc, output = _finish(worker)
    assert rc == 130 and "Traceback" not in output and output.rstrip().endswith(
        "a sweep continues its study when the same command runs again"), output
    (interrupted, queued) = _study(url).get_trials()
    assert interrupted.state == TrialState.FAIL
    assert interrupted.user_attrs["fail_reason"] == f"worker {interrupted.user_attrs['worker']} stopped: KeyboardInterrupt"
    assert queued.state == TrialState.WAITING and queued.params == interrupted.params

    # The same command again (another trainer.epochs would be another search: a clash).
    rc, output = _finish(_start(tmp_path, cache_dir, "b", url, "hydra.sweeper.n_trials=1", "trainer.epochs=50",
                                "trainer.early_stopping=false"), timeout=300)
    assert rc == 0, output
    trials = _study(url).get_trials()
    assert len(trials) == 2 and trials[1].state == TrialState.COMPLETE and budget_used(trials) == 1
    assert "study shared: 0 trials finished; n_trials=1, total_trials=1" in output and "1 COMPLETE, 0 PRUNED, 0 FAIL (and 1 FAIL retried)" in output
