"""For task functions: report intermediate values to the job's Optuna trial, so its pruner can stop it.

    from hydra_plugins.iqa_optuna_sweeper.reporting import current_trial

    trial = current_trial(steps_per_seed=cfg.epochs)  # None unless the job serves a trial
    for epoch in range(cfg.epochs):
        ...
        if trial is not None:
            trial.report(val_loss, epoch)  # raises optuna.TrialPruned when the pruner stops it

The sweeper tells each job which trial it serves through environment variables (set with
`hydra.job.env_set`, so every launcher passes them on); storage and pruner come from the job's
`hydra.sweeper` config. With `seeds`, seed k of a trial reports step s at `k * steps_per_seed + s`,
so the pruner compares the same seed and step across trials. Light on import: Hydra imports this
module on every start.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Any, Dict, Optional

log = logging.getLogger(__name__)
ENV = "IQA_OPTUNA_TRIAL"  # "<trial number>:<seed index>:<seed>:<study name>"
PRUNED_ATTR = "pruned_by"
_LIVE: Dict[str, Any] = {}  # studies of a sweep in this process: in-memory ones serve its in-process jobs


def register_study(study) -> None:
    """Make the sweep's study reachable by jobs that run in the sweep's own process (basic launcher)."""
    _LIVE[study.study_name] = study


class TrialReporter:
    """The job's side of one Optuna trial."""

    def __init__(self, study, trial_id: int, number: int, seed_index: int, seed: str, steps_per_seed: int) -> None:
        import optuna

        self.study, self.number, self.seed = study, number, seed
        self.trial = optuna.trial.Trial(study, trial_id)
        self.offset = seed_index * steps_per_seed
        self.stop_if_pruned()

    def stop_if_pruned(self) -> None:
        """Another seed of this trial was pruned already: stop this one too."""
        import optuna

        reason = self.study._storage.get_trial(self.trial._trial_id).user_attrs.get(PRUNED_ATTR)
        if reason:
            raise optuna.TrialPruned(f"trial {self.number} already pruned at {reason}")

    def report(self, value: float, step: int) -> None:
        """Report `value` at `step`; raise optuna.TrialPruned when the pruner stops the trial."""
        import optuna

        self.stop_if_pruned()
        if math.isnan(value):
            return
        self.trial.report(value, self.offset + step)
        if self.trial.should_prune():
            where = f"seed {self.seed} step {step}" if self.seed else f"step {step}"
            reason = f"{where}: value {value:.4f}"
            self.trial.set_user_attr(PRUNED_ATTR, reason)
            raise optuna.TrialPruned(f"trial {self.number} pruned at {reason}")


def current_trial(steps_per_seed: int = 0) -> Optional[TrialReporter]:
    """The trial this Hydra job serves under `hydra/sweeper=iqa_optuna`, or None for any other job.

    Raises optuna.TrialPruned when the trial was pruned already (by another of its seeds).
    `steps_per_seed`: how many steps one seed's job reports, needed only with `seeds` and a pruner.
    """
    if not os.environ.get(ENV):
        return None
    import optuna
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig

    from hydra_plugins.iqa_optuna_sweeper._storage import open_storage

    number, seed_index, seed, name = os.environ[ENV].split(":", 3)
    number = int(number)
    sweeper = HydraConfig.get().sweeper
    study = _LIVE.get(name)
    if study is None:
        given = sweeper.get("storage")
        storage = (open_storage(given) if isinstance(given, str)  # a `_target_` node: as the sweeper built it
                   else _instantiate(given) if isinstance(given, DictConfig) and "_target_" in given else None)
        if storage is None or isinstance(storage, optuna.storages.InMemoryStorage):
            log.warning("trial %d: its study is in the sweep's memory, out of this job's reach: nothing is "
                        "reported (give hydra.sweeper.storage a database URL)", number)
            return None
        pruner = sweeper.get("pruner")
        study = optuna.load_study(study_name=name, storage=storage,
                                  pruner=None if pruner is None else _instantiate(pruner))
    storage = study._storage
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(name), number)
    if storage.get_trial(trial_id).state != optuna.trial.TrialState.RUNNING:
        log.warning("trial %d of study %s is finished: this job reports nothing to it", number, name)
        return None
    return TrialReporter(study, trial_id, number, int(seed_index), seed, steps_per_seed)


def _instantiate(node):
    from hydra.utils import instantiate

    return instantiate(node)
