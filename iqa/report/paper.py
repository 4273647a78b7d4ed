"""A sweep's summary as a paper shows it: values rounded to their spread, readable names, the trial
number where a configuration is an Optuna trial, booktabs tables (`summary.tex` in a paper's
columns, `summary_full.tex` with every metric) and a plot of each configuration's objective over
seeds, each seed joined across configurations, with mean and 95% confidence interval (`summary.png`).

Works on iqa.report.summary.Summary (which calls `write`), without importing it: the numbers come
from the summary, each run's from `iqa.report.runs`.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from scipy import stats

from iqa.atomic import replace_with, write_text
from iqa.evaluation.metrics import OPTIMISTIC, selected_on_test
from iqa.report.runs import metric_values

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


def optimistic(summary, row: Mapping) -> bool:
    """Whether the row's numbers are optimistic: its runs chose their epoch on a test set, or the
    sweep ranks (and an Optuna search chose) on a test objective."""
    return bool(row["selected_on_test"]) or selected_on_test(summary.objective)


def _table_env(summary, header: List[str], rows: List[List[str]], caption: str, tex_label: str) -> str:
    """A booktabs table float with its caption and label; a dagger's meaning under the rule when
    any row is optimistic."""
    lines = [r"% needs \usepackage{booktabs}", r"\begin{table}", r"\centering", rf"\caption{{{caption}}}",
             rf"\label{{{tex_label}}}", r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(header) + r" \\", r"\midrule"]
    lines += [" & ".join(cells) + r" \\" for cells in rows]
    lines.append(r"\bottomrule")
    if any(optimistic(summary, row) for row in summary.rows):
        lines.append(rf"\multicolumn{{{len(header)}}}{{l}}{{\footnotesize $^\dagger$ {OPTIMISTIC}}} \\")
    lines += [r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _config_cells(summary, row: Mapping, trials: bool) -> List[str]:
    """The configuration (with a dagger where its numbers are optimistic) and, in a study, its trial."""
    trial = trial_number(runs_of(summary, row))
    mark = r"$^\dagger$" if optimistic(summary, row) else ""
    return [_tex(label(summary, row)) + mark] + ([str(trial) if trial is not None else ""] if trials else [])


def latex(summary, stems: List[str], heading) -> str:
    """The full booktabs table (summary_full.tex): configuration, trial, n, each metric mean ± std."""
    trials = has_trials(summary)
    header = ["Configuration"] + (["Trial"] if trials else []) + ["$n$"] + [_tex(heading(s)) for s in stems]
    rows = [_config_cells(summary, row, trials) + [str(row["n"])] + [_tex(cell(row, s)) for s in stems]
            for row in summary.rows]
    caption = (f"Every metric of each configuration over its runs (mean $\\pm$ std, rounded to the spread); "
               f"rows ranked on {_tex(heading(summary.objective))}.")
    return _table_env(summary, header, rows, caption, "tab:summary-full")


def delta_ci(row: Mapping) -> str:
    """Δ and its 95% CI against the baseline, rounded to the CI's half-width; '' for the baseline."""
    delta, low, high = (row.get(f"vs_baseline_{k}", math.nan) for k in ("delta", "ci_low", "ci_high"))
    if delta is None or math.isnan(delta):
        return ""
    if math.isnan(low):
        return f"{delta:+.3f}"
    places = decimals((high - low) / 2)
    return f"{delta:+.{places}f} [{low:+.{places}f}, {high:+.{places}f}]"


def p_value(p: Optional[float]) -> str:
    if p is None or math.isnan(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def paper_latex(summary, heading) -> str:
    """summary.tex, the columns a paper shows: configuration, the compared metric (the objective's
    test metric) as mean ± std, Δ against the baseline with its 95% CI, Holm-corrected p."""
    trials = has_trials(summary)
    metric = getattr(summary, "metric", summary.objective)
    name = _tex(heading(metric))
    header = ["Configuration"] + (["Trial"] if trials else []) + [f"{name} (mean $\\pm$ std)",
                                                                  r"$\Delta$ [95\% CI]", "Holm $p$"]
    rows = [_config_cells(summary, row, trials)
            + [_tex(cell(row, metric)), _tex(delta_ci(row)) or "baseline", p_value(row.get("vs_baseline_p_holm"))]
            for row in summary.rows]
    base = next((row for row in summary.rows if row.get("vs_baseline") == "baseline"), None)
    seeds = sorted({row["n"] for row in summary.rows})
    caption = (f"{name[:1].upper() + name[1:]} of each configuration over {'/'.join(map(str, seeds))} runs (mean $\\pm$ std). "
               f"$\\Delta$: difference from the baseline"
               + (f" ({_tex(label(summary, base))})" if base is not None else "")
               + " over the runs both share, with its 95\\% confidence interval (paired $t$-test); "
               f"$p$ Holm-corrected across rows. Rows ranked on {_tex(heading(summary.objective))}.")
    return _table_env(summary, header, rows, caption, "tab:summary")


def per_replicate(summary, row: Mapping, metric: str) -> Dict[Tuple, float]:
    """{(split seed, seed): value} of a configuration's runs, NaNs left out."""
    values = {(r.split_seed, r.seed): metric_values(r.metrics).get(metric, math.nan) for r in runs_of(summary, row)}
    return {k: v for k, v in values.items() if not math.isnan(v)}


def replicate_name(key: Tuple) -> str:
    split_seed, seed = key
    return f"seed {seed}" + (f", split {split_seed}" if split_seed is not None else "")


def comparison_plot(summary, path, heading) -> None:
    """`comparison_figure` saved as summary.png."""
    import matplotlib.pyplot as plt

    fig = comparison_figure(summary, heading)
    replace_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight"))
    plt.close(fig)


def comparison_figure(summary, heading):
    """Each configuration's objective over its seeds: the seeds as points, each seed's points joined
    across configurations (the pairs behind the paired test), mean and 95% CI as a bar; an
    optimistic row's name ends with a dagger, explained under the plot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = getattr(summary, "metric", summary.objective)  # the compared metric, test for a val objective
    rows = summary.rows
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.45 * len(rows)))
    by_row = [per_replicate(summary, row, metric) for row in rows]
    keys = sorted({k for values in by_row for k in values}, key=lambda k: tuple(-1 if v is None else v for v in k))
    colours = plt.get_cmap("tab10")
    for i, key in enumerate(keys):
        points = [(values[key], y - 0.18) for y, values in enumerate(by_row) if key in values]
        ax.plot(*zip(*points), "-o", color=colours(i % 10), lw=0.8, ms=4.5, alpha=0.7, zorder=3,
                label=replicate_name(key) if len(keys) <= 10 else None)
    for y, values in enumerate(by_row):
        if not values:
            continue
        mean, half = interval(list(values.values()))
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
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
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
    """summary.tex (a paper's columns), summary_full.tex (every metric) and summary.png next to summary.md."""
    write_text(summary.sweep_dir / "summary.tex", paper_latex(summary, heading))
    write_text(summary.sweep_dir / "summary_full.tex", latex(summary, stems, heading))
    if summary.rows:
        comparison_plot(summary, summary.sweep_dir / "summary.png", heading)
