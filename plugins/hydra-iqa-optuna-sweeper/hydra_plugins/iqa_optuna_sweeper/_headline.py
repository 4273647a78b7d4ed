"""The study's headline number, as the end of a sweep, `optimization_results.yaml`, the study
inspector and the study page all state it: the winner's mean ± std on the confirm seeds beside its
value on the search seeds, which the selection biased upwards (the winner's curse), and the
paired difference with the confirm baseline. Light: the inspector imports it without scipy.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional

OPTIMISTIC = "selected on test: optimistic"


def objective_attrs(conf: Mapping[str, Any]) -> Dict[str, Any]:
    """What the study records about its objective: its name (`objective_name`) and whether that
    name is one of `test_objectives` (a regular expression), i.e. the search chose on a test set."""
    name, pattern = conf.get("objective_name"), conf.get("test_objectives")
    return {"objective": None if name is None else str(name),
            "selected_on_test": bool(name is not None and pattern and re.search(str(pattern), str(name)))}


def search_value(best) -> Dict[str, Any]:
    """The winner on the search seeds: its mean ± std over them (its value without seeds)."""
    attrs = best.user_attrs
    seeds = attrs.get("seed_values")
    return {"mean": attrs.get("mean", best.value), "std": attrs.get("std"),
            "seeds": [int(s) if str(s).isdigit() else str(s) for s in seeds] if isinstance(seeds, dict) else None}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _pm(mean: Optional[float], std: Optional[float]) -> str:
    """mean ± std; "n/a" for a missing mean, or one that is not a number (a study is data anyone
    who can write to it may have set)."""
    if not _number(mean):
        return "n/a"
    return f"{mean:.4f} ± {std:.4f}" if _number(std) else f"{mean:.4f}"


def difference_text(diff: Mapping[str, Any]) -> str:
    """+0.0040 [95% CI -0.0010, +0.0090] over 3 seeds (n/a with fewer than 2 paired seeds)."""
    if diff.get("mean") is None:
        return f"n/a ({diff.get('n_paired', 0)} paired seeds)"
    ci = "" if diff.get("ci_low") is None else f" [95% CI {diff['ci_low']:+.4f}, {diff['ci_high']:+.4f}]"
    return f"{diff['mean']:+.4f}{ci} over {diff['n_paired']} seeds"


def headline(best, confirm: Optional[Mapping[str, Any]], selected_on_test: bool = False) -> List[str]:
    """The headline lines: confirm mean ± std beside the search value, then the difference with
    the baseline per returned value and metric; without confirm runs, the search value alone."""
    search = search_value(best)
    on = f" on seeds {search['seeds']}" if search["seeds"] else ""
    note = f" ({OPTIMISTIC})" if selected_on_test else ""
    if not confirm:
        return [f"Headline (trial {best.number}): {_pm(search['mean'], search['std'])}{on}, the search value "
                f"(biased upwards by the selection; not confirmed on fresh seeds){note}"]
    lines = [f"Headline (trial {best.number}): {_pm(confirm.get('mean'), confirm.get('std'))} on fresh seeds "
             f"{confirm.get('seeds')}; search value {_pm(search['mean'], search['std'])}{on}{note}"]
    baseline = confirm.get("baseline")
    try:
        lines += _baseline_lines(baseline) if baseline else []
    except (AttributeError, KeyError, TypeError, ValueError):
        lines.append("  vs baseline: not shown (the study's record of it is malformed)")
    return lines


def _baseline_lines(baseline: Mapping[str, Any]) -> List[str]:
    """The difference with the confirm baseline, per returned value and metric."""
    lines = [f"  vs baseline {' '.join(map(str, baseline['overrides']))} "
             f"({_pm(baseline.get('mean'), baseline.get('std'))}): {difference_text(baseline['difference'])}"]
    return lines + [f"    {name}: {difference_text(d)}" for name, d in baseline.get("metric_differences", {}).items()]
