"""The sweeper's storage: an Optuna RDB storage for a URL, and the URL kept out of saved configs
and printed text whenever it holds a password.

Shared by the sweeper (which asks and tells), by each job (which reports intermediate values to
its trial) and by the study inspector, so all open the same storage the same way.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Optional

import optuna
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from hydra_plugins.iqa_optuna_sweeper._shared_study import creating_tables
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError

STORAGE_ENV = "IQA_SWEEP_STORAGE"
# Query parameters some drivers take a password from (postgresql://db/x?password=...).
SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "sslpassword")


def _parse(url: str) -> Optional[URL]:
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        return None


def _secrets(url: str) -> list:
    parsed = _parse(url)
    if parsed is None:
        return []
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if key.lower() in SECRET_QUERY_KEYS:
            found += [value] if isinstance(value, str) else list(value)
    return [str(s) for s in found if s]


def masked(url: str) -> str:
    """The storage URL with any password (in the user part or the query) shown as ***."""
    parsed = _parse(url)
    if parsed is None:
        return "<storage URL that SQLAlchemy cannot parse>"
    query = {k: ("MASKED" if k.lower() in SECRET_QUERY_KEYS else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True).replace("=MASKED", "=***")


def scrub(message: str, url: str) -> str:
    """The first line of an error message about `url`, with its secrets shown as ***."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    for secret in _secrets(url):
        first = first.replace(secret, "***")
    return first


def keep_password_out_of_configs(config: DictConfig) -> None:
    """Hand a storage URL that holds a password to the jobs through the environment.

    Hydra saves the sweeper's config in `multirun.yaml` and every job's `.hydra/` files. A URL
    given in full is moved into the variable IQA_SWEEP_STORAGE of this process (which the
    launchers pass on to the jobs) and the config refers to it as `${oc.env:IQA_SWEEP_STORAGE}`,
    so the saved files never hold the password.
    """
    raw = OmegaConf.to_container(config.hydra.sweeper, resolve=False).get("storage")
    if not isinstance(raw, str) or "${" in raw or not _secrets(raw):
        return
    os.environ[STORAGE_ENV] = raw
    reference = "${oc.env:%s}" % STORAGE_ENV
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.sweeper.storage = reference
        config.hydra.overrides.hydra = [
            *(o for o in config.hydra.overrides.hydra if o.lstrip("+~").split("=")[0] != "hydra.sweeper.storage"),
            f"hydra.sweeper.storage={reference}"]


@functools.lru_cache(maxsize=8)
def open_storage(url: str, heartbeat_interval: Optional[int] = None, grace_period: Optional[int] = None,
                 create: bool = True) -> optuna.storages.RDBStorage:
    """An RDB storage for any SQLAlchemy URL (one engine per URL, heartbeat settings and process).

    A relative SQLite path is taken from the current folder; with `create` its parent folder and
    file are created, without it a missing SQLite file is an error (inspecting a typo must not
    leave an empty database behind). `heartbeat_interval` (seconds, None or 0: none) lets trials
    of a killed worker be found stale.
    """
    parsed = _parse(url)
    if parsed is None:
        raise SweepConfigError(f"hydra.sweeper.storage is not a database URL: {masked(url)} "
                               "(expected e.g. sqlite:///outputs/optuna.db or postgresql://user@host/db)")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).expanduser()
        if not create and not path.is_file():
            raise SweepConfigError(f"no storage at {masked(url)}: {path} does not exist")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with creating_tables(url):
            return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_interval or None,
                                              grace_period=grace_period if heartbeat_interval else None)
    except Exception as e:  # driver missing, host unreachable, bad credentials, ...
        raise SweepConfigError(f"cannot open storage {masked(url)}: {type(e).__name__}: {scrub(str(e), url)}") from None
