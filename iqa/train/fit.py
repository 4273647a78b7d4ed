"""The fit loop: train an epoch, evaluate, pick the best epoch on the monitored metric, hand the
epoch to the callbacks (checkpoints, history, fingerprints, a sweeper's report, early stopping)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np
from tqdm.auto import tqdm

from iqa.errors import TrainingError
from iqa.evaluation.evaluate import evaluate_all, flat_metrics
from iqa.run_folder import RunFolder
from iqa.runtime.accel import Accel
from iqa.train.callbacks import Callback
from iqa.train.epoch import train_epoch
from iqa.train.optim import current_lrs
from iqa.train.state import FitState

log = logging.getLogger("iqa")


@dataclass
class Fit:
    """Everything one training run works with; built by iqa.train.job.run, run by `epochs`."""

    cfg: object
    folder: RunFolder
    bundle: object  # the decoded data (iqa.data.DataBundle)
    model: object
    net: object  # the model as the speed options prepared it (compiled, channels-last)
    loss_fn: object
    optimizer: object
    scheduler: object
    accel: Accel
    device: object
    train_loader: object
    loaders: Dict[str, object]  # evaluation loaders: val (if any), test, cross_<name>
    monitor: str
    resolved_config: dict
    callbacks: List[Callback]
    progress: bool
    start: float = field(default_factory=time.perf_counter)
    state: FitState = field(default_factory=FitState)
    stop: bool = False

    @property
    def all_loaders(self) -> Dict[str, object]:
        """Every loader whose random generator a resumed run must restore."""
        return {"train": self.train_loader, **self.loaders}

    def _each(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def epochs(self, todo: range) -> None:
        """Train the epochs in `todo`, or fewer if a callback stops the loop."""
        self._each("on_fit_start")
        epochs = tqdm(todo, desc="epochs", initial=self.state.epochs_done, total=self.cfg.trainer.epochs,
                      disable=not self.progress, dynamic_ncols=True)
        for epoch in epochs:
            t0 = time.perf_counter()
            lrs = current_lrs(self.optimizer)
            row = {"epoch": epoch, **train_epoch(
                self.net, self.train_loader, self.loss_fn, self.optimizer, self.device, epoch, self.progress,
                lambda *batch: self._each("on_train_batch", *batch), self.accel)}
            results = evaluate_all(self.net, self.loaders, self.device, self.accel)
            _check_finite(results, epoch)
            flat = flat_metrics(results)
            row.update(lrs)
            row.update(flat)
            row["epoch_s"] = round(time.perf_counter() - t0, 3)
            self.state.history.append(row)
            self.scheduler.step()
            improved = self.state.update(epoch, flat[self.monitor], flat, results)
            log.info("epoch %d/%d %s%s", epoch, self.cfg.trainer.epochs, _fmt(row), " *" if improved else "")
            self._each("on_epoch_end", epoch, row)
            if self.stop:
                break

    def finish(self, metrics: dict) -> None:
        self._each("on_fit_end", metrics)


def _check_finite(results: Dict[str, Dict], epoch: int) -> None:
    """TrainingError when the model predicts NaN or Inf: the weights diverged in the epoch's last
    steps, after the last loss the training loop checked."""
    for key, r in results.items():
        bad = ~np.isfinite(np.asarray(r["pred"], dtype=np.float64))
        if bad.any():
            raise TrainingError(f"loss became nan after epoch {epoch}: the weights diverged in its last step and "
                                f"the model predicts nan or inf for {int(bad.sum())} of {bad.size} {key} images; "
                                f"lower optim.lr or check the data")


def _fmt(row: Dict) -> str:
    keys = ["train_loss", "train_srcc"] + [k for k in ("val_srcc", "test_srcc", "test_plcc") if k in row]
    keys += [k for k in row if k.startswith("cross_") and k.endswith("_srcc")]
    parts = [f"{k} {row[k]:.4f}" for k in keys]
    parts += [f"{k} {v:.2e}" for k, v in row.items() if k.startswith("lr_")]
    return " | ".join(parts)


