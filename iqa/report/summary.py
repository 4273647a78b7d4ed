"""Mean ± std tables of a sweep: one row per configuration (overrides minus seed) over its seeds.

Each row is also compared with the best row on the objective by a paired test over the seeds both
share, so a difference can be told apart from run-to-run noise. Written as `summary.csv` (numbers)
and `summary.md` (the printed table) in the sweep folder.
"""
from __future__ import annotations

import math
import statistics
import warnings
from collections import Counter
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from scipy import stats

from iqa.atomic import write_csv, write_text
from iqa.errors import DataError
from iqa.report import paper
from iqa.report.runs import Run, override_key, scan

TEST_METRICS = ("srcc", "plcc", "krcc")
CROSS_METRICS = ("srcc", "plcc")
ALPHA = 0.05


def metric_values(metrics: Mapping) -> Dict[str, float]:
    """The per-run numbers a table averages, named as the table's column stems."""
    values = {f"{split}_{m}": metrics[f"{split}_{m}"] for split in ("test", "val") for m in TEST_METRICS
              if f"{split}_{m}" in metrics}
    for name, cross in (metrics.get("cross") or {}).items():
        values.update({f"cross_{name}_{m}": cross[m] for m in CROSS_METRICS})
    values["best_epoch"] = metrics["best_epoch"]
    return {k: (math.nan if v is None else float(v)) for k, v in values.items()}


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN for a single value)."""
    mean = statistics.fmean(values) if values else math.nan
    return mean, statistics.stdev(values) if len(values) > 1 else math.nan


def paired_test(a: Mapping[int, float], b: Mapping[int, float]) -> Dict[str, float]:
    """Compare two configurations over the seeds both ran: mean difference a - b and p-values.

    The paired t-test is the verdict; Wilcoxon's signed-rank test is given alongside (with fewer
    than 6 seeds it cannot reach p < 0.05, whatever the difference).
    """
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds]
    out = {"n_paired": len(seeds), "delta": statistics.fmean(diffs) if diffs else math.nan,
           "p_ttest": math.nan, "p_wilcoxon": math.nan}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(seeds) >= 2:
            out["p_ttest"] = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
        if any(d != 0 for d in diffs):
            out["p_wilcoxon"] = float(stats.wilcoxon(diffs).pvalue)
    return out


def verdict(test: Mapping[str, float]) -> str:
    p = test["p_ttest"]
    if math.isnan(p):
        return "too few shared seeds" if test["n_paired"] < 2 else "no spread to test"
    return f"{'larger than' if p < ALPHA else 'within'} seed noise (p={p:.3g})"


class Summary:
    """The runs of one sweep folder, grouped by configuration."""

    def __init__(self, sweep_dir, runs: List[Run]):
        self.sweep_dir = Path(sweep_dir)
        self.runs = runs
        self.done = [r for r in runs if r.status == "done"]
        self.not_done = [r for r in runs if r.status != "done"]
        groups: Dict[Tuple[str, ...], List[Run]] = {}
        for r in self.done:
            groups.setdefault(r.group, []).append(r)
        self.groups = groups
        all_overrides = [set(r.group) for r in runs]
        shared = set.intersection(*all_overrides) if all_overrides else set()
        self.common = sorted(shared, key=override_key)
        self.varying = list(dict.fromkeys(override_key(o) for r in runs for o in r.group if o not in shared))
        objectives = Counter(r.metrics.get("objective", "test_srcc") for r in self.done)
        self.objective = objectives.most_common(1)[0][0] if objectives else "test_srcc"
        self.rows = self._rows()

    def _objective_by_seed(self, runs: List[Run]) -> Dict[int, float]:
        return {r.seed: metric_values(r.metrics).get(self.objective, math.nan) for r in runs}

    def _rows(self) -> List[Dict]:
        rows = []
        for group, runs in self.groups.items():
            settings = dict(o.split("=", 1) for o in group if o not in self.common)
            row = {"overrides": " ".join(group), **{k: settings.get(k, "") for k in self.varying},
                   "n": len(runs), "seeds": " ".join(str(s) for s in sorted(r.seed for r in runs))}
            per_run = [metric_values(r.metrics) for r in runs]
            for stem in dict.fromkeys(k for v in per_run for k in v):
                mean, std = mean_std([v[stem] for v in per_run if stem in v])
                row[f"{stem}_mean"] = mean
                if stem != "best_epoch":
                    row[f"{stem}_std"] = std
            rows.append((group, row))
        rows.sort(key=lambda gr: -_nan_low(gr[1].get(f"{self.objective}_mean", math.nan)))
        if rows:
            best = self._objective_by_seed(self.groups[rows[0][0]])
            for group, row in rows[1:]:
                test = paired_test(self._objective_by_seed(self.groups[group]), best)
                row.update({f"vs_best_{k}": v for k, v in test.items()})
                row["vs_best"] = verdict(test)
        return [row for _, row in rows]

    def label(self, row: Mapping) -> str:
        return paper.label(self, row)

    def markdown(self) -> str:
        counts = Counter(r.status for r in self.runs)
        lines = [f"# Sweep summary: {self.sweep_dir}", "",
                 f"{len(self.runs)} runs: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in
                                                          ("done", "failed", "pruned", "incomplete")) + "."]
        if self.common:
            lines.append(f"Common overrides: `{' '.join(self.common)}`.")
        if self.rows:
            lines += ["", f"Mean ± sample std over seeds. Each row is compared with the first (best {self.objective}) "
                          "by a paired t-test over the seeds both ran.", ""]
            lines += _table(self.rows, self._columns(), self)
        if self.not_done:
            lines += ["", "## Runs without metrics", "", "| run | status | reason |", "|---|---|---|"]
            lines += [f"| {_rel(r.path, self.sweep_dir)} | {r.status} | {r.reason} |" for r in self.not_done]
        return "\n".join(lines) + "\n"

    def _columns(self) -> List[str]:
        """Metric stems in first-seen order, best epoch last."""
        stems = list(dict.fromkeys(c[:-5] for row in self.rows for c in row if c.endswith("_mean")))
        return sorted(stems, key=lambda s: s == "best_epoch")

    def write(self) -> str:
        """Write summary.csv and summary.md into the sweep folder; return the markdown."""
        text = self.markdown()
        write_csv(self.sweep_dir / "summary.csv", self.rows)
        write_text(self.sweep_dir / "summary.md", text)
        paper.write(self, self._columns(), _heading)
        return text


def _nan_low(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _fmt(mean: Optional[float], std: Optional[float] = None, digits: int = 4) -> str:
    if mean is None or math.isnan(mean):
        return "n/a"
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _heading(stem: str) -> str:
    """test_srcc -> test SRCC, cross_spaq_plcc -> spaq PLCC, best_epoch -> best epoch."""
    if stem == "best_epoch":
        return "best epoch"
    scope, metric = stem.rsplit("_", 1)
    return f"{scope.removeprefix('cross_')} {metric.upper()}"


def _table(rows: List[Dict], stems: List[str], summary: Summary) -> List[str]:
    trials = paper.has_trials(summary)
    header = (["configuration"] + (["trial"] if trials else []) + ["n"] + [_heading(s) for s in stems]
              + ["Δ vs best", "vs best"])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        trial = paper.trial_number(paper.runs_of(summary, row)) if trials else None
        cells = [summary.label(row)] + ([str(trial) if trial is not None else ""] if trials else [])
        cells += [str(row["n"])]
        cells += [paper.cell(row, s) for s in stems]
        cells += [_fmt(row.get("vs_best_delta"), None, 3) if "vs_best_delta" in row else "", row.get("vs_best", "best")]
        out.append("| " + " | ".join(cells) + " |")
    return out


def summarize(sweep_dir) -> Summary:
    """Group the run folders under `sweep_dir`; DataError if there are none."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise DataError(f"sweep folder {sweep_dir} does not exist")
    runs = scan(sweep_dir)
    if not runs:
        raise DataError(f"no run folders (with .hydra/overrides.yaml) under {sweep_dir}")
    return Summary(sweep_dir, runs)
