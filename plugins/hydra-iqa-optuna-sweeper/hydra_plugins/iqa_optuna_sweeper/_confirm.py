"""Confirm runs: after the search, the best trial's configuration re-run on `confirm_seeds`, which
the search never used, so its number is not inflated by having been chosen on the same seeds (the
winner's curse); with `confirm_baseline`, a reference configuration on the same seeds and the paired
difference winner - baseline with its 95% t interval over the seeds.
"""
from __future__ import annotations

import json
import logging
import math
import statistics
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from hydra_plugins.iqa_optuna_sweeper._headline import headline, search_value
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError

log = logging.getLogger(__name__)
CONFIRM_DIR = "confirm/seed_{seed}"
BASELINE_DIR = "confirm_baseline/seed_{seed}"
LEVEL = 0.95


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def check_baseline(conf: Mapping[str, Any]) -> List[str]:
    """The confirm baseline's overrides; SweepConfigError when they cannot make one configuration."""
    overrides = [str(o) for o in (conf["confirm_baseline"] or [])]
    if not overrides:
        return []
    if not conf["confirm_seeds"]:
        raise SweepConfigError("hydra.sweeper.confirm_baseline needs confirm_seeds: the baseline runs on the "
                               "confirm seeds")
    for text in overrides:
        try:
            parsed = OverridesParser.create().parse_overrides([text])[0]
        except HydraException:
            parsed = None
        if parsed is None or parsed.is_sweep_override() or parsed.is_delete():
            raise SweepConfigError(f"hydra.sweeper.confirm_baseline: {text!r} is not a plain override key=value")
        if _key(text) == conf["seed_key"]:
            raise SweepConfigError(f"hydra.sweeper.confirm_baseline sets {conf['seed_key']}, which the sweeper "
                                   "sets on each job: the baseline runs on confirm_seeds")
    return overrides


def mean_std(xs: Sequence[float]) -> Dict[str, Optional[float]]:
    """Mean and sample std (ddof 1) over the seeds; None where there are too few values."""
    return {"mean": statistics.fmean(xs) if xs else None, "std": statistics.stdev(xs) if len(xs) > 1 else None}


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> Dict[str, Any]:
    """a - b over the seeds both have: mean, sample std and the 95% t confidence interval (scipy)."""
    from scipy import stats

    seeds = [s for s in a if s in b]
    diffs = [a[s] - b[s] for s in seeds]
    out: Dict[str, Any] = {"n_paired": len(diffs), **mean_std(diffs), "ci_low": None, "ci_high": None}
    if len(diffs) > 1:
        if out["std"] == 0:
            out["ci_low"] = out["ci_high"] = out["mean"]
        else:
            low, high = stats.t.interval(LEVEL, len(diffs) - 1, loc=out["mean"], scale=stats.sem(diffs))
            out["ci_low"], out["ci_high"] = float(low), float(high)
    return out


