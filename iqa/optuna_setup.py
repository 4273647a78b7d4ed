"""Optuna objects from the iqa_optuna sweeper's config: storage, sampler, pruner.

Shared by the sweeper (which asks and tells) and by each job (which reports per-epoch values to
its trial), so both open the same storage and judge pruning with the same pruner.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import optuna
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from iqa.errors import ConfigError
from iqa.shared_study import creating_tables

DEFAULT_STORAGE = "sqlite:///outputs/optuna.db"
STORAGE_ENV = "IQA_SWEEP_STORAGE"

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


def _password(url: str) -> Optional[str]:
    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None


def _scrub(message: str, url: str) -> str:
    password = _password(url)
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first.replace(str(password), "***") if password else first


def keep_password_out_of_configs(config: DictConfig) -> None:
    """Hand a storage URL that holds a password to the jobs through the environment.

    Hydra saves the sweeper's config in `multirun.yaml` and every job's `.hydra/` files. A URL
    given in full is moved into the variable IQA_SWEEP_STORAGE of this process (which the
    launchers pass on to the jobs) and the config refers to it as `${oc.env:IQA_SWEEP_STORAGE}`,
    so the saved files never hold the password.
    """
    raw = OmegaConf.to_container(config.hydra.sweeper, resolve=False).get("storage")
    if not isinstance(raw, str) or "${" in raw or not _password(raw):
        return
    os.environ[STORAGE_ENV] = raw
    reference = "${oc.env:%s}" % STORAGE_ENV
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.sweeper.storage = reference
        config.hydra.overrides.hydra = [
            *(o for o in config.hydra.overrides.hydra if o.lstrip("+~").split("=")[0] != "hydra.sweeper.storage"),
            f"hydra.sweeper.storage={reference}"]


@functools.lru_cache(maxsize=8)
def open_storage(url: Optional[str], heartbeat_interval: Optional[int] = None,
                 grace_period: Optional[int] = None) -> optuna.storages.RDBStorage:
    """An RDB storage for any SQLAlchemy URL (one engine per URL, heartbeat settings and process).

    A relative SQLite path is taken from the current folder and its parent folder is created.
    `heartbeat_interval` (seconds, None or 0: none) lets trials of a killed worker be found stale.
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
        with creating_tables(url):
            return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_interval or None,
                                              grace_period=grace_period if heartbeat_interval else None)
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
