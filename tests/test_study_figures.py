"""One set of study figures: `python -m iqa.study` writes the study page's figures as files, with
the objective's name on the axes, integer ticks on integer axes and a labelled objective axis in
the parallel coordinates; the page's table keeps trial values to 4 decimals."""
import base64
import re
import statistics
import subprocess
import sys

import optuna
import pytest

from helpers import ROOT
from hydra_plugins.iqa_optuna_sweeper import study_figures

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture
def study(tmp_path):
    """Five trials over a float and an integer parameter, values that differ in the second decimal."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.set_metric_names(["val_srcc"])
    study.set_user_attr("sweep_dir", str(tmp_path / "sweep"))
    space = {"loss.alpha": optuna.distributions.FloatDistribution(0, 1),
             "trainer.epochs": optuna.distributions.IntDistribution(2, 9)}
    for k, mean in enumerate([0.4719, 0.4532, 0.4611, 0.4805, 0.4477]):
        trial = study.enqueue_trial({"loss.alpha": 0.1 + 0.2 * k, "trainer.epochs": 2 + k}) or study.ask(space)
        values = {"42": mean - 0.002, "43": mean, "44": mean + 0.002}
        trial.set_user_attr("seed_values", values)
        trial.set_user_attr("mean", statistics.fmean(values.values()))
        trial.set_user_attr("std", statistics.stdev(values.values()))
        study.tell(trial, statistics.fmean(values.values()))
    return storage, study


def _integers(ticks):
    return all(float(t).is_integer() for t in ticks)


def test_figures_name_the_objective_and_tick_integers_as_integers(study):
    _, study = study
    figs = study_figures.figures(study)
    assert list(figs) == list(study_figures.NAMES)
    history = figs["optimization_history"].axes[0]
    assert history.get_ylabel() == "val_srcc" and history.get_xlabel() == "trial"
    low, high = history.get_xlim()
    assert _integers(t for t in history.get_xticks() if low <= t <= high)

    parallel = figs["parallel_coordinate"].axes[0]
    assert [t.get_text() for t in parallel.get_xticklabels()][-1] == "val_srcc"
    texts = {t.get_text() for t in parallel.texts}
    assert {"0.4477", "0.4805"} <= texts, "the objective axis is labelled with its range"

    slices = figs["slice"].axes
    assert slices[0].get_ylabel() == "val_srcc (mean ± std)"
    epochs = next(ax for ax in slices if ax.get_xlabel() == "trainer.epochs")
    low, high = epochs.get_xlim()
    assert _integers(t for t in epochs.get_xticks() if low <= t <= high)
    assert "val_srcc" in figs["param_importances"].axes[0].get_xlabel()


def test_the_inspector_writes_the_pages_figures_and_the_table_keeps_four_decimals(study, tmp_path):
    storage, _ = study
    out, page = tmp_path / "plots", tmp_path / "study.html"
    proc = subprocess.run([sys.executable, "-m", "iqa.study", "--storage", storage, "--study", "s", "--out", str(out),
                           "--html", str(page)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == sorted(f"study_s_{n}.png" for n in study_figures.NAMES)
    text = page.read_text()
    inlined = [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]
    assert (out / "study_s_optimization_history.png").read_bytes() == inlined[0], "one set of figures"
    for value in ("0.4719", "0.4532", "0.4611"):
        assert f"<td>{value}</td>" in text
