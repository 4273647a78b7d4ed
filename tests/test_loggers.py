"""Trackers (logger=tensorboard/mlflow/wandb): real runs, read back with each tool's own reader."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from omegaconf import OmegaConf

from conftest import TINY, run_py
from iqa.errors import ConfigError
from iqa.train.callbacks import History
from iqa.train.loggers import build_loggers

pytestmark = pytest.mark.slow
mlflow = pytest.importorskip("mlflow", reason='the tracking extra is not installed: pip install -e ".[tracking]"')


class NeedsAbsentPackage(History):
    package = "iqa_no_such_tracker"


def test_a_logger_whose_package_is_missing_is_one_line_naming_the_extra():
    cfg = OmegaConf.create({"logger": {"absent": {"_target_": f"{__name__}.NeedsAbsentPackage"}}})
    with pytest.raises(ConfigError) as e:
        build_loggers(cfg)
    assert str(e.value) == 'logger=absent needs the iqa_no_such_tracker package: pip install -e ".[tracking]"'


def _runs(uri):
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("iqa-sweep")
    return client, client.search_runs([experiment.experiment_id])


def test_mlflow_tensorboard_and_wandb_follow_a_paused_and_resumed_run(tmp_path, cache_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = tmp_path / "run"
    args = [*TINY, f"hydra.run.dir={out}", "trainer.epochs=2", "trainer.early_stopping=false", "loss.alpha=0.25",
            "logger=[csv,tensorboard,mlflow,wandb]", f"logger.mlflow.tracking_uri={uri}"]
    run_py([*args, "trainer.epochs_per_session=1"], tmp_path, cache_dir)
    first_ids = json.loads((out / "tracking.json").read_text())
    run_py([*args, "trainer.resume=true"], tmp_path, cache_dir)
    assert json.loads((out / "tracking.json").read_text()) == first_ids
    metrics = json.loads((out / "metrics.json").read_text())

    client, runs = _runs(uri)
    assert len(runs) == 1, "the resumed session continues the same MLflow run"
    run = runs[0]
    assert run.info.run_id == first_ids["mlflow"] and run.info.status == "FINISHED"
    assert run.data.params["loss.alpha"] == "0.25" and run.data.params["seed"] == "42"
    assert run.data.tags["iqa.run_folder"] == str(out.resolve()) and run.data.tags["iqa.seed"] == "42"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "test/srcc")] == [1, 2]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "lr/head")] == [1, 2]
    assert run.data.metrics["final/test_srcc"] == pytest.approx(metrics["test_srcc"])
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"metrics.json", "history.csv", "predictions.csv",
                                                                       "curves.png", "scatter.png"}

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("test/srcc")] == [1, 2]
    assert events.Scalars("train/loss")[0].value == pytest.approx(
        float(open(out / "history.csv").read().splitlines()[1].split(",")[1]))
    hparams = EventAccumulator(str(out / "tensorboard" / "hparams"))
    hparams.Reload()
    assert "_hparams_/session_start_info" in hparams.PluginTagToContent("hparams")
    assert hparams.Scalars("final/test_srcc")[0].value == pytest.approx(metrics["test_srcc"])

    offline = sorted(p.name for p in (out / "wandb").glob("offline-run-*"))
    assert len(offline) == 2 and all(name.endswith(first_ids["wandb"]) for name in offline)
    assert (out / "wandb" / offline[-1] / "files" / "metrics.json").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """A real `mlflow server` on 127.0.0.1 with a SQLite store; skipped if it does not come up in 90 s."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
                             "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.skip("mlflow server exited at start")
                time.sleep(0.5)
        else:
            pytest.skip("mlflow server did not listen within 90 s")
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_multirun_logs_to_an_mlflow_server_grouped_by_sweep_and_seed(tmp_path, cache_dir, mlflow_server):
    sweep = tmp_path / "sweep"
    run_py(["-m", *TINY, "trainer.epochs=1", f"hydra.sweep.dir={sweep}", "seed=42,43",
            "logger=[csv,mlflow]", f"logger.mlflow.tracking_uri={mlflow_server}"], tmp_path, cache_dir)
    client, runs = _runs(mlflow_server)
    assert sorted(r.data.tags["iqa.seed"] for r in runs) == ["42", "43"]
    assert {r.data.tags["iqa.sweep_dir"] for r in runs} == {str(sweep.resolve())}
    assert sorted(r.data.tags["iqa.job_num"] for r in runs) == ["0", "1"]
    assert all(r.info.status == "FINISHED" for r in runs)
    for r in runs:
        name = r.info.run_name  # the job's overrides (an override of a TINY key keeps TINY's place)
        assert "trainer.epochs=1 " in name and name.endswith(f" seed={r.data.tags['iqa.seed']}"), name
    for r in runs:
        assert "metrics.json" in {a.path for a in client.list_artifacts(r.info.run_id)}
