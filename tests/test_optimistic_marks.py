""""Selected on test: optimistic" wherever a number was chosen on a test set: every row of a sweep
ranked on a test objective (summary.md, summary.tex, summary.png), a row whose runs chose their
epoch on test, and the study inspector and page of a study whose objective is a test metric."""
import subprocess
import sys

import matplotlib.pyplot as plt
import optuna
import pytest
import yaml

from helpers import ROOT
from iqa.atomic import write_json
from iqa.evaluation.metrics import OPTIMISTIC
from iqa.report import paper
from iqa.report.summary import _heading, summarize

NOISE_APP = ROOT / "tests" / "sweeper_app" / "noise_app.py"


def write_sweep(folder, objective, monitors):
    """Run folders of a grid over loss.alpha x seeds 42, 43, 44, each run's objective and monitor given."""
    for k, (alpha, monitor) in enumerate(monitors.items()):
        for seed in (42, 43, 44):
            run = folder / f"{k}_{seed}"
            (run / ".hydra").mkdir(parents=True)
            (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"loss.alpha={alpha}", f"seed={seed}"]))
            write_json(run / "metrics.json", {
                "best_epoch": 2, "seed": seed, "objective": objective, "monitor": monitor,
                "selected_on_test": not monitor.startswith("val_"), "val_srcc": 0.6 + 0.01 * k + 0.001 * seed % 7,
                "test_srcc": 0.58 + 0.01 * k + 0.002 * (seed % 3), "test_plcc": 0.5, "test_krcc": 0.4})
    return summarize(folder)


def marked_rows(summary):
    """For each row: (marked in summary.md, in summary.tex, in summary.png's names)."""
    summary.write()
    md = [line for line in (summary.sweep_dir / "summary.md").read_text().splitlines() if line.startswith("| loss")]
    tex = [line for line in (summary.sweep_dir / "summary.tex").read_text().splitlines() if line.startswith("loss")]
    names = paper.plot_names(summary)
    return [(f"**({OPTIMISTIC})**" in m, r"$^\dagger$" in t, n.endswith(" †")) for m, t, n in zip(md, tex, names)]


def figure_notes(summary):
    fig = paper.comparison_figure(summary, _heading)
    try:
        ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        return ticks, [t.get_text() for t in fig.texts + fig.axes[0].texts]
    finally:
        plt.close(fig)


def test_a_test_objective_marks_every_row_everywhere(tmp_path):
    summary = write_sweep(tmp_path, "test_srcc", {"0.0": "val_srcc", "0.3": "val_srcc"})
    assert marked_rows(summary) == [(True, True, True)] * 2
    tex = (tmp_path / "summary.tex").read_text()
    assert rf"\footnotesize $^\dagger$ {OPTIMISTIC}" in tex and tex.index(OPTIMISTIC) > tex.index(r"\bottomrule")
    ticks, notes = figure_notes(summary)
    assert all(t.endswith(" †") for t in ticks) and notes == [f"† {OPTIMISTIC}"]
    assert (tmp_path / "summary.png").stat().st_size > 0


def test_a_validation_objective_marks_only_the_rows_selected_on_test(tmp_path):
    summary = write_sweep(tmp_path, "val_srcc", {"0.0": "val_srcc", "0.3": "test_srcc"})
    by_alpha = dict(zip([r["loss.alpha"] for r in summary.rows], marked_rows(summary)))
    assert by_alpha == {"0.0": (False, False, False), "0.3": (True, True, True)}
    ticks, notes = figure_notes(summary)
    assert notes == [f"† {OPTIMISTIC}"]


def test_a_validation_sweep_carries_no_mark(tmp_path):
    summary = write_sweep(tmp_path, "val_srcc", {"0.0": "val_srcc", "0.3": "val_srcc"})
    assert marked_rows(summary) == [(False, False, False)] * 2
    assert OPTIMISTIC not in (tmp_path / "summary.tex").read_text() + (tmp_path / "summary.md").read_text()
    assert figure_notes(summary)[1] == []


def make_study(tmp_path, objective, selected_on_test):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.set_user_attr("objective", objective)
    study.set_user_attr("selected_on_test", selected_on_test)
    for x in (0.1, 0.5):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, x)
    return storage


@pytest.mark.parametrize("objective, on_test", [("test_srcc", True), ("val_srcc", False)])
def test_the_study_inspector_and_page_say_so_for_a_test_objective(tmp_path, objective, on_test):
    storage = make_study(tmp_path, objective, on_test)
    page = tmp_path / "study.html"
    proc = subprocess.run([sys.executable, "-m", "iqa.study", "--storage", storage, "--no-plots", "--html", str(page)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    study_line = next(line for line in proc.stdout.splitlines() if line.startswith("Study s ("))
    headline = next(line for line in proc.stdout.splitlines() if line.startswith("Headline (trial 1)"))
    assert (OPTIMISTIC in study_line, OPTIMISTIC in headline) == (on_test, on_test)
    assert objective in study_line
    text = page.read_text()
    assert (f"The objective {objective} is measured on the test set ({OPTIMISTIC})" in text) == on_test
    assert (text.count(OPTIMISTIC) >= 2) == on_test  # the caveat and the headline


@pytest.mark.parametrize("objective, on_test", [("test_x", True), ("val_x", False)])
def test_the_sweeper_records_whether_its_objective_is_a_test_metric(tmp_path, objective, on_test):
    proc = subprocess.run([sys.executable, str(NOISE_APP), "-m", f"hydra.sweep.dir={tmp_path / 's'}",
                           f"hydra.sweeper.storage=sqlite:///{tmp_path}/o.db", "hydra.sweeper.study_name=s",
                           "hydra.sweeper.n_trials=1", f"+name={objective}", "hydra.sweeper.objective_name=${name}",
                           "hydra.sweeper.test_objectives='^(?!val_)'"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    attrs = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/o.db").user_attrs
    assert (attrs["objective"], attrs["selected_on_test"]) == (objective, on_test)
