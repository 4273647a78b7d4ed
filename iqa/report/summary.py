"""Tables of a sweep: one row per configuration (overrides minus `seed` and `data.split_seed`)
over all its (split, seed) replicates, with mean ± std, median and min–max.

Each row is compared with a baseline row (named, or the best row on the objective) by a paired
test over what varies independently, with a 95% confidence interval for the difference, p-values
Holm-corrected across rows, and the number of replicates a given difference would need to be
detected: so a gain can be told apart from run-to-run noise. On one split the seeds are the
replicates; over several splits the split is (seeds averaged within it), and random re-splits of
one dataset get Nadeau and Bengio's correction for their overlapping training sets
(docs/protocol.md). Written as `summary.csv` (numbers) and `summary.md` (the printed table) in the
sweep folder.
"""
from __future__ import annotations

import math
import statistics
import warnings
from collections import Counter
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from omegaconf import OmegaConf
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from iqa.atomic import write_csv, write_text
from iqa.errors import ConfigError, DataError
from iqa.evaluation.metrics import OPTIMISTIC, REPORTED, selected_on_test
from iqa.report import paper
from iqa.report.runs import Run, is_confirm, metric_values, override_key, scan
from iqa.run_folder import RunFolder

ALPHA = 0.05
POWER = 0.8
# The smallest SRCC gain worth detecting by default: about the seed-to-seed spread on KonIQ.
DETECT_DELTA = 0.003
# Columns of the printed table (summary.csv has every metric).
TABLE_METRICS = {"val": ("srcc",), "test": REPORTED, "cross": ("srcc", "plcc")}

Replicate = Tuple[Optional[int], Optional[int]]
# Split units searched for the number needed to reach POWER when overlap bounds the variance from below.
MAX_UNITS = 1000


def run_selected_on_test(metrics: Mapping) -> bool:
    """Whether the run chose its epoch on a test set (its own flag, else read from its monitor;
    runs from before validation parts existed monitored test_srcc)."""
    if "selected_on_test" in metrics:
        return bool(metrics["selected_on_test"])
    return selected_on_test(str(metrics.get("monitor", "test_srcc")))


