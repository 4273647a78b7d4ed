"""Early stopping and the best epoch: `trainer.patience` counts epochs *in a row* without a new
best, `trainer.early_stopping=false` never stops the loop, and a tie keeps the earlier epoch.

The monitored values are played through the loop's own objects (FitState, then the EarlyStopping
callback) in the order iqa.train.fit.Fit calls them after each epoch."""
from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import compose

from iqa.train.callbacks import EarlyStopping, default_callbacks
from iqa.train.state import FitState


def play(values, *overrides):
    """(epochs run, best epoch, best value) of a run whose monitor reads `values`, one per epoch."""
    cfg = compose("trainer.epochs=%d" % len(values), *overrides)
    fit = SimpleNamespace(cfg=cfg, state=FitState(), monitor="val_srcc", stop=False)
    stopper = EarlyStopping()
    for epoch, value in enumerate(values, start=1):
        results = {"val": {"srcc": value, "pred": np.full(2, value), "mos": np.zeros(2)}}
        fit.state.history.append({"epoch": epoch, "val_srcc": value})
        fit.state.update(epoch, value, {"val_srcc": value}, results)
        stopper.on_epoch_end(fit, epoch, fit.state.history[-1])
        if fit.stop:
            break
    return fit.state.epochs_done, fit.state.best_epoch, fit.state.best_value


def test_patience_counts_bad_epochs_in_a_row():
    # Epochs 2 and 4 are bad but not in a row: with patience 2 the run goes on until 4 and 5 fail.
    values = [0.50, 0.40, 0.60, 0.55, 0.58, 0.59, 0.70]
    assert play(values, "trainer.patience=2") == (5, 3, 0.60)
    # The run that improves after a bad epoch keeps its later best.
    assert play([0.5, 0.4, 0.7, 0.8], "trainer.patience=2") == (4, 4, 0.8)


def test_the_run_stops_after_exactly_patience_bad_epochs():
    values = [0.5, 0.6, 0.1, 0.2, 0.3, 0.9]
    assert play(values, "trainer.patience=1") == (3, 2, 0.6)
    assert play(values, "trainer.patience=3") == (5, 2, 0.6)
    assert play(values, "trainer.patience=4") == (6, 6, 0.9)


def test_early_stopping_false_never_stops():
    values = [0.9, 0.1, 0.1, 0.1, 0.1, 0.1]
    assert play(values, "trainer.patience=1", "trainer.early_stopping=false") == (6, 1, 0.9)
    assert play(values, "trainer.patience=1", "trainer.early_stopping=true") == (2, 1, 0.9)


def test_a_tie_keeps_the_earlier_epoch_and_counts_as_no_gain():
    assert play([0.5, 0.7, 0.7, 0.7], "trainer.patience=2") == (4, 2, 0.7)
    state = FitState()
    assert state.update(1, 0.3, {}, {}) and not state.update(2, 0.3, {}, {})
    assert (state.best_epoch, state.bad_epochs) == (1, 1)


def test_nan_is_never_the_best_epoch():
    # A constant prediction has an undefined correlation: it is no gain, whatever comes before it.
    assert play([math.nan, 0.2, math.nan], "trainer.patience=5") == (3, 2, 0.2)
    state = FitState()
    assert not state.update(1, math.nan, {"val_srcc": math.nan}, {})
    assert (state.best_epoch, state.bad_epochs, state.best_value) == (0, 1, -math.inf)


def test_the_best_epoch_keeps_its_own_metrics_and_predictions():
    state = FitState()
    first = {"val": {"pred": np.array([1.0, 2.0]), "mos": np.array([0.0, 1.0])}}
    state.update(1, 0.4, {"val_srcc": 0.4, "test_srcc": 0.9}, first)
    state.update(2, 0.3, {"val_srcc": 0.3, "test_srcc": 0.95}, {"val": {"pred": np.zeros(2), "mos": np.ones(2)}})
    assert state.best_metrics == {"val_srcc": 0.4, "test_srcc": 0.9} and state.best_results is first
    again = FitState.from_checkpoint(state.to_checkpoint())
    assert (again.best_epoch, again.best_value, again.bad_epochs) == (1, 0.4, 1)
    assert np.array_equal(again.best_results["val"]["pred"], [1.0, 2.0])
    assert FitState.from_checkpoint(FitState().to_checkpoint()).best_results is None


@pytest.mark.parametrize("on_epoch", [None, print])
def test_early_stopping_acts_last_after_an_epoch(on_epoch):
    """The stop is decided after the checkpoints, the history and a sweeper's report of the epoch."""
    callbacks = default_callbacks(on_epoch)
    assert isinstance(callbacks[-1], EarlyStopping)
    assert sum(isinstance(c, EarlyStopping) for c in callbacks) == 1


def test_the_stop_is_logged_with_the_monitor_and_the_patience(caplog):
    with caplog.at_level(logging.INFO, logger="iqa"):
        play([0.5, 0.4, 0.3], "trainer.patience=2")
    assert [r.getMessage() for r in caplog.records if "early stopping" in r.getMessage()] == \
        ["early stopping: val_srcc did not improve for 2 epochs"]
