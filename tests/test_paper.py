"""Paper outputs of a sweep: rounding to the spread, trial numbers, summary.tex and summary.png."""
import random
import statistics

import matplotlib.image
import pytest
import yaml

from iqa.atomic import write_json
from iqa.report import paper
from iqa.report.summary import summarize


@pytest.mark.parametrize("mean,std,text", [(0.912345, 0.00312, "0.912 ± 0.003"), (0.91234, 0.0012, "0.9123 ± 0.0012"),
                                           (0.5, float("nan"), "0.500"), (12.34, 2.6, "12 ± 3")])
def test_values_are_rounded_to_their_spread(mean, std, text):
    assert paper.mean_std(mean, std) == text


def test_long_optuna_values_are_shortened_and_others_kept():
    assert paper.param_value("0.708413043574148") == "0.7084"
    assert paper.param_value("0.3") == "0.3" and paper.param_value("adamw") == "adamw"


@pytest.fixture
def trial_sweep(tmp_path):
    """The run folders an Optuna sweep leaves: trial_N/seed_S with overrides and metrics.json."""
    rng = random.Random(7)
    alphas = {0: "0.708413043574148", 1: "0.1234567891234", 2: "0.5"}
    for number, alpha in alphas.items():
        for seed in (42, 43, 44):
            run = tmp_path / f"trial_{number}" / f"seed_{seed}"
            (run / ".hydra").mkdir(parents=True)
            (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
                [f"loss.alpha={alpha}", f"seed={seed}"]))
            write_json(run / "metrics.json", {"best_epoch": 2, "seed": seed, "objective": "val_srcc",
                                              "monitor": "val_srcc", "val_srcc": 0.6 + 0.1 * number,
                                              "test_srcc": 0.6 + 0.1 * number + rng.gauss(0, 0.01),
                                              "test_plcc": 0.5 + rng.random() * 0.1, "test_krcc": 0.4})
    return tmp_path


def test_summary_tables_name_trials_round_values_and_plot_each_configuration(trial_sweep):
    summary = summarize(trial_sweep)
    summary.write()
    md = (trial_sweep / "summary.md").read_text()
    assert "| configuration | trial | n | val SRCC | test SRCC |" in md
    assert "0.708413043574148" not in md and "| loss.alpha=0.7084 | 0 | 3 |" in md
    best = summary.rows[0]
    assert paper.mean_std(best["test_srcc_mean"], best["test_srcc_std"]) in md
    cells = [paper.mean_std(best[f"{s}_srcc_mean"], best[f"{s}_srcc_std"]) for s in ("val", "test")]
    assert f"| loss.alpha=0.5 | 2 | 3 | {cells[0]} | {cells[1]} |" in md

    tex = (trial_sweep / "summary_full.tex").read_text()
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 1
    assert r"Configuration & Trial & $n$ & val SRCC & test SRCC" in tex
    assert r"loss.alpha=0.7084 & 0 & 3 & " in tex and r"$\pm$" in tex and "±" not in tex
    assert len([line for line in tex.splitlines() if line.startswith("loss.alpha=")]) == 3
    assert r"\label{tab:summary-full}" in tex and r"\caption{" in tex

    image = matplotlib.image.imread(trial_sweep / "summary.png")
    assert image.shape[0] > 100 and image.shape[1] > 300 and image.std() > 0.05


def test_confidence_interval_is_student_t_over_the_seeds():
    values = [0.61, 0.63, 0.62, 0.66]
    mean, half = paper.interval(values)
    assert mean == pytest.approx(statistics.mean(values))
    from scipy import stats
    low, _ = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    assert half == pytest.approx(mean - low)


def test_summary_tex_has_a_papers_columns_a_caption_and_a_label(trial_sweep):
    summary = summarize(trial_sweep)
    summary.write()
    tex = (trial_sweep / "summary.tex").read_text()
    assert r"\begin{table}" in tex and r"\label{tab:summary}" in tex
    caption = next(line for line in tex.splitlines() if line.startswith(r"\caption{"))
    assert "Test SRCC of each configuration over 3 runs" in caption and "Holm-corrected" in caption
    header = next(line for line in tex.splitlines() if line.startswith("Configuration"))
    assert header == r"Configuration & Trial & test SRCC (mean $\pm$ std) & $\Delta$ [95\% CI] & Holm $p$ \\"
    rows = {line.split(" & ")[0]: line.split(" & ") for line in tex.splitlines() if line.startswith("loss.alpha=")}
    assert len(rows) == 3 and all(len(cells) == 5 for cells in rows.values())
    base = next(r for r in summary.rows if r["vs_baseline"] == "baseline")
    other = next(r for r in summary.rows if r["vs_baseline"] != "baseline")
    assert rows[paper.label(summary, base)][3] == "baseline"
    delta = rows[paper.label(summary, other)][3]
    assert delta == paper.delta_ci(other) and delta.startswith(("+", "-")) and "[" in delta
    assert rows[paper.label(summary, other)][4].rstrip(" \\") == paper.p_value(other["vs_baseline_p_holm"])


def test_summary_png_joins_each_seeds_points_across_configurations(trial_sweep):
    summary = summarize(trial_sweep)
    fig = paper.comparison_figure(summary, lambda stem: stem)
    joined = [line for line in fig.axes[0].lines if line.get_label().startswith("seed ")]
    assert sorted(line.get_label() for line in joined) == ["seed 42", "seed 43", "seed 44"]
    for line in joined:
        seed = int(line.get_label().split()[1])
        xs = list(line.get_xdata())
        assert xs == [paper.per_replicate(summary, row, summary.metric)[(None, seed)] for row in summary.rows]
