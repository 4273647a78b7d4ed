"""Job side of the iqa_optuna sweeper: report each epoch's objective to the job's trial, prune.

The sweeper sets `trial.study`, `trial.number` and `trial.seed_index` on every job; storage and
pruner come from the same `hydra.sweeper` config the sweeper uses. Seed k of a trial reports epoch e
at step `k * trainer.epochs + e`, so the pruner compares like with like across trials (the same seed
and epoch) whether the seeds of a trial run one after another or in parallel.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Dict, Optional

from omegaconf import OmegaConf

from iqa.errors import ConfigError, TrialPruned

log = logging.getLogger("iqa")
PRUNED_ATTR = "pruned_by"


def epoch_reporter(cfg) -> Optional[Callable[[int, Dict[str, float]], None]]:
    """A per-epoch hook for `iqa.train.fit.run` when the job belongs to an Optuna trial, else None."""
    if cfg.trial.number is None:
        return None
    import optuna
    from hydra.core.hydra_config import HydraConfig

    from iqa.optuna_setup import build_pruner, open_storage

    sweeper = HydraConfig.get().sweeper
    if "pruner" not in sweeper or not cfg.trial.study:
        raise ConfigError("trial.number is set by the iqa_optuna sweeper only (hydra/sweeper=iqa_optuna)")
    storage = open_storage(sweeper.storage)
    pruner = build_pruner(OmegaConf.to_container(sweeper.pruner, resolve=True))
    study = optuna.load_study(study_name=cfg.trial.study, storage=storage, pruner=pruner)
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(cfg.trial.study), cfg.trial.number)
    trial = optuna.trial.Trial(study, trial_id)
    if storage.get_trial(trial_id).state != optuna.trial.TrialState.RUNNING:
        log.warning("trial %d of study %s is finished: this run reports nothing to it", cfg.trial.number,
                    cfg.trial.study)
        return None
    _stop_if_pruned(storage, trial_id)
    offset = cfg.trial.seed_index * cfg.trainer.epochs

    def report(epoch: int, metrics: Dict[str, float]) -> None:
        _stop_if_pruned(storage, trial_id)
        value = metrics[cfg.objective]
        if math.isnan(value):
            return
        trial.report(value, offset + epoch)
        if trial.should_prune():
            reason = f"seed {cfg.seed} epoch {epoch}: {cfg.objective}={value:.4f}"
            trial.set_user_attr(PRUNED_ATTR, reason)
            raise TrialPruned(f"trial {cfg.trial.number} pruned at {reason}")

    return report


def _stop_if_pruned(storage, trial_id: int) -> None:
    """Another seed of this trial was pruned already: stop this one too."""
    reason = storage.get_trial(trial_id).user_attrs.get(PRUNED_ATTR)
    if reason:
        raise TrialPruned(f"trial already pruned at {reason}")
