"""Callbacks of the fit loop: what happens around each epoch besides training and evaluation.

The loop (iqa/train/fit.py) calls every callback in list order; each owns one concern, so a new
one (a logger, say) is a class here and an entry in `default_callbacks`, not an edit of the loop.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Dict, List, Optional

import torch

from iqa.atomic import write_csv
from iqa.runtime.repro import rng_state
from iqa.train import checkpoint
from iqa.train.fingerprint import BatchFingerprints

log = logging.getLogger("iqa")


class Callback:
    """Hooks of the fit loop; `fit` is the running iqa.train.fit.Fit."""

    def on_fit_start(self, fit) -> None:
        """After the model, data and optimizer are built (and a resumed state restored)."""

    def on_train_batch(self, fit, epoch: int, step: int, patches: torch.Tensor, samples: torch.Tensor) -> None:
        """A training batch as the loader delivered it, before it reaches the model."""

    def on_epoch_end(self, fit, epoch: int, row: Dict[str, float]) -> None:
        """After an epoch's evaluation; `row` is its history.csv row (every metric included)."""

    def on_fit_end(self, fit, metrics: dict) -> None:
        """After the run folder's files are written, metrics.json last."""


class Fingerprints(Callback):
    """batches.json: the first `trainer.fingerprint_batches` training batches of the run."""

    def __init__(self) -> None:
        self.recorder: Optional[BatchFingerprints] = None

    def on_fit_start(self, fit) -> None:
        self.recorder = BatchFingerprints(fit.folder.batches, fit.cfg.trainer.fingerprint_batches,
                                          fit.train_loader.dataset, fit.cfg.seed)
        self.recorder.restore(fit.state.fingerprints)
        fit.state.fingerprints = self.recorder.batches

    def on_train_batch(self, fit, epoch, step, patches, samples) -> None:
        self.recorder.record(epoch, step, patches, samples)

    def on_epoch_end(self, fit, epoch, row) -> None:
        self.recorder.flush()


class Checkpoints(Callback):
    """checkpoints/best.pt when the epoch is the new best: its weights, metrics and config only.
    checkpoints/last.pt after every epoch: the weights, optimizer and scheduler, the FitState and
    every random generator, all a resume needs; removed once the run has finished (metrics.json
    written), when nothing can resume it any more, unless `trainer.keep_resume_state`
    (docs/reproducibility.md). A finished run so keeps its selected weights and nothing else."""

    def on_epoch_end(self, fit, epoch, row) -> None:
        if not fit.cfg.trainer.save_checkpoints:
            return
        if fit.state.best_epoch == epoch:
            self.save_best(fit, epoch, row)
        fit.state.elapsed_s = time.perf_counter() - fit.start
        resume = {"state": fit.state.to_checkpoint(), "threads": torch.get_num_threads(),
                  "rng": rng_state(fit.all_loaders)}
        checkpoint.save(fit.folder.last, fit.model, fit.optimizer, fit.scheduler, epoch, row, fit.resolved_config,
                        extra={"resume": resume, "accel": fit.accel.state_dict()})

    def on_fit_end(self, fit, metrics) -> None:
        if not fit.cfg.trainer.keep_resume_state:
            fit.folder.last.unlink(missing_ok=True)

    @staticmethod
    def save_best(fit, epoch: int, row: Dict[str, float]) -> None:
        """best.pt of `epoch` (also rebuilt by a resumed run from last.pt when that is the best epoch)."""
        checkpoint.save(fit.folder.best, fit.model, None, None, epoch, row, fit.resolved_config)


class History(Callback):
    """history.csv: one row per epoch, rewritten after each."""

    def on_epoch_end(self, fit, epoch, row) -> None:
        write_csv(fit.folder.history, fit.state.history)


class SplitFile(Callback):
    """split.csv: every image of the training dataset and its part, so the split can be checked,
    compared by its hash (metrics.json) and reused with data.split_file."""

    def on_fit_start(self, fit) -> None:
        fit.bundle.split.write(fit.folder.split)


class EpochHook(Callback):
    """Calls `fn(epoch, row)` after each epoch: a sweeper's per-epoch report (it may prune the run)."""

    def __init__(self, fn: Callable[[int, Dict[str, float]], None]) -> None:
        self.fn = fn

    def on_epoch_end(self, fit, epoch, row) -> None:
        self.fn(epoch, row)


class EarlyStopping(Callback):
    """Stops the loop after `trainer.patience` epochs without a new best (`trainer.early_stopping`)."""

    @staticmethod
    def stalled(trainer_cfg, state) -> bool:
        return bool(trainer_cfg.early_stopping) and state.bad_epochs >= trainer_cfg.patience

    def on_epoch_end(self, fit, epoch, row) -> None:
        if self.stalled(fit.cfg.trainer, fit.state):
            log.info("early stopping: %s did not improve for %d epochs", fit.monitor, fit.cfg.trainer.patience)
            fit.stop = True


def default_callbacks(on_epoch: Optional[Callable] = None, loggers: Optional[List[Callback]] = None) -> List[Callback]:
    """The run's callbacks in the order they act after an epoch: checkpoints, history (or the
    configured loggers, iqa.train.loggers), the sweeper's report, then the decision to stop
    (split.csv at the start)."""
    loggers = [History()] if loggers is None else loggers
    return [SplitFile(), Fingerprints(), Checkpoints(), *loggers,
            *([EpochHook(on_epoch)] if on_epoch else []), EarlyStopping()]
