"""Every `_target_` of a run, located (imported, not built) before anything is decoded or trained.

A loss, optimizer, fusion, dataset reader or logger of the user's own lives in a module the user
writes; when Python cannot import it, the run stops at start with the import's own reason and how
to make the module importable, instead of after the data is decoded and the model is built.
"""
from __future__ import annotations

from typing import Iterator, Tuple

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig

from iqa.errors import ConfigError

IMPORTABLE = ("make its module importable: put the folder that holds it on PYTHONPATH "
              "(PYTHONPATH=/path/to/folder python run.py ...) or pip install the package that provides it")


def _root_cause(exc: BaseException) -> BaseException:
    """The first error of the chain Hydra wraps an import failure in."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def import_failure(target: str, exc: BaseException) -> str:
    """Why `target` cannot be imported, in one line: Python's own reason, and the remedy when a
    module is missing."""
    cause = _root_cause(exc)
    if isinstance(cause, ModuleNotFoundError):
        return f"cannot import {target}: {cause} ({IMPORTABLE})"
    if isinstance(cause, AttributeError):
        return f"cannot import {target}: {cause}"
    first = str(cause).splitlines()[0] if str(cause) else ""
    return f"cannot import {target}: {type(cause).__name__}: {first}".rstrip(": ")


def targets(cfg) -> Iterator[Tuple[str, str]]:
    """(key, target) of every `_target_` node a run builds; of `data.sets`, only the sets it uses."""
    used_sets = {str(cfg.data.name), *map(str, cfg.data.cross)}

    def walk(node, key: str) -> Iterator[Tuple[str, str]]:
        if isinstance(node, DictConfig):
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


def check_targets(cfg) -> None:
    """Import every `_target_` of the run; raise ConfigError naming the first that cannot be."""
    for key, target in targets(cfg):
        try:
            get_object(target)
        except Exception as e:  # whatever importing the user's module raised
            raise ConfigError(f"{key}: {import_failure(target, e)}") from None
