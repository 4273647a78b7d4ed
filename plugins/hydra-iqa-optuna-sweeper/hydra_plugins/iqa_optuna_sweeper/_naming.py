"""What a study is called and what its objectives are called.

A study named from its search reads like the search (`ranking_fusion-6449f84e`, `loss.alpha-6449f84e`):
the sweep's config name when it has one of its own, else the searched keys, and always the hash
of the whole search definition, so the same command finds the same study. Studies named
`search-<hash>` before keep being found.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, Iterable, List, Optional

import optuna

DEFAULT_CONFIG_NAMES = ("config",)  # a config name that says nothing about the search
MAX_LABEL = 48


def search_hash(definition: Dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:8]


def study_name(definition: Dict[str, Any], config_name: Optional[str], searched: Iterable[str]) -> str:
    """`<config name or searched keys>-<hash of the search>`."""
    label = config_name if config_name and config_name not in DEFAULT_CONFIG_NAMES else "+".join(sorted(searched))
    label = (label or "search")[:MAX_LABEL].rstrip("+.")
    return f"{label}-{search_hash(definition)}"


def existing_name(storage, name: str, definition: Dict[str, Any]) -> str:
    """`name`, or the `search-<hash>` name the same search had before, when the storage holds that."""
    legacy = f"search-{search_hash(definition)}"
    if storage is None:
        return name
    names = set(optuna.get_all_study_names(storage))
    return legacy if legacy in names and name not in names else name


def objective_values(value: Any, metric_names: Optional[List[str]], n_objectives: int):
    """The objectives a job returned, and the other metrics of a dict it returned.

    A number (or a sequence, one per direction) is taken as it is. A dict of metrics gives the
    entries named in `metric_names` as the objectives, the rest as extra metrics.
    """
    if isinstance(value, dict) or hasattr(value, "items"):
        metrics = dict(value.items())
        if not metric_names:
            raise ValueError(f"the job returned a dict of metrics ({', '.join(map(str, metrics))}): name the ones to "
                             "optimize in hydra.sweeper.metric_names")
        missing = [m for m in metric_names if m not in metrics]
        if missing:
            raise ValueError(f"the job's metrics have no {', '.join(missing)} (metric_names); it returned "
                             f"{', '.join(map(str, metrics))}")
        values = [float(metrics[m]) for m in metric_names]
        extras = {str(k): float(v) for k, v in metrics.items()
                  if k not in metric_names and isinstance(v, (int, float)) and not isinstance(v, bool)}
        return values, extras
    values = [float(value)] if n_objectives == 1 else [float(v) for v in value]
    return values, {}
