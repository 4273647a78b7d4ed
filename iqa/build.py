"""Objects from `_target_` config nodes, through Hydra's `instantiate`.

Every pluggable part of a run (loss, optimizer, scheduler, fusion, dataset reader) is built here,
so a class of the user's own plugs in with a yaml file, and a wrong target or argument is one line
naming the config node instead of a traceback.
"""
from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from iqa.errors import ConfigError
from iqa.targets import import_problem


def _reason(exc: BaseException, target) -> str:
    """Python's reason when the target cannot be imported, else the first line of Hydra's message
    without its advice about HYDRA_FULL_ERROR."""
    problem = import_problem(str(target)) if isinstance(exc.__cause__, ImportError) else None
    if problem is not None:
        return problem
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(", set env var HYDRA_FULL_ERROR")[0]


def build(node: DictConfig, key: str, *args: Any, **kwargs: Any) -> Any:
    """`instantiate(node)`; a `_partial_` node is then called with `args` and `kwargs`.

    Raises ConfigError naming `key` (the node's place in the config) when the target cannot be
    found or rejects its arguments.
    """
    target = OmegaConf.select(node, "_target_", default=None)
    try:
        made = instantiate(node)
    except InstantiationException as e:
        raise ConfigError(f"{key}: {_reason(e, target)}") from None
    if not (args or kwargs):
        return made
    try:
        return made(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{key}: {target} rejected its arguments: {e}") from None
