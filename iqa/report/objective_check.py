"""A sweep that would minimize this project's objective stops before its first job.

Every objective a run can return (`val_srcc`, `test_plcc`, `cross_<set>_krcc`, ...) is a
correlation, higher is better. The generic `hydra/sweeper=iqa_optuna` keeps hydra-optuna-sweeper's
default `direction: minimize`, so used bare on `run.py` it would search for the worst
configuration without a word; `iqa_study` is this project's settings (maximize).
"""
from __future__ import annotations

import sys
from typing import Any, List

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from iqa.config import METRICS
from iqa.errors import ConfigError


def directions(sweeper: DictConfig) -> List[str]:
    """The sweeper's directions as lower-case names (none for a sweeper without `direction`)."""
    value = OmegaConf.select(sweeper, "direction", default=None)
    items = list(value) if OmegaConf.is_list(value) or isinstance(value, (list, tuple)) else [value]
    return [str(getattr(d, "name", d)).lower() for d in items if d is not None]


def check_direction(config: DictConfig) -> None:
    """Raise ConfigError when the sweeper minimizes a correlation objective."""
    objective = str(OmegaConf.select(config, "objective", default=""))
    if objective.rsplit("_", 1)[-1] not in METRICS:
        return
    if "minimize" in directions(config.hydra.sweeper):
        raise ConfigError(f"hydra.sweeper.direction=minimize would search for the lowest objective={objective}, a "
                          "correlation (higher is better): use hydra/sweeper=iqa_study (this project's settings) "
                          "or add hydra.sweeper.direction=maximize")


class ObjectiveDirection(Callback):
    """`check_direction` when a multirun starts (conf/config.yaml registers it): one `error:` line
    and exit status 1 (Hydra turns a callback's exception into a warning and goes on)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_direction(config)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(1)
