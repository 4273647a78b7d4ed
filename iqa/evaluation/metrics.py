"""Correlation metrics between predictions and MOS (scipy.stats)."""
from __future__ import annotations

from typing import Dict

import numpy as np
from scipy import stats


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
