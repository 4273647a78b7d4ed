"""Disk per run: a finished run keeps its selected weights only; a sweep can keep its best
configurations' weights only."""
import csv
import json

import pytest
import torch

from helpers import TINY, run_py

pytestmark = pytest.mark.slow


def folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def finished(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("disk") / "run"
    run_py([*TINY, "trainer.epochs=2", f"hydra.run.dir={out}"], out.parent, cache_dir)
    return out


def test_a_finished_run_keeps_its_selected_weights_only(finished):
    assert sorted(p.name for p in (finished / "checkpoints").iterdir()) == ["best.pt"]
    best = torch.load(finished / "checkpoints/best.pt", weights_only=True)
    assert best["optimizer"] is None and best["scheduler"] is None and "resume" not in best
    assert best["epoch"] == json.loads((finished / "metrics.json").read_text())["best_epoch"]
    weight_bytes = sum(t.numel() * 4 for t in best["model"].values() if t.is_floating_point())
    assert folder_bytes(finished) <= 1.25 * weight_bytes + 20e6


def test_resuming_a_finished_run_checks_its_config_against_best_pt(finished, cache_dir):
    proc = run_py([*TINY, "trainer.epochs=2", "loss.alpha=0.5", "trainer.resume=true", f"hydra.run.dir={finished}"],
                  finished.parent, cache_dir, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: loss.alpha=0.5 differs from")
    assert "best.pt" in proc.stderr
    same = run_py([*TINY, "trainer.epochs=2", "trainer.resume=true", f"hydra.run.dir={finished}"],
                  finished.parent, cache_dir)
    assert "finished before: kept its metrics.json" in same.stdout


def test_keep_weights_keeps_the_best_configurations_checkpoints(tmp_path, cache_dir):
    sweep = tmp_path / "sweep"
    run_py(["-m", *TINY, "trainer.epochs=1", "loss.alpha=0.0,0.5,1.0", "hydra.callbacks.summary.keep_weights=1",
            f"hydra.sweep.dir={sweep}"], tmp_path, cache_dir)
    with open(sweep / "summary.csv", newline="") as f:
        best = next(csv.DictReader(f))["loss.alpha"]  # the first row is the best configuration
    kept = [d for d in sweep.iterdir() if (d / "checkpoints/best.pt").is_file()]
    assert len(kept) == 1
    assert f"loss.alpha={best}" in (kept[0] / ".hydra/overrides.yaml").read_text()
    assert all((sweep / str(i) / "metrics.json").is_file() for i in range(3))


def test_keep_weights_out_of_range_is_one_line(tmp_path, cache_dir):
    proc = run_py(["-m", *TINY, "seed=1,2", "hydra.callbacks.summary.keep_weights=-1",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}"], tmp_path, cache_dir, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: hydra.callbacks.summary.keep_weights=-1 is out of range: must be null (keep every run's weights) "
        "or an integer >= 0 (the best configurations to keep)"]
    assert not (tmp_path / "sweep" / "0").exists()
