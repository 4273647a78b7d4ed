"""Many sweep processes, one Optuna study: what lets them share a storage safely.

- `exclusive(storage, study_name)`: held while a worker counts the study's trials and asks for
  new ones, so that all workers together ask exactly `n_trials` (a PostgreSQL advisory lock, a
  MySQL named lock, or a file lock beside a SQLite file).
- `heartbeats(storage, trial_ids, interval)`: records the heartbeat of each trial a worker runs,
  so a worker killed mid-trial leaves a RUNNING trial whose heartbeat goes stale; the next worker
  to ask fails it and Optuna's retry callback queues a copy, which a worker then runs.
- `budget_used(trials)`: the trials that count against `n_trials`: all but those a retry replaced.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import optuna
from filelock import FileLock
from optuna.storages import RetryHeartbeatStaleTrialCallback
from sqlalchemy import text

log = logging.getLogger("iqa")


def _lock_key(study_name: str) -> int:
    """A signed 64-bit key for PostgreSQL's advisory locks, the same in every process."""
    return int.from_bytes(hashlib.sha1(f"iqa-sweep:{study_name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(storage: optuna.storages.RDBStorage, study_name: str) -> Iterator[None]:
    """Hold the study's lock, shared by every worker of every machine that uses this storage.

    The lock lives on its own database connection: if the worker dies, the database drops the
    connection and with it the lock.
    """
    engine = storage.engine
    backend = engine.dialect.name
    if backend == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with FileLock(f"{Path(database).expanduser()}.{_lock_key(study_name) & 0xFFFFFFFF:08x}.lock"):
            yield
        return
    if backend == "postgresql":
        take, give = "SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)"
        key = _lock_key(study_name)
    elif backend in ("mysql", "mariadb"):
        take, give = "SELECT GET_LOCK(:key, -1)", "SELECT RELEASE_LOCK(:key)"
        key = f"iqa-sweep:{study_name}"[:64]
    else:
        log.warning("no cross-process lock for %s storages: parallel workers may ask a few trials "
                    "more than n_trials", backend)
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
    return {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}


def budget_used(trials: Sequence[optuna.trial.FrozenTrial]) -> int:
    """How many trials count against n_trials: every trial except those a retry replaced."""
    replaced = replaced_by_retry(trials)
    return sum(1 for t in trials if t.number not in replaced)
