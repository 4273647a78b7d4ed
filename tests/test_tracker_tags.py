"""Trackers show a run's scalars grouped by part (val/srcc, test/plcc, cross/<set>/srcc,
train/loss), while history.csv keeps its column names for scripts."""
import csv
import importlib.util

import pytest

from helpers import TINY, run_py
from iqa.train.loggers import scalar_tag


def test_history_columns_become_tags_grouped_by_part():
    cross = ["synthetic_cross", "spaq"]
    assert {k: scalar_tag(k, cross) for k in [
        "train_loss", "train_srcc", "lr_backbone", "lr_head", "val_srcc", "test_plcc_logistic", "epoch_s",
        "cross_synthetic_cross_plcc_logistic", "cross_spaq_srcc"]} == {
        "train_loss": "train/loss", "train_srcc": "train/srcc", "lr_backbone": "lr/backbone", "lr_head": "lr/head",
        "val_srcc": "val/srcc", "test_plcc_logistic": "test/plcc_logistic", "epoch_s": "time/epoch_s",
        "cross_synthetic_cross_plcc_logistic": "cross/synthetic_cross/plcc_logistic", "cross_spaq_srcc": "cross/spaq/srcc"}


@pytest.mark.slow
@pytest.mark.skipif(not all(importlib.util.find_spec(p) for p in ("tensorboard", "mlflow")),
                    reason='needs the tracking extra: pip install -e ".[tracking]"')
def test_tensorboard_and_mlflow_get_grouped_tags_and_history_csv_keeps_its_columns(tmp_path, cache_dir):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = tmp_path / "run"
    run_py([*TINY, f"hydra.run.dir={out}", "trainer.epochs=1", "data.cross=[synthetic_cross]",
            "logger=[csv,tensorboard,mlflow]", f"logger.mlflow.tracking_uri={uri}"], tmp_path, cache_dir)
    with open(out / "history.csv") as f:
        columns = next(csv.reader(f))
    assert {"train_loss", "val_srcc", "test_plcc", "cross_synthetic_cross_srcc", "lr_head"} <= set(columns)
    tags = {scalar_tag(c, ["synthetic_cross"]) for c in columns if c != "epoch"}

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == tags
    assert {"val/srcc", "test/plcc", "cross/synthetic_cross/srcc", "train/loss"} <= tags

    client = MlflowClient(tracking_uri=uri)
    [run] = client.search_runs([client.get_experiment_by_name("iqa-sweep").experiment_id])
    logged = set(run.data.metrics)
    assert tags <= logged and not {c for c in columns if "_" in c} & logged
    assert "final/test_srcc" in logged
