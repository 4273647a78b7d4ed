"""The numbers a run reports, against independent computations: KRCC against scipy's tau-b, the
logistic fit against a plain multi-start fit of the same curve, and the edges of the fit."""
import numpy as np
import pytest
from scipy import stats

from iqa.evaluation.metrics import correlations, logistic_fit, logistic_scores
from reference import logistic_fit_multistart


def _scores(mapped, mos):
    return stats.pearsonr(mapped, mos).statistic, float(np.sqrt(np.mean((mapped - mos) ** 2)))


@pytest.mark.parametrize("n,shape", [(20, "step"), (20, "line"), (50, "tanh"), (50, "cubic"), (200, "tanh")])
def test_the_logistic_fit_reaches_the_optimum_of_an_independent_multistart_fit(n, shape):
    """Random sets where a single start used to stop in a local minimum (up to 0.08 PLCC at n = 20):
    the fit is never worse than the plain 4-parameter multi-start fit by more than 1e-3."""
    rng = np.random.default_rng(n + len(shape))
    pred = rng.normal(size=n)
    mos = {"step": (pred > 0.3) + rng.normal(0, 0.4, n), "line": pred + rng.normal(0, 1, n),
           "tanh": np.tanh(2 * pred) + rng.normal(0, 0.3, n), "cubic": np.cbrt(pred) + rng.normal(0, 0.3, n)}[shape]
    mos = 50 + 20 * mos
    mapped, failure = logistic_fit(pred, mos)
    assert failure == ""
    plcc, rmse = _scores(mapped, mos)
    ref_plcc, ref_rmse = _scores(logistic_fit_multistart(pred, mos), mos)
    assert rmse <= ref_rmse + 1e-3 and plcc >= ref_plcc - 1e-3


def test_krcc_is_kendalls_tau_b_with_ties():
    rng = np.random.default_rng(3)
    pred, mos = rng.integers(0, 5, 40).astype(float), rng.integers(0, 4, 40).astype(float)
    want = stats.kendalltau(pred, mos, variant="b").statistic
    assert correlations(pred, mos)["krcc"] == pytest.approx(want)
    concordant = sum(np.sign(pred[i] - pred[j]) * np.sign(mos[i] - mos[j]) for i in range(40) for j in range(i))
    pairs_p = sum(pred[i] != pred[j] for i in range(40) for j in range(i))
    pairs_m = sum(mos[i] != mos[j] for i in range(40) for j in range(i))
    assert correlations(pred, mos)["krcc"] == pytest.approx(concordant / np.sqrt(pairs_p * pairs_m))


def test_a_two_image_set_has_signed_correlations_and_no_fit():
    assert correlations([1.0, 2.0], [3.0, 5.0]) == pytest.approx({"srcc": 1.0, "plcc": 1.0, "krcc": 1.0})
    assert correlations([2.0, 1.0], [3.0, 5.0]) == pytest.approx({"srcc": -1.0, "plcc": -1.0, "krcc": -1.0})
    scores, failure = logistic_scores([1.0, 2.0], [3.0, 5.0])
    assert failure == "2 images are too few for 4 parameters" and np.isnan(scores["plcc_logistic"])


def test_the_fit_needs_five_images():
    mos = [1.0, 2.5, 2.0, 4.0, 5.0]
    assert logistic_scores(mos[:4], mos[:4])[1] == "4 images are too few for 4 parameters"
    scores, failure = logistic_scores(mos, mos)
    assert failure == "" and scores["plcc_logistic"] == pytest.approx(1.0, abs=1e-6)


def test_a_straight_line_fit_runs_its_scale_off_and_still_maps_like_the_line():
    """Exactly linear data: the best logistic is a ever-wider curve (its scale and rise diverge);
    the mapping tends to the least-squares line, so the fitted PLCC is the raw PLCC."""
    rng = np.random.default_rng(5)
    pred = rng.uniform(0, 1, 60)
    mos = 3 * pred + rng.normal(0, 0.2, 60)
    scores, failure = logistic_scores(pred, mos)
    line = np.polyval(np.polyfit(pred, mos, 1), pred)
    assert failure == "" and np.isfinite(scores["rmse_logistic"])
    assert scores["plcc_logistic"] >= stats.pearsonr(pred, mos).statistic - 1e-6
    assert scores["rmse_logistic"] <= np.sqrt(np.mean((line - mos) ** 2)) + 1e-6
