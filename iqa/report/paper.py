"""A sweep's summary as a paper shows it: values rounded to their spread, readable names, the trial
number where a configuration is an Optuna trial, a booktabs table (`summary.tex`) and a plot of
each configuration's objective over seeds with mean and 95% confidence interval (`summary.png`).

Works on iqa.report.summary.Summary; the numbers themselves come from there.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import List, Mapping, Optional, Tuple

from scipy import stats

from iqa.atomic import replace_with, write_text
from iqa.evaluation.metrics import OPTIMISTIC, selected_on_test

FLOAT = re.compile(r"^-?\d+\.\d{5,}(e-?\d+)?$")
TRIAL_FOLDER = re.compile(r"trial_(\d+)")


def decimals(std: float) -> int:
    """Decimal places that keep the spread's first significant digit (two when it is a 1: 0.0012)."""
    if std is None or math.isnan(std) or std <= 0:
        return 3
    exponent = math.floor(math.log10(std))
    leading = std / 10 ** exponent
    return max(0, -exponent + (1 if round(leading, 6) < 2 else 0))


def mean_std(mean: Optional[float], std: Optional[float] = None) -> str:
    """0.912345 ± 0.00312 -> '0.912 ± 0.003'; no spread (one seed) -> 3 decimals."""
    if mean is None or math.isnan(mean):
        return "n/a"
    places = decimals(std)
    if std is None or math.isnan(std):
        return f"{mean:.{places}f}"
    return f"{mean:.{places}f} ± {std:.{places}f}"


def cell(row: Mapping, stem: str) -> str:
    """A table cell: mean ± std rounded to the spread; the best epoch as a plain mean."""
    if stem == "best_epoch":
        return f"{row[f'{stem}_mean']:.1f}"
    return mean_std(row.get(f"{stem}_mean"), row.get(f"{stem}_std"))


def param_value(value: str) -> str:
    """An override's value as a reader wants it: 0.708413043574148 -> 0.7084 (4 significant digits)."""
    return f"{float(value):.4g}" if FLOAT.match(value) else value


def label(summary, row: Mapping) -> str:
    """The configuration's varying overrides, numbers rounded; trial bookkeeping left out."""
    parts = [f"{k}={param_value(str(row[k]))}" for k in summary.varying if row.get(k, "") != ""]
    return " ".join(parts) or "(all runs)"


def optimistic(summary, row: Mapping) -> bool:
    """Whether the row's numbers are optimistic: its runs chose their epoch on a test set, or the
    sweep ranks (and an Optuna search chose) on a test objective."""
    return bool(row["selected_on_test"]) or selected_on_test(summary.objective)


def runs_of(summary, row: Mapping) -> List:
    return next((runs for group, runs in summary.groups.items() if " ".join(group) == row["overrides"]), [])


def trial_number(runs) -> Optional[int]:
    """The Optuna trial a configuration's runs belong to, when they all belong to one: the
    iqa_optuna sweeper puts each seed's run in `trial_<number>/seed_<seed>`."""
    folders = {Path(r.path).parent.name for r in runs}
    match = TRIAL_FOLDER.fullmatch(folders.pop()) if len(folders) == 1 else None
    return int(match.group(1)) if match else None


def has_trials(summary) -> bool:
    return any(trial_number(runs_of(summary, row)) is not None for row in summary.rows)


def interval(values: List[float]) -> Tuple[float, float]:
    """Mean and half-width of its 95% t confidence interval (NaN half-width for one value)."""
    n, mean = len(values), sum(values) / len(values)
    if n < 2:
        return mean, math.nan
    sem = stats.sem(values)
    return mean, float(stats.t.ppf(0.975, n - 1) * sem) if sem > 0 else 0.0


def _tex(text: str) -> str:
    return re.sub(r"([_%&#$])", r"\\\1", text).replace("±", r"$\pm$")


def latex(summary, stems: List[str], heading) -> str:
    """A booktabs tabular of the summary rows: configuration, trial, n, each metric mean ± std; a row
    whose numbers are optimistic carries a dagger, explained under the table."""
    trials = has_trials(summary)
    header = ["Configuration"] + (["Trial"] if trials else []) + ["$n$"] + [_tex(heading(s)) for s in stems]
    lines = [r"% needs \usepackage{booktabs}", r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(header) + r" \\", r"\midrule"]
    for row in summary.rows:
        trial = trial_number(runs_of(summary, row))
        mark = r"$^\dagger$" if optimistic(summary, row) else ""
        cells = [_tex(label(summary, row)) + mark] + ([str(trial) if trial is not None else ""] if trials else [])
        cells += [str(row["n"])] + [_tex(cell(row, s)) for s in stems]
        lines.append(" & ".join(cells) + r" \\")
    lines.append(r"\bottomrule")
    if any(optimistic(summary, row) for row in summary.rows):
        lines.append(rf"\multicolumn{{{len(header)}}}{{l}}{{\footnotesize $^\dagger$ {OPTIMISTIC}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def per_run(summary, row: Mapping, metric: str) -> List[float]:
    from iqa.report.summary import metric_values
    return [metric_values(r.metrics).get(metric, math.nan) for r in runs_of(summary, row)]


def comparison_plot(summary, path, heading) -> None:
    """`comparison_figure` written as a PNG to `path`."""
    import matplotlib.pyplot as plt

    fig = comparison_figure(summary, heading)
    replace_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight"))
    plt.close(fig)


def comparison_figure(summary, heading):
    """Each configuration's objective over its seeds: the seeds as points, mean and 95% CI as a bar;
    an optimistic row's name ends with a dagger, explained under the plot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = getattr(summary, "metric", summary.objective)  # the compared metric, test for a val objective
    rows = summary.rows
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.45 * len(rows)))
    for y, row in enumerate(rows):
        values = [v for v in per_run(summary, row, metric) if not math.isnan(v)]
        if not values:
            continue
        ax.scatter(values, [y - 0.18] * len(values), s=22, color="tab:blue", alpha=0.6, zorder=3,
                   label="seed" if y == 0 else None)
        mean, half = interval(values)
        ax.errorbar([mean], [y], xerr=None if math.isnan(half) else [[half], [half]], fmt="D", color="k",
                    capsize=4, ms=6, zorder=4, label="mean, 95% CI" if y == 0 else None)
    ax.set_yticks(range(len(rows)), plot_names(summary), fontsize=8)
    if any(optimistic(summary, row) for row in rows):
        ax.annotate(f"† {OPTIMISTIC}", xy=(0, 0), xycoords="axes fraction", xytext=(0, -30),
                    textcoords="offset points", va="top", fontsize=9, color="tab:red")
    ax.invert_yaxis()
    ax.set_xlabel(heading(metric))
    ax.set_title(f"{heading(metric)} of each configuration's runs (ranked on {heading(summary.objective)})",
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_names(summary) -> List[str]:
    """The plot's row names: the trial, the configuration, and a dagger where it is optimistic."""
    names = []
    for row in summary.rows:
        trial = trial_number(runs_of(summary, row))
        names.append((f"trial {trial}: " if trial is not None else "") + label(summary, row)
                     + (" †" if optimistic(summary, row) else ""))
    return names


def write(summary, stems: List[str], heading) -> None:
    """summary.tex and summary.png next to summary.md."""
    write_text(summary.sweep_dir / "summary.tex", latex(summary, stems, heading))
    if summary.rows:
        comparison_plot(summary, summary.sweep_dir / "summary.png", heading)
