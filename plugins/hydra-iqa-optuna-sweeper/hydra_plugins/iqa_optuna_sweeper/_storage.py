"""The sweeper's storage: an Optuna RDB storage for a URL, and its secrets (a password in the URL
or in a `_target_` storage node) kept out of saved configs and printed text.

Shared by the sweeper (which asks and tells), by each job (which reports intermediate values to
its trial) and by the study inspector, so all open the same storage the same way.
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from hydra_plugins.iqa_optuna_sweeper._shared_study import creating_tables
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError

STORAGE_ENV = "IQA_SWEEP_STORAGE"
# Names some drivers take a password under: URL query parameters (postgresql://db/x?password=...)
# and connection arguments of a storage node (engine_kwargs: {connect_args: {password: ...}}).
SECRET_KEYS = ("password", "passwd", "pwd", "sslpassword")


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
        if key.lower() in SECRET_KEYS:
            found += [value] if isinstance(value, str) else list(value)
    return [str(s) for s in found if s]


def masked(url: str) -> str:
    """The storage URL with any password (in the user part or the query) shown as ***."""
    parsed = _parse(url)
    if parsed is None:
        return "<storage URL that SQLAlchemy cannot parse>"
    query = {k: ("MASKED" if k.lower() in SECRET_KEYS else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True).replace("=MASKED", "=***")


def scrub(message: str, url: str) -> str:
    """The first line of an error message about `url`, with its secrets shown as ***."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    for secret in _secrets(url):
        first = first.replace(secret, "***")
    return first


def _secret_leaves(node: Any, path: Tuple = ()) -> Iterator[Tuple[Tuple, Any]]:
    """(path, value) of each secret in a storage's config: a URL holding a password (a string, or a
    node's `url`), or the value of a password key anywhere in a `_target_` node (e.g.
    `engine_kwargs.connect_args.password`). Interpolations (`${oc.env:...}`) are references, not secrets."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).lower() in SECRET_KEYS and isinstance(value, (str, int)) and "${" not in str(value):
                yield (*path, key), value
            else:
                yield from _secret_leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _secret_leaves(value, (*path, index))
    elif isinstance(node, str) and "${" not in node and _secrets(node):
        yield path, node


def _env_name(path: Tuple) -> str:
    """IQA_SWEEP_STORAGE for a URL given as the storage, IQA_SWEEP_STORAGE_<PATH> inside a node."""
    return "_".join([STORAGE_ENV, *(re.sub(r"\W", "_", str(p)).upper() for p in path)])


def _quoted(text: str) -> str:
    """`text` as a quoted value of Hydra's override grammar (backslashes before a quote doubled)."""
    inner = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    return "'" + re.sub(r"(\\+)$", lambda m: m.group(1) * 2, inner) + "'"


def _override_value(value: Any) -> str:
    """A config value (dict, list, string, number, bool, null) in Hydra's override grammar."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_override_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_override_value(v) for v in value) + "]"
    if isinstance(value, str):
        return _quoted(value)
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)


def keep_password_out_of_configs(config: DictConfig) -> None:
    """Hand the storage's secrets to the jobs through the environment.

    Hydra saves the sweeper's config in `multirun.yaml` and every job's `.hydra/` files. Each
    secret of the storage (a URL holding a password, given as the storage or as a `_target_`
    node's `url`, or a password key inside the node) is moved into a variable IQA_SWEEP_STORAGE...
    of this process (which the launchers pass on to the jobs) and the config refers to it as
    `${oc.env:IQA_SWEEP_STORAGE...}`, so the saved files never hold it.
    """
    raw = OmegaConf.to_container(config.hydra.sweeper, resolve=False).get("storage")
    leaves = list(_secret_leaves(raw))
    if not leaves:
        return
    for path, value in leaves:
        reference = "${oc.env:%s}" % _env_name(path)
        os.environ[_env_name(path)] = str(value)
        if not path:
            raw = reference
            continue
        parent = raw
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = reference
    override = "hydra.sweeper.storage=" + (raw if isinstance(raw, str) else _override_value(raw))
    if OverridesParser.create().parse_overrides([override])[0].value() != raw:
        raise SweepConfigError("hydra.sweeper.storage holds a password, and its node cannot be written as an "
                               "override without it: give the password through ${oc.env:VAR} yourself")
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.sweeper.storage = raw
        config.hydra.overrides.hydra = [
            *(o for o in config.hydra.overrides.hydra
              if not re.match(r"[+~]*hydra\.sweeper\.storage(\.|=|$)", o)), override]


def check_sqlite_file(url: str, create: bool = True) -> None:
    """A SQLite storage must be a file (in memory, nothing is kept and no job can reach it) that
    exists when inspected and that a sweep (`create`) can write: its parent folder is created."""
    parsed = _parse(url)
    if parsed is None or parsed.get_backend_name() != "sqlite":
        return
    if parsed.database in (None, "", ":memory:"):
        hint = ("name a file (sqlite:///outputs/optuna.db), or leave hydra.sweeper.storage null for a study "
                "in the sweep's memory" if create else "name the sweep's file (sqlite:///outputs/optuna.db)")
        raise SweepConfigError(f"storage {masked(url)} is a SQLite database in memory, not a file: nothing would "
                               f"be kept and no other process could reach it; {hint}")
    path = Path(parsed.database).expanduser()
    if not create:
        if not path.is_file():
            raise SweepConfigError(f"no storage at {masked(url)}: {path} does not exist")
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with open(path, "r+b"):
                pass
    except OSError as e:
        raise SweepConfigError(f"storage {masked(url)} cannot be written: {e.filename}: {e.strerror} "
                               "(a sweep records its trials there: make it writable, or give another "
                               "hydra.sweeper.storage)") from None


@functools.lru_cache(maxsize=8)
def open_storage(url: str, heartbeat_interval: Optional[int] = None, grace_period: Optional[int] = None,
                 create: bool = True) -> optuna.storages.RDBStorage:
    """An RDB storage for any SQLAlchemy URL (one engine per URL, heartbeat settings and process).

    A relative SQLite path is taken from the current folder; with `create` its parent folder and
    file are created, without it a missing SQLite file is an error (inspecting a typo must not
    leave an empty database behind). `heartbeat_interval` (seconds, None or 0: none) lets trials
    of a killed worker be found stale.
    """
    if _parse(url) is None:
        raise SweepConfigError(f"hydra.sweeper.storage is not a database URL: {masked(url)} "
                               "(expected e.g. sqlite:///outputs/optuna.db or postgresql://user@host/db)")
    check_sqlite_file(url, create)
    try:
        with creating_tables(url):
            return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_interval or None,
                                              grace_period=grace_period if heartbeat_interval else None)
    except Exception as e:  # driver missing, host unreachable, bad credentials, ...
        raise SweepConfigError(f"cannot open storage {masked(url)}: {type(e).__name__}: {scrub(str(e), url)}") from None
