"""Optuna objects from the iqa_optuna sweeper's config: storage, sampler, pruner.

Shared by the sweeper (which asks and tells) and by each job (which reports per-epoch values to
its trial), so both open the same storage and judge pruning with the same pruner.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import optuna
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from iqa.errors import ConfigError

DEFAULT_STORAGE = "sqlite:///outputs/optuna.db"

SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "qmc": optuna.samplers.QMCSampler,
    "gp": optuna.samplers.GPSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
    "bruteforce": optuna.samplers.BruteForceSampler,
}
PRUNERS = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}


def masked(url: str) -> str:
    """The storage URL with any password replaced by ***, safe to print and log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<storage URL that SQLAlchemy cannot parse>"


def _scrub(message: str, url: str) -> str:
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        password = None
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first.replace(str(password), "***") if password else first


@functools.lru_cache(maxsize=8)
def open_storage(url: Optional[str]) -> optuna.storages.RDBStorage:
    """An RDB storage for any SQLAlchemy URL (one engine per URL and process).

    A relative SQLite path is taken from the current folder and its parent folder is created.
    """
    url = url or DEFAULT_STORAGE
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"hydra.sweeper.storage is not a database URL: {masked(url)} "
                          "(expected e.g. sqlite:///outputs/optuna.db or postgresql://user@host/db)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as e:  # driver missing, host unreachable, bad credentials, ...
        raise ConfigError(f"cannot open storage {masked(url)}: {type(e).__name__}: {_scrub(str(e), url)}") from None


def _named(kind: str, table: Mapping[str, Any], node: Optional[Mapping], **extra: Any) -> Any:
    options = dict(node or {})
    name = str(options.pop("name", "none" if kind == "pruner" else "tpe"))
    if name not in table:
        raise ConfigError(f"hydra.sweeper.{kind}.name={name!r} is out of range: must be one of {', '.join(table)}")
    options = {k: v for k, v in options.items() if not (k == "seed" and v is None)}
    try:
        return table[name](**options, **extra)
    except (TypeError, ValueError, ImportError) as e:
        raise ConfigError(f"hydra.sweeper.{kind} ({name}): {e}") from None


def build_sampler(node: Optional[Mapping], grid: Optional[Dict[str, list]] = None) -> optuna.samplers.BaseSampler:
    """`{name: tpe, seed: 0, ...}`: the name picks the sampler, other keys go to its constructor."""
    name = str((node or {}).get("name", "tpe"))
    return _named("sampler", SAMPLERS, node, **({"search_space": grid} if name == "grid" else {}))


def build_pruner(node: Optional[Mapping]) -> optuna.pruners.BasePruner:
    """`{name: median, n_warmup_steps: 2, ...}`: the name picks the pruner, other keys go to its constructor."""
    return _named("pruner", PRUNERS, node)
