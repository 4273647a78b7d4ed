"""Run-folder figures: the scatter draws the logistic fit where one exists and says why where not."""
import matplotlib.image
import numpy as np

from iqa.evaluation.metrics import logistic
from iqa.report import plots


def _red_pixels(path) -> int:
    """Pixels of the fit curve's colour (tab:red); nothing else in the figure uses it."""
    image = matplotlib.image.imread(path)[..., :3]
    return int((np.abs(image - np.array([0.839, 0.153, 0.157])).max(axis=-1) < 0.06).sum())


def test_scatter_draws_the_logistic_fit_only_where_predictions_rise_with_mos(tmp_path):
    rng = np.random.default_rng(0)
    pred = rng.uniform(0, 10, 200)
    mos = logistic(pred, 10, 80, 5, 1.2) + rng.normal(0, 5, 200)
    plots.scatter(pred, mos, tmp_path / "fit.png", "rising")
    plots.scatter(-pred, mos, tmp_path / "flat.png", "falling")
    assert _red_pixels(tmp_path / "fit.png") > 200
    assert _red_pixels(tmp_path / "flat.png") == 0


def test_curves_mark_the_best_epoch(tmp_path):
    history = [{"epoch": e, "train_loss": 1 / e, "train_srcc": 0.1 * e, "test_srcc": 0.2 * e, "test_plcc": 0.2 * e}
               for e in range(1, 5)]
    plots.curves(history, tmp_path / "curves.png", 3, "small, seed 42", "test_srcc")
    image = matplotlib.image.imread(tmp_path / "curves.png")
    assert image.shape[1] > 1000 and _red_pixels(tmp_path / "curves.png") > 50  # the loss panel


def test_the_scatter_statistics_sit_beside_the_points_and_name_raw_and_fitted_plcc(tmp_path):
    from iqa.evaluation.metrics import correlations, logistic_scores
    rng = np.random.default_rng(1)
    pred = rng.uniform(0, 10, 300)
    mos = logistic(pred, 10, 80, 5, 1.2) + rng.normal(0, 5, 300)
    fig = plots.scatter_figure(pred, mos, "rising")
    fig.canvas.draw()
    ax = fig.axes[0]
    [box] = [t for t in ax.texts if "SRCC" in t.get_text()]
    assert box.get_window_extent().x0 > ax.get_window_extent().x1, "the statistics box covers the plot"
    raw, fitted = correlations(pred, mos)["plcc"], logistic_scores(pred, mos)[0]["plcc_logistic"]
    assert abs(raw - fitted) > 0.002  # the two differ here, so the labels matter
    assert f"PLCC (raw) = {raw:.3f}" in box.get_text()
    assert f"PLCC (logistic fit)\n  = {fitted:.3f}" in box.get_text()
    plots.scatter(pred, mos, tmp_path / "scatter.png", "rising")