def spread(values: Sequence[float]) -> Dict[str, float]:
    """Mean, sample std (ddof=1; NaN for one value), median, min, max and the count `n` they are
    over, NaNs left out."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return {**dict.fromkeys(("mean", "std", "median", "min", "max"), math.nan), "n": 0}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else math.nan,
            "median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def replicates_needed(delta: float, sd: float, overlap: float = 0.0) -> float:
    """Paired replicates a two-sided t-test at ALPHA needs to detect a mean difference `delta` with
    POWER when the differences have standard deviation `sd` (NaN without a spread).

    With `overlap` = n_test / n_train > 0 (split units under Nadeau and Bengio's correction) the
    variance of the mean is sd² (1/J + overlap), which more splits never bring below sd² overlap:
    the smallest J up to MAX_UNITS that reaches POWER, else infinity (no number of re-splits of this
    dataset detects `delta`)."""
    if not sd > 0 or delta == 0:
        return math.nan
    if overlap == 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            n = TTestPower().solve_power(effect_size=abs(delta) / sd, alpha=ALPHA, power=POWER)
        if not math.isnan(n):  # the root finder gives up on very large or small effects: count instead
            return float(max(2, math.ceil(n)))
    for units in range(2, MAX_UNITS + 1):
        if _power(abs(delta) / (sd * math.sqrt(1 / units + overlap)), units - 1) >= POWER:
            return float(units)
    return math.inf


def _power(noncentrality: float, df: int) -> float:
    """Power of a two-sided t-test at ALPHA (noncentral t)."""
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    return float(stats.nct.sf(crit, df, noncentrality) + stats.nct.cdf(-crit, df, noncentrality))


def paired_test(a: Mapping[Replicate, float], b: Mapping[Replicate, float]) -> Dict[str, float]:
    """Compare two configurations over the replicates both ran: mean difference a - b, its 95%
    confidence interval, and p-values.

    The paired t-test is the verdict; Wilcoxon's signed-rank test is given alongside (with fewer
    than 6 replicates it cannot reach p < 0.05, whatever the difference).
    """
    keys = sorted((k for k in set(a) & set(b) if not (math.isnan(a[k]) or math.isnan(b[k]))), key=str)
    diffs = [a[k] - b[k] for k in keys]
    out = {"unit": "seed", "n_paired": len(keys), "delta": statistics.fmean(diffs) if diffs else math.nan,
           "ci_low": math.nan, "ci_high": math.nan, "sd_diff": math.nan, "p_ttest": math.nan, "p_wilcoxon": math.nan}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(keys) >= 2:
            out["sd_diff"] = statistics.stdev(diffs)
            result = stats.ttest_rel([a[k] for k in keys], [b[k] for k in keys])
            out["p_ttest"] = float(result.pvalue)
            ci = result.confidence_interval(1 - ALPHA)
            out["ci_low"], out["ci_high"] = float(ci.low), float(ci.high)
        if any(d != 0 for d in diffs):
            out["p_wilcoxon"] = float(stats.wilcoxon(diffs).pvalue)
    return out


def split_test(a: Mapping[Replicate, float], b: Mapping[Replicate, float],
               overlap: Optional[float]) -> Dict[str, float]:
    """Compare two configurations with the split as the unit: the paired differences over the
    replicates both ran are averaged over seeds within each split seed, and a t-test over those
    split means gives the mean difference, its 95% CI and the p-value.

    `overlap` = n_test / n_train for random re-splits of one dataset: their training sets overlap,
    so the split means are positively correlated and the variance of their mean is not s²/J but
    s² (1/J + n_test/n_train) (Nadeau and Bengio's corrected resampled t-test); None: splits taken
    as independent (s²/J). The CI uses the same standard error, on J - 1 degrees of freedom."""
    keys = [k for k in set(a) & set(b) if not (math.isnan(a[k]) or math.isnan(b[k]))]
    per_split: Dict = {}
    for k in keys:
        per_split.setdefault(k[0], []).append(a[k] - b[k])
    means = [statistics.fmean(v) for _, v in sorted(per_split.items(), key=lambda kv: str(kv[0]))]
    units = len(means)
    out = {"unit": "split", "n_paired": units, "n_runs_paired": len(keys),
           "delta": statistics.fmean(means) if means else math.nan, "overlap": math.nan if overlap is None else overlap,
           "ci_low": math.nan, "ci_high": math.nan, "sd_diff": math.nan, "p_ttest": math.nan, "p_wilcoxon": math.nan}
    if units >= 2:
        out["sd_diff"] = statistics.stdev(means)
        se = out["sd_diff"] * math.sqrt(1 / units + (overlap or 0.0))
        if se > 0:
            t = out["delta"] / se
            out["p_ttest"] = float(2 * stats.t.sf(abs(t), units - 1))
            half = float(stats.t.ppf(1 - ALPHA / 2, units - 1)) * se
            out["ci_low"], out["ci_high"] = out["delta"] - half, out["delta"] + half
    if overlap is None and any(m != 0 for m in means):  # a rank test has no overlap correction
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["p_wilcoxon"] = float(stats.wilcoxon(means).pvalue)
    return out


def holm(p_values: Sequence[float]) -> List[float]:
    """Holm-corrected p-values (statsmodels), NaN where the input is NaN."""
    finite = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    out = [math.nan] * len(p_values)
    if finite:
        for i, p in zip(finite, multipletests([p_values[i] for i in finite], method="holm")[1]):
            out[i] = float(p)
    return out


def verdict(test: Mapping[str, float], p_key: str = "p_ttest") -> str:
    p = test[p_key]
    if math.isnan(p):
        return "too few shared replicates" if test["n_paired"] < 2 else "no spread to test"
    label = "Holm p" if p_key == "p_holm" else "p"
    return f"{'larger than' if p < ALPHA else 'within'} run-to-run noise ({label}={p:.3g})"


def default_baseline(ranked: Sequence[Tuple[str, ...]]) -> Tuple[str, ...]:
    """The best configuration that is not the Optuna sweeper's confirm runs: those ran on seeds no
    other row shares, so as baseline they would leave every row without a paired replicate."""
    return next((group for group in ranked if not is_confirm(group)), ranked[0])


def split_overlap(runs: Sequence[Run]) -> Tuple[Optional[float], str]:
    """(n_test / n_train averaged over `runs`, "Nadeau-Bengio corrected ...") when the runs are random
    re-splits of one dataset that record their sizes; (None, why uncorrected) otherwise: a given
    split (a split file, column or the official one) whose split seeds redraw only the validation
    part shares its test set, and runs from before sizes were recorded cannot be corrected."""
    if any(not _random_split(r) for r in runs[:1]):
        return None, ("no overlap correction: the split seeds redraw only the validation part of a given split, "
                      "so the verdict is about its test set")
    sizes = [(r.metrics.get("n_test"), r.metrics.get("n_train")) for r in runs]
    if not sizes or any(not (isinstance(t, (int, float)) and isinstance(n, (int, float)) and n > 0) for t, n in sizes):
        return None, ("NOT corrected for overlapping training sets: the runs do not record n_train and n_test, "
                      "so the p-value and CI are optimistic")
    overlap = statistics.fmean(t / n for t, n in sizes)
    return overlap, f"Nadeau-Bengio corrected for overlapping training sets (variance × (1/J + n_test/n_train), " \
                    f"n_test/n_train = {overlap:.3g})"


def _random_split(run: Run) -> bool:
    """Whether the run drew its split from data.split_seed (the default), read from its composed config."""
    try:
        data = OmegaConf.select(OmegaConf.load(RunFolder(run.path).config), "data") or {}
    except Exception:  # no readable config (a copied run folder): the default, a random split
        return True
    return data.get("split", "random") == "random" and not data.get("split_file") and not data.get("split_column")


def compared_metric(objective: str) -> str:
    """The metric rows are compared on: the test counterpart of a validation objective (rows are
    ranked on validation, compared on test), else the objective itself."""
    return "test_" + objective[len("val_"):] if objective.startswith("val_") else objective


class Summary:
    """The runs of one sweep folder, grouped by configuration.

    `baseline`: the overrides that pick the row every other row is compared with (default: the
    best row on the objective); `metric`: what the comparison is on (default `compared_metric`);
    `detect_delta`: the difference whose needed number of replicates the table gives.
    """

    def __init__(self, sweep_dir, runs: List[Run], baseline: Optional[str] = None, metric: Optional[str] = None,
                 detect_delta: float = DETECT_DELTA):
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
        self.objective = objectives.most_common(1)[0][0] if objectives else "val_srcc"
        self.metric = metric or compared_metric(self.objective)
        if self.done and self.metric not in metric_values(self.done[0].metrics):
            raise ConfigError(f"metric {self.metric!r} is not a run metric: one of "
                              f"{', '.join(metric_values(self.done[0].metrics))}")
        self.detect_delta = detect_delta
        self.baseline = self.pick(baseline) if baseline else None
        self.rows = self._rows()

    def pick(self, wanted: str, what: str = "baseline") -> Tuple[str, ...]:
        """The one configuration whose overrides include every `key=value` in `wanted`."""
        need = set(wanted.split())
        hits = [g for g in self.groups if need <= set(g)]
        if len(hits) != 1:
            labels = "; ".join(" ".join(g) or "(no overrides)" for g in self.groups)
            raise ConfigError(f"{what} '{wanted}' matches {len(hits)} configurations (need exactly 1) "
                              f"among: {labels}")
        return hits[0]

    def values(self, group: Tuple[str, ...], metric: Optional[str] = None) -> Dict[Replicate, float]:
        """{(split_seed, seed): value} of one configuration's runs."""
        return {r.replicate: metric_values(r.metrics).get(metric or self.metric, math.nan) for r in self.groups[group]}

    def test(self, group: Tuple[str, ...], base: Tuple[str, ...]) -> Dict:
        """The comparison of configuration `group` with `base` on the summary's metric, over the unit
        that varies independently: the seeds when the replicates both ran share one split seed
        (`paired_test`), else the split seeds (`split_test`, corrected for overlapping training sets
        when the splits are random re-splits and every run records its sizes). `unit_text` says
        which, in words."""
        a, b = self.values(group), self.values(base)
        shared = [k for k in set(a) & set(b) if not (math.isnan(a[k]) or math.isnan(b[k]))]
        if len({k[0] for k in shared}) < 2:
            test = paired_test(a, b)
            test["unit_text"] = "seeds paired within one split (the verdict is about this split)"
            return test
        runs = [r for g in (group, base) for r in self.groups[g] if r.replicate in set(shared)]
        overlap, why = split_overlap(runs)
        test = split_test(a, b, overlap)
        test["unit_text"] = f"split seeds (seeds averaged within each split), {why}"
        return test

    def _rows(self) -> List[Dict]:
        rows = []
        for group, runs in self.groups.items():
            settings = dict(o.split("=", 1) for o in group if o not in self.common)
            monitors = sorted({str(r.metrics.get("monitor", "")) for r in runs})
            row = {"overrides": " ".join(group), **{k: settings.get(k, "") for k in self.varying},
                   "n": len(runs), "seeds": _joined(r.seed for r in runs),
                   "split_seeds": _joined(r.split_seed for r in runs),
                   "monitor": " ".join(monitors),
                   "selected_on_test": any(run_selected_on_test(r.metrics) for r in runs)}
            per_run = [metric_values(r.metrics) for r in runs]
            for stem in dict.fromkeys(k for v in per_run for k in v):
                stat = spread([v[stem] for v in per_run if stem in v])
                for key in ("mean",) if stem == "best_epoch" else stat:
                    row[f"{stem}_{key}"] = stat[key]
            rows.append((group, row))
        rows.sort(key=lambda gr: -_nan_low(gr[1].get(f"{self.objective}_mean", math.nan)))
        if rows:
            self._compare(rows)
        return [row for _, row in rows]

    def _compare(self, rows: List[Tuple[Tuple[str, ...], Dict]]) -> None:
        """Fill each row's comparison with the baseline row, Holm-correcting across rows."""
        base = self.baseline if self.baseline is not None else default_baseline([group for group, _ in rows])
        others = [(group, row) for group, row in rows if group != base]
        tests = [self.test(group, base) for group, _ in others]
        for test, p in zip(tests, holm([t["p_ttest"] for t in tests])):
            test["p_holm"] = p
        for (group, row), test in zip(others, tests):
            row.update({f"vs_baseline_{k}": v for k, v in test.items()})
            row["vs_baseline"] = verdict(test, "p_holm")
            row["n_needed"] = replicates_needed(self.detect_delta, test["sd_diff"], _nan_zero(test.get("overlap")))
        for group, row in rows:
            if group == base:
                row["vs_baseline"] = "baseline"
                row["n_needed"] = self._baseline_needed(group, row)

    def _baseline_needed(self, group: Tuple[str, ...], row: Mapping) -> float:
        """Replicates needed for two configurations with the baseline's spread and no pairing
        benefit (sd of a difference = sqrt(2) sd), in the unit its own runs have: seeds on one
        split, else split seeds (the spread of its per-split means, with the overlap correction)."""
        values = {k: v for k, v in self.values(group).items() if not math.isnan(v)}
        per_split: Dict = {}
        for (split_seed, _), v in values.items():
            per_split.setdefault(split_seed, []).append(v)
        if len(per_split) < 2:
            return replicates_needed(self.detect_delta, math.sqrt(2) * row.get(f"{self.metric}_std", math.nan))
        overlap, _ = split_overlap([r for r in self.groups[group] if r.replicate in values])
        sd = statistics.stdev(statistics.fmean(v) for v in per_split.values())
        return replicates_needed(self.detect_delta, math.sqrt(2) * sd, overlap or 0.0)

    def units(self) -> List[str]:
        """One line per comparison saying its unit and correction, or one line when all agree."""
        compared = [r for r in self.rows if "vs_baseline_unit_text" in r]
        texts = list(dict.fromkeys(r["vs_baseline_unit_text"] for r in compared))
        if len(texts) <= 1:
            return [f"Unit of every comparison: {texts[0]}."] if texts else []
        return ["Unit of each comparison:", ""] + [f"- {self.label(r)}: {r['vs_baseline_unit_text']}" for r in compared]

    def label(self, row: Mapping) -> str:
        text = paper.label(self, row)
        return f"{text} **({OPTIMISTIC})**" if paper.optimistic(self, row) else text

    def markdown(self) -> str:
        counts = Counter(r.status for r in self.runs)
        lines = [f"# Sweep summary: {self.sweep_dir}", "",
                 f"{len(self.runs)} runs: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in
                                                          ("done", "failed", "pruned", "incomplete")) + "."]
        if self.common:
            lines.append(f"Common overrides: `{' '.join(self.common)}`.")
        if self.rows:
            base = next(r for r in self.rows if r["vs_baseline"] == "baseline")
            ranged = " and ".join(_heading(s) for s in self._ranged())
            lines += ["", f"One row per configuration over its (data.split_seed, seed) replicates: mean ± sample "
                          f"std (over the runs that have a value: `n` counts runs, a cell over fewer says so), and "
                          f"for {ranged} the median [min, max]. Rows are ranked on "
                          f"{self.objective}; each is compared on {self.metric} with the baseline ({self.label(base)}) "
                          f"by a paired t-test over what varies independently (the seeds on one split, the splits "
                          f"when there are several), with a 95% confidence interval for Δ and Holm-corrected "
                          f"p-values. The last numeric column is the number of those units that would detect "
                          f"Δ = {self.detect_delta:g} at {POWER:.0%} power with the spread observed (∞: no number of "
                          f"re-splits of this dataset would)."]
            units = self.units()
            if units:
                lines += [""] + units
            if not self.objective.startswith("val_"):
                lines += ["", f"**The ranking objective {self.objective} is a test metric: the best row is "
                              f"{OPTIMISTIC}.**"]
            lines += [""] + _table(self.rows, self._stems(), self)
        if self.not_done:
            lines += ["", "## Runs without metrics", "", "| run | status | reason |", "|---|---|---|"]
            lines += [f"| {_rel(r.path, self.sweep_dir)} | {r.status} | {r.reason} |" for r in self.not_done]
        return "\n".join(lines) + "\n"

    def _ranged(self) -> List[str]:
        """The columns shown with median [min, max]: the compared metric and its PLCC (papers report
        the median of both)."""
        plcc = self.metric[: -len(_metric_of(self.metric))] + "plcc" if _is_reported(self.metric) else self.metric
        shown = self._stems()
        return [s for s in dict.fromkeys([self.metric, plcc]) if s in shown]

    def _stems(self) -> List[str]:
        """The printed metric columns in first-seen order, best epoch last."""
        stems = list(dict.fromkeys(c[:-5] for row in self.rows for c in row if c.endswith("_mean")))
        shown = [s for s in stems if s == "best_epoch" or s == self.metric or _metric_of(s) in TABLE_METRICS[_scope(s)]]
        return sorted(shown, key=lambda s: s == "best_epoch")

    def write(self) -> str:
        """Write summary.csv and summary.md into the sweep folder; return the markdown."""
        text = self.markdown()
        write_csv(self.sweep_dir / "summary.csv", self.rows)
        write_text(self.sweep_dir / "summary.md", text)
        paper.write(self, self._stems(), _heading)
        return text


