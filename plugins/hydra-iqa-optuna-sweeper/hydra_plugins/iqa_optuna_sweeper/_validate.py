"""Sweeper settings that would run without error but give a wrong or empty result: each stops the
sweep with one `SweepConfigError` line before any trial is asked."""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping

import optuna

from hydra_plugins.iqa_optuna_sweeper._storage import check_sqlite_file
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError


def known_keys(conf: Mapping[str, Any]) -> None:
    """Every key must be one the sweeper reads: `+hydra.sweeper.n_trial=5` would otherwise be ignored."""
    from hydra_plugins.iqa_optuna_sweeper.iqa_optuna_sweeper import IQAOptunaSweeperConf

    known = sorted(f.name for f in dataclasses.fields(IQAOptunaSweeperConf))
    for key in conf:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = (f": did you mean hydra.sweeper.{close[0]}?" if close
                    else " (its keys are listed in the plugin's README)")
            raise SweepConfigError(f"hydra.sweeper.{key} is not a key of the iqa_optuna sweeper{hint}")


def storage_reaches_jobs(storage: Any, pruner: Any, launcher: Any) -> None:
    """The storage the sweep opened must keep its trials, and a pruner must reach the jobs.

    A `_target_` storage node must not be a SQLite database in memory either. A study in the
    sweep's memory is copied into each job a separate process runs (every launcher but Hydra's
    basic one), so a pruner there would see no other trial and prune nothing.
    """
    if isinstance(storage, optuna.storages.RDBStorage):
        check_sqlite_file(storage.url)
        return
    in_memory = storage is None or isinstance(storage, optuna.storages.InMemoryStorage)
    pruning = pruner is not None and not isinstance(pruner, optuna.pruners.NopPruner)
    if not (in_memory and pruning) or type(launcher).__name__ == "BasicLauncher":
        return
    raise SweepConfigError(f"hydra.sweeper.pruner ({type(pruner).__name__}) cannot prune a study in the sweep's memory "
                           f"with {type(launcher).__name__}: each job runs in its own process with a copy of the "
                           "study, so nothing would be pruned; give hydra.sweeper.storage a database URL "
                           "(sqlite:///optuna.db) or use hydra/launcher=basic")
