"""Config schema of `hydra/sweeper=iqa_optuna` and the Sweeper Hydra finds by scanning hydra_plugins.

This module stays light (Hydra imports it on every start); the search itself lives in `_impl`.
Keys are documented in docs/sweeps.md.
"""
# No `from __future__ import annotations` here: Hydra executes this module before registering it
# in sys.modules, and dataclasses then cannot resolve string annotations.

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class IQAOptunaSweeperConf:
    _target_: str = "hydra_plugins.iqa_optuna_sweeper.iqa_optuna_sweeper.IQAOptunaSweeper"
    direction: str = "maximize"
    storage: Optional[str] = "sqlite:///outputs/optuna.db"
    study_name: Optional[str] = None
    n_trials: int = 20
    n_jobs: int = 1
    seeds: List[int] = field(default_factory=lambda: [42, 43, 44])
    std_penalty: float = 0.0
    max_failure_rate: float = 0.5
    heartbeat_interval: Optional[int] = 60
    grace_period: Optional[int] = None
    max_retry: Optional[int] = 3
    sampler: Dict[str, Any] = field(default_factory=lambda: {"name": "tpe", "seed": None})
    pruner: Dict[str, Any] = field(default_factory=lambda: {"name": "none"})
    params: Dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="iqa_optuna", node=IQAOptunaSweeperConf,
                             provider="iqa-sweep")


class IQAOptunaSweeper(Sweeper):
    """Each Optuna trial runs its configuration once per seed, as Hydra jobs via the configured launcher."""

    def __init__(self, **conf: Any) -> None:
        from hydra_plugins.iqa_optuna_sweeper._impl import OptunaSweep

        self.impl = OptunaSweep(conf)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> None:
        self.impl.sweep(arguments)