class ConfirmRuns:
    """The confirm jobs of one sweep: launched through the sweep's launcher, read back, summarised."""

    def __init__(self, sweep) -> None:
        self.sweep, self.conf = sweep, sweep.conf
        self.seeds = [int(s) for s in self.conf["confirm_seeds"]]
        self.metric_names = list(self.conf["confirm_metrics"] or [])

    def _baseline_jobs(self, overrides: List[str]) -> List[List[str]]:
        """The sweep's fixed overrides and deletes, the baseline's overrides taking precedence."""
        keys = {_key(o) for o in overrides}
        jobs = self.sweep._jobs(None, None, {}, self.seeds, BASELINE_DIR)
        return [[o for o in job if _key(o) not in keys] + overrides for job in jobs]

    def _read(self, returns) -> Dict[str, Any]:
        """Each seed's returned value, the metrics of `confirm_metrics`, and why a seed has none."""
        from hydra_plugins.iqa_optuna_sweeper._impl import _job_value

        values: Dict[int, float] = {}
        failed: Dict[int, str] = {}
        per_metric: Dict[str, Dict[int, float]] = {m: {} for m in self.metric_names}
        for seed, ret in zip(self.seeds, returns):
            try:
                values[seed] = _job_value(ret, 1, self.conf["metric_names"])[0][0]
            except Exception as e:  # recorded as the seed's reason, the others still count
                failed[seed] = self.sweep._reason(ret, e)
                continue
            if self.conf["metrics_file"] and per_metric:
                record = json.loads((Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
                                     / self.conf["metrics_file"]).read_text())
                for m in per_metric:
                    per_metric[m][seed] = float(record[m])
        return {"values": values, "failed": failed, "per_metric": per_metric}

    def _recorded(self, study, best, baseline: List[str]) -> Optional[Dict[str, Any]]:
        """The study's confirm record when it is of this winner, seeds, baseline and metrics, with
        no failed seed: a re-run that found no better trial then launches nothing again."""
        before = study.user_attrs.get("confirm")
        if not before or before.get("failed") or (before.get("baseline") or {}).get("failed"):
            return None
        same = (before.get("trial") == best.number and before.get("seeds") == self.seeds
                and (before.get("baseline") or {}).get("overrides", []) == baseline
                and sorted(before.get("metrics", {})) == sorted(self.metric_names))
        return before if same else None

    def run(self, study, best) -> Dict[str, Any]:
        """Run the winner (and the baseline) on the confirm seeds; record the result on the study."""
        baseline = check_baseline(self.conf)
        recorded = self._recorded(study, best, baseline)
        if recorded is not None:
            log.info("trial %d was confirmed on seeds %s already (in %s): not run again", best.number, self.seeds,
                     recorded.get("sweep_dir"))
            for line in headline(best, recorded, bool(study.user_attrs.get("selected_on_test"))):
                log.info("%s", line)
            return recorded
        log.info("confirming trial %d on seeds %s%s", best.number, self.seeds,
                 f" with baseline {' '.join(baseline)}" if baseline else "")
        jobs = self.sweep._jobs(study, None, best.params, self.seeds, CONFIRM_DIR)
        if baseline:
            jobs += self._baseline_jobs(baseline)
        returns = self.sweep._launch(jobs)
        winner = self._read(returns[:len(self.seeds)])
        confirm = {"trial": best.number, "seeds": self.seeds, "values": winner["values"],
                   **mean_std(list(winner["values"].values())),
                   "metrics": {m: mean_std(list(xs.values())) for m, xs in winner["per_metric"].items()},
                   "failed": winner["failed"], "search": search_value(best),
                   "sweep_dir": str(self.sweep.sweep_dir.resolve())}
        if baseline:
            base = self._read(returns[len(self.seeds):])
            confirm["baseline"] = {
                "overrides": baseline, "values": base["values"], **mean_std(list(base["values"].values())),
                "failed": base["failed"],
                "metrics": {m: mean_std(list(xs.values())) for m, xs in base["per_metric"].items()},
                "difference": paired_difference(winner["values"], base["values"]),
                "metric_differences": {m: paired_difference(winner["per_metric"][m], base["per_metric"][m])
                                       for m in self.metric_names}}
        study.set_user_attr("confirm", _json_safe(confirm))
        shown = ", ".join(f"{m} {s['mean']:.4f} ± {s['std'] or 0:.4f}" for m, s in confirm["metrics"].items()
                          if s["mean"] is not None)
        log.info("confirm seeds %s: value %s ± %s%s%s", self.seeds, confirm["mean"], confirm["std"],
                 f"; {shown}" if shown else "", f"; failed {winner['failed']}" if winner["failed"] else "")
        for line in headline(best, confirm, bool(study.user_attrs.get("selected_on_test"))):
            log.info("%s", line)
        return confirm


def _json_safe(value):
    """A study attribute is JSON: seeds become string keys, NaN is not expected (None stands for n/a)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
