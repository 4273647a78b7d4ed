"""The sweeper's search space: Hydra sweep overrides (and the deprecated `search_space` mapping)
-> Optuna distributions, with the meanings hydra-optuna-sweeper gives them.

    choice(a, b, ...), a,b        categorical
    range(start, stop[, step])    IntDistribution(start, stop, step) (floats: FloatDistribution),
                                  stop included; the grid sampler takes start, start+step, ... < stop
    shuffle(range(...))           categorical over the range's values
    interval(low, high)           FloatDistribution(low, high) (both ints: IntDistribution)
    int(interval(low, high))      IntDistribution(low, high)
    tag(log, interval(...))       the same on a log scale
    value                         a fixed override for every job (it takes the key out of the search)
    ~key, ~key=value              a delete override for every job
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import FloatRange, Override, QuotedString, ValueType
from hydra.errors import HydraException
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError

_PLAIN = re.compile(r"^[A-Za-z0-9_.:/+-]+$")
_TYPES = ("int", "float", "categorical")
_ESCAPED = re.compile(r"(\\*)('|$)")  # a quote or the end, with the backslashes before it


def _choices(override: Override) -> CategoricalDistribution:
    # The values themselves (a quoted item of `a,'b c'` is its text, `null` is None): the sweeper
    # quotes them again when it writes a trial's overrides (as_override).
    choices = [c.text if isinstance(c, QuotedString) else c for c in override.sweep_iterator()]
    if not all(isinstance(c, (str, int, float, bool, type(None))) for c in choices):
        raise SweepConfigError(f"{override.get_key_element()}: choice(...) takes plain values "
                               "(numbers, strings, booleans, null)")
    return CategoricalDistribution(choices)


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override."""
    key = override.get_key_element()
    value = override.value()
    if override.value_type == ValueType.GLOB_CHOICE_SWEEP:  # glob(...) names config files, not values
        raise SweepConfigError(f"{key}: '{override.input_line}' is not part of the search-space grammar "
                               "(choice, range, interval, int(interval), tag(log, interval))")
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        return _choices(override)
    try:
        if override.is_range_sweep():
            if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
                return FloatDistribution(float(value.start), float(value.stop), step=float(value.step))
            return IntDistribution(int(value.start), int(value.stop), step=int(value.step))
        # An interval (the grammar's last sweep): two floats, or two ints under int(...).
        log = "log" in value.tags
        if isinstance(value.start, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(value.start, value.end, log=log)
    except ValueError as e:  # Optuna's own check of the bounds
        raise SweepConfigError(f"{key}: {override.input_line.split('=', 1)[1]}: {e}") from None


def from_overrides(arguments: List[str]) -> Tuple[Dict[str, BaseDistribution], Dict[str, str], List[str]]:
    """Searched distributions, fixed `key: value` text, and delete overrides (`~key`) kept as given."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(arguments))
    except HydraException as e:
        raise SweepConfigError(f"search space: {str(e).splitlines()[0]}") from None
    space: Dict[str, BaseDistribution] = {}
    fixed: Dict[str, str] = {}
    deletes: List[str] = []
    for o in parsed:
        if o.is_delete():
            deletes.append(o.input_line)
        elif o.is_sweep_override():
            space[o.get_key_element()] = distribution(o)
        else:
            fixed[o.get_key_element()] = o.get_value_element_as_str()
    return space, fixed, deletes


def from_config(node: Mapping[str, Any]) -> BaseDistribution:
    """One entry of the deprecated `search_space` mapping: {type, low, high, step, log, choices}."""
    kind = str(node.get("type")).split(".")[-1]  # an enum value prints as DistributionType.int
    if kind not in _TYPES:
        raise SweepConfigError(f"search_space: type {node.get('type')!r} must be one of {', '.join(_TYPES)}")
    if kind == "categorical":
        return CategoricalDistribution(list(node["choices"]))
    low, high, step, log = node.get("low"), node.get("high"), node.get("step"), bool(node.get("log"))
    if kind == "int":
        return IntDistribution(int(low), int(high), log=log, step=1 if log or step is None else int(step))
    return FloatDistribution(low, high, log=log, step=None if log else step)


def params_overrides(params: Mapping[str, Any]) -> List[str]:
    """The sweeper's `params:` mapping as override strings; a list (YAML `[a, b]`) is a choice of its items."""
    out = []
    for key, value in (params or {}).items():
        if isinstance(value, (list, tuple)) or OmegaConf.is_list(value):
            items = ",".join(_text(v) for v in value)  # `a,b`: unlike choice(a, b), it takes null too
            value = items if len(value) > 1 else f"choice({items})"
        out.append(f"{key}={'null' if value is None else value}")
    return out


def _text(value: Any) -> str:
    """`value` as override text that Hydra parses back to it (strings quoted when needed)."""
    if isinstance(value, str) and not _PLAIN.match(value):
        # Hydra's quoted strings unescape only a quote and the backslashes before a quote or the end.
        return "'" + _ESCAPED.sub(lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value) + "'"
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return str(value)


def as_override(key: str, value: Any) -> str:
    """`key=value` that Hydra parses back to `value`."""
    return f"{key}={_text(value)}"


def grid_choices(key: str, dist: BaseDistribution) -> List[Any]:
    """The grid sampler's values of a discrete distribution: a range's stop is left out there."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if dist.step is not None and not dist.log:  # Hydra's own values of range(low, high, step)
        if isinstance(dist, IntDistribution):
            return list(range(dist.low, dist.high, dist.step))
        return list(FloatRange(dist.low, dist.high, dist.step))
    raise SweepConfigError(f"{key}: the grid sampler needs choice(...) or range(...), not a continuous interval")
