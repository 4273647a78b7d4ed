"""Agreement between predictions and MOS: rank and linear correlations (scipy.stats), and PLCC /
RMSE after the 4-parameter logistic mapping of predictions onto the MOS scale (VQEG practice,
scipy.optimize.curve_fit), which removes a monotone non-linearity before the linear measures."""
from __future__ import annotations

import warnings
from typing import Dict, Tuple

import numpy as np
from scipy import stats
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit

# Every metric a split or cross set reports, as its flat-name suffix (test_<m>, cross_<set>_<m>).
REPORTED = ("srcc", "plcc", "krcc", "plcc_logistic", "rmse_logistic")
# What a run, its metrics.json and its summary row say when its epoch was chosen on a test set.
OPTIMISTIC = "selected on test: optimistic"


def selected_on_test(metric: str) -> bool:
    """Whether choosing by `metric` looks at a test set (the test split or a cross set), which
    makes the reported numbers of that set optimistic."""
    return not metric.startswith("val_")


def correlations(pred, mos) -> Dict[str, float]:
    """SRCC, PLCC and KRCC; NaN (never an exception) when either side is constant."""
    pred, mos = np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    if len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(mos) == 0:
        return {"srcc": float("nan"), "plcc": float("nan"), "krcc": float("nan")}
    return {
        "srcc": float(stats.spearmanr(pred, mos).statistic),
        "plcc": float(stats.pearsonr(pred, mos).statistic),
        "krcc": float(stats.kendalltau(pred, mos).statistic),
    }


def logistic(x, low, rise, centre, scale):
    """VQEG's 4-parameter logistic, b2 + (b1 - b2) / (1 + exp(-(x - b3) / b4)), written as
    low = b2, rise = b1 - b2 >= 0, centre = b3, scale = b4 > 0: increasing in x, so a prediction that
    falls as MOS rises is not turned into a positive correlation."""
    return low + rise * expit((x - centre) / scale)


def logistic_fit(pred, mos) -> Tuple[np.ndarray, str]:
    """The predictions mapped onto the MOS scale by a least-squares increasing logistic, and "";
    or an empty array and why there is no mapping (too few images, a constant side, NaN, no
    convergence, or a flat best fit: the predictions do not rise with MOS)."""
    pred, mos = np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    if len(pred) < 5:
        return np.empty(0), f"{len(pred)} images are too few for 4 parameters"
    if np.ptp(pred) == 0 or np.ptp(mos) == 0:
        return np.empty(0), "constant prediction or MOS"
    p0 = [mos.min(), np.ptp(mos), float(np.median(pred)), float(pred.std())]
    bounds = ([-np.inf, 0.0, -np.inf, 1e-9 * float(np.ptp(pred))], np.inf)
    with warnings.catch_warnings():
        # The parameters' covariance may be unidentifiable (a near-linear relation) while the
        # mapping itself is fine: only the mapping is used.
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            params, _ = curve_fit(logistic, pred, mos, p0=p0, bounds=bounds, maxfev=20000)
        except (RuntimeError, ValueError) as e:
            return np.empty(0), f"{type(e).__name__}: {str(e).splitlines()[0]}"
    mapped = logistic(pred, *params)
    if not np.all(np.isfinite(mapped)):
        return np.empty(0), "the fitted curve is not finite"
    if np.ptp(mapped) <= 1e-9 * np.ptp(mos):
        return np.empty(0), "the best increasing curve is flat: the predictions do not rise with MOS"
    return mapped, ""


def logistic_scores(pred, mos) -> Tuple[Dict[str, float], str]:
    """({'plcc_logistic', 'rmse_logistic'}, "") after the logistic mapping; NaN for both and the
    reason when the fit fails."""
    mapped, failure = logistic_fit(pred, mos)
    if failure:
        return {"plcc_logistic": float("nan"), "rmse_logistic": float("nan")}, failure
    mos = np.asarray(mos, dtype=np.float64)
    return {"plcc_logistic": float(stats.pearsonr(mapped, mos).statistic),
            "rmse_logistic": float(np.sqrt(np.mean((mapped - mos) ** 2)))}, ""
