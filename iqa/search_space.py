"""The iqa_optuna sweeper's search-space grammar: Hydra sweep overrides -> Optuna distributions.

    choice(a, b, ...)            categorical (also plain `a,b`)
    range(start, stop[, step])   integers or floats from start up to stop (exclusive), as in Python
    interval(low, high)          float uniform in [low, high]
    int(interval(low, high))     integer uniform in [low, high]
    tag(log, interval(...))      the same on a log scale (floats or int(...))
    value                        a fixed override for every job
"""
from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Mapping, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override
from hydra.errors import HydraException
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from iqa.errors import ConfigError

_PLAIN = re.compile(r"^[A-Za-z0-9_.:/+-]+$")


def _distribution(override: Override) -> BaseDistribution:
    key, value = override.get_key_element(), override.value()
    if isinstance(value, ChoiceSweep):
        choices = list(value.list)
        if not all(isinstance(c, (str, int, float, bool, type(None))) for c in choices):
            raise ConfigError(f"{key}: choice(...) takes plain values (numbers, strings, booleans, null)")
        return CategoricalDistribution(choices)
    if override.is_range_sweep():
        if value.shuffle:
            return CategoricalDistribution(list(override.sweep_iterator()))
        start, stop, step = value.start, value.stop, value.step
        if step <= 0 or stop <= start:
            raise ConfigError(f"{key}: range needs start < stop and a positive step, got {start}, {stop}, {step}")
        last = start + (math.ceil((stop - start) / step) - 1) * step
        if all(isinstance(v, int) for v in (start, stop, step)):
            return IntDistribution(start, last, step=step)
        return FloatDistribution(float(start), float(last), step=float(step))
    if override.is_interval_sweep():
        log = "log" in value.tags
        if log and value.start <= 0:
            raise ConfigError(f"{key}: a log interval needs a positive lower bound, got {value.start}")
        if value.start > value.end:
            raise ConfigError(f"{key}: interval needs low <= high, got {value.start}, {value.end}")
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ConfigError(f"{key}: '{override.input_line}' is not part of the search-space grammar "
                      "(choice, range, interval, int(interval), tag(log, interval))")


def parse(overrides: List[str]) -> Tuple[Dict[str, BaseDistribution], Dict[str, str]]:
    """Split `key=expr` strings into searched distributions and fixed overrides (`key=value` text)."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as e:
        raise ConfigError(f"search space: {str(e).splitlines()[0]}") from None
    space: Dict[str, BaseDistribution] = {}
    fixed: Dict[str, str] = {}
    for o in parsed:
        if o.is_sweep_override():
            space[o.get_key_element()] = _distribution(o)
        else:
            fixed[o.get_key_element()] = o.get_value_element_as_str()
    return space, fixed


def from_params(params: Mapping[str, Any]) -> List[str]:
    """The sweeper's `params:` mapping as override strings (YAML numbers and lists become text)."""
    out = []
    for key, value in (params or {}).items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        out.append(f"{key}={'null' if value is None else value}")
    return out


def as_override(key: str, value: Any) -> str:
    """`key=value` that Hydra parses back to `value` (strings quoted when needed)."""
    if isinstance(value, str) and not _PLAIN.match(value):
        value = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    elif isinstance(value, bool):
        value = str(value).lower()
    elif value is None:
        value = "null"
    return f"{key}={value}"


def grid_choices(key: str, dist: BaseDistribution) -> List[Any]:
    """Every value of a discrete distribution, for the grid sampler."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if dist.step is not None and not getattr(dist, "log", False):
        n = int(round((dist.high - dist.low) / dist.step)) + 1
        return [round(dist.low + i * dist.step, 12) for i in range(n)]
    raise ConfigError(f"{key}: the grid sampler needs choice(...) or range(...), not a continuous interval")
