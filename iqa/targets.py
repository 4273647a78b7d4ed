"""Every `_target_` of a run, located (imported, not built) before anything is decoded or trained.

A loss, optimizer, fusion, dataset reader or logger of the user's own lives in a module the user
writes; when Python cannot import it, the run stops at start with the import's own reason and how
to make the module importable, instead of after the data is decoded and the model is built.
"""
from __future__ import annotations

import importlib
from typing import Any, Iterator, Tuple

from omegaconf import DictConfig, ListConfig

from iqa.errors import ConfigError

IMPORTABLE = ("make its module importable: put the folder that holds it on PYTHONPATH "
              "(PYTHONPATH=/path/to/folder python run.py ...) or pip install the package that provides it")


def import_failure(target: str, exc: BaseException) -> str:
    """Why `target` cannot be imported, in one line: Python's own reason, and the remedy when a
    module is missing."""
    if isinstance(exc, ModuleNotFoundError):
        return f"cannot import {target}: {exc} ({IMPORTABLE})"
    if isinstance(exc, AttributeError):
        return f"cannot import {target}: {exc}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"cannot import {target}: {type(exc).__name__}: {first}".rstrip(": ")


def locate(target: str) -> Any:
    """The object a dotted `_target_` names, importing the longest module prefix that exists;
    raises what Python raised (ModuleNotFoundError, AttributeError, or the module's own error)."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if i > 1 and e.name is not None and (name == e.name or name.startswith(e.name + ".")):
                continue  # this prefix is not a module: the rest are attributes of a shorter one
            raise
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"empty target {target!r}")


def targets(cfg) -> Iterator[Tuple[str, str]]:
    """(key, target) of every `_target_` node a run builds; of `data.sets`, only the sets it uses."""
    used_sets = {str(cfg.data.name), *map(str, cfg.data.cross)}

    def walk(node, key: str) -> Iterator[Tuple[str, str]]:
        if isinstance(node, DictConfig):
            if node._is_none() or node._is_missing():  # a node set to null (e.g. a sweeper's unused sampler)
                return
            if "_target_" in node:
                yield key, str(node._target_)
            for name in node.keys():
                if key == "data.sets" and str(name) not in used_sets:
                    continue
                child = node._get_node(name)
                if isinstance(child, (DictConfig, ListConfig)):
                    yield from walk(child, f"{key}.{name}" if key else str(name))
        elif isinstance(node, ListConfig):
            for i, child in enumerate(node):
                if isinstance(child, (DictConfig, ListConfig)):
                    yield from walk(child, f"{key}[{i}]")

    yield from walk(cfg, "")


def import_problem(target: str):
    """Why `target` cannot be imported (one line), or None when it can."""
    try:
        locate(target)
    except Exception as e:  # whatever importing the user's module raised
        return import_failure(target, e)
    return None


def check_targets(cfg) -> None:
    """Import every `_target_` of the run; raise ConfigError naming the first that cannot be."""
    for key, target in targets(cfg):
        problem = import_problem(target)
        if problem is not None:
            raise ConfigError(f"{key}: {problem}")
