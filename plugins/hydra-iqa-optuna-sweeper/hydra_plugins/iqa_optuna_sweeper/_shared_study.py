"""Many sweep processes, one Optuna study: what lets them share a storage safely.

- `creating_tables(url)`: held while a worker creates Optuna's tables in a new database.
- `exclusive(storage, study_name)`: held while a worker counts the study's trials and asks for
  new ones, so that all workers together ask exactly `n_trials` (a PostgreSQL advisory lock, a
  MySQL named lock, or a file lock in a hidden folder beside a SQLite file).
- `heartbeats(storage, trial_ids, interval)`: records the heartbeat of each trial a worker runs,
  so a worker killed mid-trial leaves a RUNNING trial whose heartbeat goes stale; the next worker
  to ask fails it and Optuna's retry callback queues a copy, which a worker then runs.
- `fail_stale_trials(...)`: fails those stale trials, each with its reason, and queues their retries.
- `budget_used(trials)`: the trials that count against `n_trials`: all but those a retry replaced.
- `ended_meanwhile(study, trial)`: why a worker's trial was failed while its jobs ran (interrupted, stale).
"""
from __future__ import annotations

import copy
import hashlib
import logging
import os
import socket
import threading
import warnings
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator, List, Sequence

import optuna
from filelock import FileLock
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
FAIL_REASON, WORKER = "fail_reason", "worker"


