"""Keys the schema does not know stop a run, even when added with `+`.

Hydra lets `+trainer.epoch=3` (its own advice after a typo) into a structured config and the run
would silently ignore it, so the composed config is compared with the schema's dataclasses before
anything runs: every key must be a field, except inside fields typed as free-form (`Any`, a dict of
plain values).
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any, List, Optional, Tuple

from omegaconf import DictConfig, OmegaConf

from iqa.errors import ConfigError


def _dataclass_of(annotation: Any) -> Optional[type]:
    """The dataclass an annotation names (also inside Optional[...]), else None."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) is typing.Union:
        found = [a for a in typing.get_args(annotation) if dataclasses.is_dataclass(a)]
        return found[0] if found else None
    return None


def _below(value: Any, annotation: Any, path: str) -> List[Tuple[dict, type, str]]:
    """(subtree, dataclass, prefix) of each node under one field that has a fixed set of keys."""
    if not isinstance(value, dict):
        return []
    inner = _dataclass_of(annotation)
    if inner is not None:
        return [(value, inner, path + ".")]
    if typing.get_origin(annotation) is dict:
        element = _dataclass_of(typing.get_args(annotation)[1])
        if element is not None:
            return [(v, element, f"{path}.{k}.") for k, v in value.items() if isinstance(v, dict)]
    return []


def unknown_key(tree: dict, schema: type, prefix: str = "") -> Optional[str]:
    """The first key of `tree` (a plain dict) that `schema` (a dataclass) has no field for, with the
    nearest field as a suggestion; None when every key is known."""
    fields = typing.get_type_hints(schema)
    for key, value in tree.items():
        if key not in fields:
            near = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f": did you mean {prefix}{near[0]}?" if near else f" (the keys here are: {', '.join(fields)})"
            return f"{prefix}{key} is not a config key{hint}"
        for subtree, inner, path in _below(value, fields[key], f"{prefix}{key}"):
            found = unknown_key(subtree, inner, path)
            if found:
                return found
    return None


def check_known_keys(cfg: DictConfig, schema: type) -> None:
    """ConfigError naming the first key of the composed `cfg` that `schema` does not know."""
    problem = unknown_key(OmegaConf.to_container(cfg, resolve=False), schema)
    if problem:
        raise ConfigError(problem)
