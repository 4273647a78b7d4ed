"""PLCC and RMSE after the 4-parameter logistic mapping, and what happens when there is no fit."""
import numpy as np
import pytest
from scipy import stats

from iqa.evaluation.metrics import correlations, logistic, logistic_fit, logistic_scores


def test_logistic_mapping_removes_a_monotone_nonlinearity():
    rng = np.random.default_rng(0)
    pred = rng.uniform(-3, 3, size=400)
    mos = logistic(pred, 10.0, 80.0, 0.5, 0.6) + rng.normal(0, 1.0, size=400)
    raw, fitted = correlations(pred, mos), logistic_scores(pred, mos)[0]
    assert fitted["plcc_logistic"] > raw["plcc"] + 0.02  # the curve, not the noise, lowered raw PLCC
    mapped, failure = logistic_fit(pred, mos)
    assert failure == "" and fitted["rmse_logistic"] == pytest.approx(np.sqrt(np.mean((mapped - mos) ** 2)))
    assert fitted["rmse_logistic"] < 1.2  # about the noise added
    # A monotone increasing transform of the predictions changes neither SRCC nor the fitted scores much.
    again = logistic_scores(np.exp(pred / 3), mos)[0]
    assert again["plcc_logistic"] == pytest.approx(fitted["plcc_logistic"], abs=0.01)


def test_falling_predictions_get_no_positive_fitted_plcc():
    rng = np.random.default_rng(1)
    mos = rng.uniform(0, 100, size=50)
    scores, failure = logistic_scores(-mos + rng.normal(0, 5, size=50), mos)
    assert np.isnan(scores["plcc_logistic"]) and np.isnan(scores["rmse_logistic"])
    assert "do not rise with MOS" in failure


@pytest.mark.parametrize("pred,mos,reason", [
    ([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], "3 images are too few"),
    ([2.0] * 6, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "constant prediction"),
    ([1.0, np.nan, 3.0, 4.0, 5.0, 6.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "ValueError"),
])
def test_a_failed_fit_is_nan_with_its_reason(pred, mos, reason):
    scores, failure = logistic_scores(pred, mos)
    assert reason in failure and all(np.isnan(v) for v in scores.values())


def test_fitted_plcc_matches_pearson_of_the_mapping():
    rng = np.random.default_rng(2)
    pred = rng.normal(size=200)
    mos = np.tanh(pred) * 2 + rng.normal(0, 0.3, size=200)
    mapped, _ = logistic_fit(pred, mos)
    assert logistic_scores(pred, mos)[0]["plcc_logistic"] == pytest.approx(stats.pearsonr(mapped, mos).statistic)