def _joined(values) -> str:
    return " ".join(str(v) for v in sorted(set(values), key=lambda v: (v is None, v)))


def _scope(stem: str) -> str:
    return "cross" if stem.startswith("cross_") else stem.split("_", 1)[0]


def _is_reported(stem: str) -> bool:
    return any(stem.endswith("_" + m) for m in REPORTED)


def _metric_of(stem: str) -> str:
    """test_plcc_logistic -> plcc_logistic, cross_spaq_srcc -> srcc."""
    return next(m for m in sorted(REPORTED, key=len, reverse=True) if stem.endswith("_" + m))


def _nan_zero(value: Optional[float]) -> float:
    return 0.0 if value is None or math.isnan(value) else value


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
    """test_srcc -> test SRCC, cross_spaq_plcc -> spaq PLCC, test_rmse_logistic -> test RMSE (logistic)."""
    if stem == "best_epoch":
        return "best epoch"
    metric = _metric_of(stem)
    scope = stem[: -len(metric) - 1].removeprefix("cross_")
    name = metric.split("_")[0].upper() + (" (logistic)" if metric.endswith("_logistic") else "")
    return f"{scope} {name}"


def _range(row: Mapping, stem: str) -> str:
    if math.isnan(row.get(f"{stem}_median", math.nan)):
        return "n/a"
    return f"{row[f'{stem}_median']:.4f} [{row[f'{stem}_min']:.4f}, {row[f'{stem}_max']:.4f}]"


