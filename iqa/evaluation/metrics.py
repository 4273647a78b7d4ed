"""Agreement between predictions and MOS: rank and linear correlations (scipy.stats), and PLCC /
RMSE after the 4-parameter logistic mapping of predictions onto the MOS scale (VQEG practice,
least squares by scipy.optimize), which removes a monotone non-linearity before the linear measures."""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
from scipy import stats
from scipy.optimize import least_squares
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


# Starting points of the fit: centres at the midpoints between sorted predictions (all of them up to
# this many, else between quantiles) and scales from a step to a near-straight line.
MAX_CENTRES = 60
SCALES = np.logspace(-4, 3, 22)
# The best starting points refined by least squares; the fit keeps the lowest sum of squares.
REFINED = 8


def _profile(pred: np.ndarray, mos: np.ndarray, centre, scale):
    """(low, rise >= 0, sum of squares) of the best curve with this centre and scale: for a given
    centre and scale the curve is linear in low and rise, so they have a closed form."""
    z = expit((pred - centre) / scale)
    zc = z - z.mean(-1, keepdims=True)
    var, cov = (zc ** 2).sum(-1), (zc * (mos - mos.mean())).sum(-1)
    rise = np.where(var > 0, np.maximum(cov, 0.0) / np.where(var > 0, var, 1.0), 0.0)
    low = mos.mean() - rise * z.mean(-1)
    return low, rise, ((low[..., None] + rise[..., None] * z - mos) ** 2).sum(-1)


def _starts(pred: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Centre and scale of every starting point, as [k, 1] columns."""
    points = np.unique(pred)
    if len(points) > MAX_CENTRES:
        points = np.quantile(pred, np.linspace(0, 1, MAX_CENTRES))
    centres = np.concatenate([points, (points[1:] + points[:-1]) / 2])
    c, s = np.meshgrid(centres, float(pred.std()) * SCALES)
    return c.reshape(-1, 1), s.reshape(-1, 1)


def logistic_fit(pred, mos) -> Tuple[np.ndarray, str]:
    """The predictions mapped onto the MOS scale by a least-squares increasing logistic, and "";
    or an empty array and why there is no mapping (too few images, a constant side, NaN, or a flat
    best fit: the predictions do not rise with MOS).

    The sum of squares has local minima (a step between two predictions, a near-straight line), so
    the fit starts from a grid of centres and scales, refines the best few by least squares over
    centre and log-scale (low and rise in closed form) and keeps the lowest."""
    pred, mos = np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    if len(pred) < 5:
        return np.empty(0), f"{len(pred)} images are too few for 4 parameters"
    if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(mos))):
        return np.empty(0), "ValueError: NaN or infinite prediction or MOS"
    if np.ptp(pred) == 0 or np.ptp(mos) == 0:
        return np.empty(0), "constant prediction or MOS"
    smallest = 1e-9 * float(np.ptp(pred))

    def curve(p):
        centre, scale = p[0], max(float(np.exp(min(p[1], 700.0))), smallest)
        low, rise, _ = _profile(pred, mos, np.array([[centre]]), np.array([[scale]]))
        return low[0], rise[0], centre, scale

    def residuals(p):
        return logistic(pred, *curve(p)) - mos

    centres, scales = _starts(pred)
    sse = _profile(pred, mos, centres, scales)[2]
    fits = [least_squares(residuals, [centres[i, 0], np.log(scales[i, 0])], method="lm", xtol=1e-12, ftol=1e-12,
                          gtol=1e-12) for i in np.argsort(sse)[:REFINED]]
    params = curve(min(fits, key=lambda f: f.cost).x)
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
