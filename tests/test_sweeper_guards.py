"""Sweeper settings that used to run and give a wrong or empty result, or end in a traceback: each
stops the sweep with one `error: ...` line before any trial (real multiruns of tests/sweeper_app)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback

from hydra_plugins.iqa_optuna_sweeper._impl import OptunaSweep
from hydra_plugins.iqa_optuna_sweeper._shared_study import fail_and_retry
from hydra_plugins.iqa_optuna_sweeper._storage import open_storage
from hydra_plugins.iqa_optuna_sweeper.iqa_optuna_sweeper import IQAOptunaSweeperConf

APP = Path(__file__).resolve().parent / "sweeper_app" / "app.py"
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def refused(tmp_path, *overrides) -> str:
    """Run a sweep that must stop before its first trial; returns its one error line."""
    proc = subprocess.run([sys.executable, str(APP), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                           "hydra.sweeper.n_trials=2", *overrides], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "sweep" / "0").exists() and not (tmp_path / "sweep" / "multirun.yaml").exists()
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: "), proc.stderr
    return lines[-1]


def test_a_misspelt_sweeper_key_is_refused_with_the_key_it_resembles(tmp_path):
    assert refused(tmp_path, "+hydra.sweeper.n_trial=5") == (
        "error: hydra.sweeper.n_trial is not a key of the iqa_optuna sweeper: did you mean hydra.sweeper.n_trials?")
    assert refused(tmp_path, "+hydra.sweeper.colour=red") == (
        "error: hydra.sweeper.colour is not a key of the iqa_optuna sweeper "
        "(its keys are listed in the plugin's README)")


@pytest.mark.parametrize("storage", ["sqlite:///", "sqlite://", "sqlite:///:memory:",
                                     "{_target_: optuna.storages.RDBStorage, url: 'sqlite://'}"])
def test_a_sqlite_storage_in_memory_is_refused(tmp_path, storage):
    line = refused(tmp_path, f"hydra.sweeper.storage={storage}")
    assert " is a SQLite database in memory, not a file: nothing would be kept" in line
    assert line.endswith("name a file (sqlite:///outputs/optuna.db), or leave hydra.sweeper.storage null "
                         "for a study in the sweep's memory")


def test_inspecting_a_sqlite_storage_in_memory_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hydra_plugins.iqa_optuna_sweeper", "--storage", "sqlite:///"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "error: storage sqlite:/// is a SQLite database in memory, not a file: nothing would be kept and no other "
        "process could reach it; name the sweep's file (sqlite:///outputs/optuna.db)")


def test_a_pruner_on_a_study_in_memory_with_jobs_in_other_processes_is_refused(tmp_path):
    assert refused(tmp_path, "hydra/launcher=joblib", "hydra/sweeper/pruner=median") == (
        "error: hydra.sweeper.pruner (MedianPruner) cannot prune a study in the sweep's memory with JoblibLauncher: "
        "each job runs in its own process with a copy of the study, so nothing would be pruned; give "
        "hydra.sweeper.storage a database URL (sqlite:///optuna.db) or use hydra/launcher=basic")


def _make_read_only(path: Path) -> None:
    """No write access for this process: the mode bits, or as root (which ignores them) the immutable flag."""
    path.chmod(0o444)
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("running as root where the immutable flag cannot be set: a file cannot be read-only here")


def test_a_read_only_sqlite_file_is_refused(tmp_path):
    db = tmp_path / "o.db"
    optuna.create_study(study_name="s", storage=f"sqlite:///{db}")
    _make_read_only(db)
    try:
        assert refused(tmp_path, f"hydra.sweeper.storage=sqlite:///{db}", "hydra.sweeper.study_name=s") == (
            f"error: storage sqlite:///{db} cannot be written: {db}: "
            f"{'Operation not permitted' if os.geteuid() == 0 else 'Permission denied'} "
            "(a sweep records its trials there: make it writable, or give another hydra.sweeper.storage)")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(db)])
    proc = subprocess.run([sys.executable, "-m", "hydra_plugins.iqa_optuna_sweeper", "--storage", f"sqlite:///{db}",
                           "--no-plots"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # inspecting needs no write access


def test_a_trial_interrupted_while_its_jobs_ran_is_logged_as_interrupted(tmp_path):
    """Ctrl-C fails the trials in flight at once; a launcher thread whose jobs return afterwards then
    finds its trial finished, and says why: interrupted, not a stale heartbeat."""
    from hydra_plugins.iqa_optuna_sweeper._shared_study import ended_meanwhile

    url = f"sqlite:///{tmp_path}/o.db"
    sweep = OptunaSweep(vars(IQAOptunaSweeperConf(storage=url)))
    sweep.url, sweep.storage = url, open_storage(url)
    sweep.retry = RetryHeartbeatStaleTrialCallback(max_retry=3)
    study = optuna.create_study(study_name="s", storage=sweep.storage)
    interrupted = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    sweep._fail_unfinished(study, [interrupted], KeyboardInterrupt())
    assert ended_meanwhile(study, interrupted) == (
        f"trial {interrupted.number} was interrupted (Ctrl-C) while its jobs ran: its result is not recorded")

    stale = study.ask()
    fail_and_retry(study, sweep.storage, stale._trial_id, "heartbeat stale: no heartbeat for over 3 s from worker h:1",
                   sweep.retry)
    assert ended_meanwhile(study, stale) == (
        f"trial {stale.number} was failed meanwhile for a stale heartbeat (and retried): its result is not recorded")