def _delta(row: Mapping) -> str:
    if "vs_baseline_delta" not in row:
        return ""
    if math.isnan(row["vs_baseline_ci_low"]):
        return _fmt(row["vs_baseline_delta"])
    return f"{row['vs_baseline_delta']:+.4f} [{row['vs_baseline_ci_low']:+.4f}, {row['vs_baseline_ci_high']:+.4f}]"


def _table(rows: List[Dict], stems: List[str], summary: Summary) -> List[str]:
    metric = summary.metric
    trials = paper.has_trials(summary)
    ranged = summary._ranged()
    header = ["configuration"] + (["trial"] if trials else []) + ["n"]
    for s in stems:
        header += [_heading(s)] + ([f"{_heading(s)} median [min, max]"] if s in ranged else [])
    header += [f"Δ {_heading(metric)} [95% CI]", "Holm p", f"n for Δ={summary.detect_delta:g}", "vs baseline"]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        trial = paper.trial_number(paper.runs_of(summary, row)) if trials else None
        cells = [summary.label(row)] + ([str(trial) if trial is not None else ""] if trials else []) + [str(row["n"])]
        for s in stems:
            used = row.get(f"{s}_n", row["n"])
            cells.append(paper.cell(row, s) + (f" (n={used})" if used < row["n"] else ""))
            if s in ranged:
                cells.append(_range(row, s))
        needed = row.get("n_needed", math.nan)
        cells += [_delta(row), _fmt(row.get("vs_baseline_p_holm"), digits=3) if "vs_baseline_p_holm" in row else "",
                  "n/a" if math.isnan(needed) else "∞" if math.isinf(needed) else str(int(needed)), row["vs_baseline"]]
        out.append("| " + " | ".join(cells) + " |")
    return out


def summarize(sweep_dir, baseline: Optional[str] = None, metric: Optional[str] = None,
              detect_delta: float = DETECT_DELTA) -> Summary:
    """Group the run folders under `sweep_dir`; DataError if there are none, ConfigError for a
    baseline that does not name exactly one configuration."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise DataError(f"sweep folder {sweep_dir} does not exist")
    runs = scan(sweep_dir)
    if not runs:
        raise DataError(f"no run folders (with .hydra/overrides.yaml) under {sweep_dir}")
    return Summary(sweep_dir, runs, baseline, metric, detect_delta)
