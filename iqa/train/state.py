"""The fit loop's state between epochs: what `last.pt` saves and a resumed run restores."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import torch


@dataclass
class FitState:
    """History, the best epoch chosen so far (its metrics and predictions), the early-stopping
    count, the recorded batch fingerprints and the time spent.

    NaN (for example a constant prediction) never counts as an improvement.
    """

    history: List[Dict[str, float]] = field(default_factory=list)
    best_value: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_metrics: Dict[str, float] = field(default_factory=dict)
    best_results: Optional[Dict[str, Dict]] = None
    fingerprints: List[dict] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    def update(self, epoch: int, value: float, metrics: Dict[str, float], results: Dict[str, Dict]) -> bool:
        """Record an epoch's monitored value; True if it is the new best."""
        if not math.isnan(value) and value > self.best_value:
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_metrics, self.best_results = metrics, results
            return True
        self.bad_epochs += 1
        return False

    def to_checkpoint(self) -> dict:
        """A dict that `torch.load(weights_only=True)` reads back (predictions as tensors)."""
        state = asdict(self)
        state["best_results"] = _convert(self.best_results, torch.from_numpy)
        return state

    @classmethod
    def from_checkpoint(cls, saved: dict) -> "FitState":
        return cls(**{**saved, "best_results": _convert(saved["best_results"], lambda t: t.numpy())})


def _convert(results: Optional[Dict[str, Dict]], array) -> Optional[Dict[str, Dict]]:
    """Each evaluated set's `pred` and `mos` arrays converted with `array`."""
    if results is None:
        return None
    return {name: {k: array(v) if k in ("pred", "mos") else v for k, v in r.items()} for name, r in results.items()}