def worker_id() -> str:
    """`host:pid` of this sweep process, recorded on every trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _lock_key(name: str) -> int:
    """A signed 64-bit key for PostgreSQL's advisory locks, the same in every process."""
    return int.from_bytes(hashlib.sha1(f"iqa-sweep:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(storage: optuna.storages.RDBStorage, study_name: str) -> Iterator[None]:
    """Hold the study's lock, shared by every worker of every machine that uses this storage.

    The lock lives on its own database connection: if the worker dies, the database drops the
    connection and with it the lock.
    """
    with _held(storage.engine, study_name):
        yield


@contextmanager
def creating_tables(url: str) -> Iterator[None]:
    """Held while Optuna creates or checks its tables in a storage: two workers starting at once
    on a new database would otherwise both create them, and one would fail."""
    engine = create_engine(url)
    try:
        with _held(engine, "<optuna tables>"):
            yield
    finally:
        engine.dispose()


def lock_folder(database: str) -> Path:
    """The hidden folder of a SQLite file's lock files (`outputs/.optuna.db.locks/` for
    `outputs/optuna.db`): out of sight beside the database, one folder whatever the studies."""
    path = Path(database).expanduser()
    folder = path.with_name(f".{path.name}.locks")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def _held(engine: Engine, name: str) -> Iterator[None]:
    """A named lock for every process using this database: a PostgreSQL advisory lock, a MySQL
    named lock, or a file lock in `lock_folder` of a SQLite file."""
    backend = engine.dialect.name
    if backend == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with FileLock(str(lock_folder(database) / f"{_lock_key(name) & 0xFFFFFFFF:08x}.lock")):
            yield
        return
    if backend == "postgresql":
        take, give = "SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)"
        key = _lock_key(name)
    elif backend in ("mysql", "mariadb"):
        take, give = "SELECT GET_LOCK(:key, -1)", "SELECT RELEASE_LOCK(:key)"
        key = f"iqa-sweep:{name}"[:64]
    else:
        log.warning("no cross-process lock for %s storages: parallel workers may clash, e.g. ask a few "
                    "trials more than n_trials", backend)
        yield
        return
    with engine.connect() as conn:
        conn.execute(text(take), {"key": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text(give), {"key": key})
            conn.commit()


@contextmanager
def heartbeats(storage: optuna.storages.RDBStorage, trial_ids: Sequence[int], interval: int) -> Iterator[None]:
    """Record a heartbeat for each trial every `interval` seconds while the block runs."""
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            for trial_id in trial_ids:
                try:
                    storage.record_heartbeat(trial_id)
                except Exception as e:  # a database hiccup: try again next beat
                    log.warning("heartbeat of trial id %d not recorded: %s", trial_id, str(e).splitlines()[0])
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name="optuna-heartbeats", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def replaced_by_retry(trials: Iterable[optuna.trial.FrozenTrial]) -> set:
    """Numbers of the trials that failed for a stale heartbeat and were queued again as a retry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}


def counted(trials: Sequence[optuna.trial.FrozenTrial]) -> List[optuna.trial.FrozenTrial]:
    """The trials that count against n_trials: every trial except those a retry replaced."""
    replaced = replaced_by_retry(trials)
    return [t for t in trials if t.number not in replaced]


def budget_used(trials: Sequence[optuna.trial.FrozenTrial]) -> int:
    """How many trials count against n_trials (running and waiting ones included)."""
    return len(counted(trials))


def fail_and_retry(study: optuna.Study, storage: optuna.storages.RDBStorage, trial_id: int, reason: str,
                   retry: RetryHeartbeatStaleTrialCallback) -> bool:
    """FAIL a RUNNING trial with `reason` in its `fail_reason` user attr, and queue its retry (a WAITING
    trial with the same parameters) unless `retry` has used up its `max_retry`.

    Returns False when the trial had ended meanwhile (then nothing changes). The reason is set
    first because Optuna refuses to change a finished trial.
    """
    try:
        storage.set_trial_user_attr(trial_id, FAIL_REASON, reason)
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False
    failed = copy.deepcopy(storage.get_trial(trial_id))
    failed.user_attrs = {}  # the retry records its own worker, run folders and outcome
    retry(study, failed)
    return True


def fail_stale_trials(study: optuna.Study, storage: optuna.storages.RDBStorage,
                      retry: RetryHeartbeatStaleTrialCallback) -> List[int]:
    """FAIL the study's RUNNING trials whose heartbeat is older than the grace period, and retry them.

    Optuna's own `fail_stale_trials` cannot record why a trial failed (a FAIL trial takes no
    more attributes), so this one does the same with a reason. Call it under `exclusive`.
    Returns the numbers of the trials it failed.
    """
    if storage.get_heartbeat_interval() is None:
        return []
    grace = storage.grace_period or 2 * storage.get_heartbeat_interval()
    stale = set(storage._get_stale_trial_ids(storage.get_study_id_from_name(study.study_name)))
    now, failed = datetime.now(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial._trial_id in stale:
            reason = (f"heartbeat stale: no heartbeat for over {grace} s from worker "
                      f"{trial.user_attrs.get(WORKER, 'unknown')} (killed, or lost its machine or database connection)")
        # A worker records a trial's first heartbeat, then its worker id, right after asking for
        # it; a RUNNING trial without a worker id past the grace period lost its worker in between.
        elif WORKER not in trial.user_attrs and (now - trial.datetime_start).total_seconds() > grace:
            reason = f"heartbeat stale: its worker stopped before the trial's first heartbeat, over {grace} s ago"
        else:
            continue
        if fail_and_retry(study, storage, trial._trial_id, reason, retry):
            log.warning("trial %d FAIL: %s", trial.number, reason)
            failed.append(trial.number)
    return failed


def ended_meanwhile(study: optuna.Study, trial: optuna.Trial) -> str:
    """Why the result of a trial this worker ran is dropped: the trial was failed while its jobs ran."""
    reason = study._storage.get_trial(trial._trial_id).user_attrs.get(FAIL_REASON, "")
    if reason.endswith("stopped: KeyboardInterrupt"):
        return f"trial {trial.number} was interrupted (Ctrl-C) while its jobs ran: its result is not recorded"
    if reason.startswith("heartbeat stale"):
        return (f"trial {trial.number} was failed meanwhile for a stale heartbeat (and retried): "
                "its result is not recorded")
    return f"trial {trial.number} was failed meanwhile ({reason or 'no reason recorded'}): its result is not recorded"
