"""Same seed, same batches, same numbers: real `run.py` jobs compared through their run folders."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import pytest
import torch
from helpers import ROOT, TINY, run_py

from iqa import consistency

pytestmark = pytest.mark.slow

# Smaller than TINY (4 contents: 2 to train, 1 to validate, 1 to test; no cross set), with dropout
# and colour jitter switched on so the global torch generator and the per-sample jitter are
# exercised; 7 fingerprinted batches span both epochs (an epoch has 5 batches here).
BASE = [o for o in TINY if not o.startswith("data.n_refs")] + [
    "data.n_refs=4", "data.cross=[]", "trainer.early_stopping=false",
    "model.dropout=0.2", "loader.color_jitter=0.2", "trainer.fingerprint_batches=7",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    """`get(name, *overrides, into=folder)`: run BASE + overrides once per name, into <root>/<name> or `into`."""
    root = tmp_path_factory.mktemp("repro")
    fresh_cache = tmp_path_factory.mktemp("fresh-cache")
    made = {}

    def get(name, *overrides, fresh=False, into=None):
        if name not in made:
            out = into or root / name
            # One thread: the same numbers in every run (float sums depend on the thread count), and
            # no thread oversubscription when the tests share a few busy cores.
            with pytest.MonkeyPatch.context() as env:
                env.setenv("OMP_NUM_THREADS", "1")
                proc = run_py([*BASE, f"hydra.run.dir={out}", *overrides], root,
                              fresh_cache if fresh else cache_dir)
            made[name] = (out, proc)
        return made[name]
    return get


def results(run):
    """metrics.json without wall_s and peak_memory_mb, history.csv without epoch_s: what must repeat bit for bit."""
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.pop("wall_s")
    metrics.pop("peak_memory_mb")
    rows = [{k: v for k, v in row.items() if k != "epoch_s"} for row in csv.DictReader((run / "history.csv").open())]
    return metrics, rows


def consistency_cli(*args):
    return subprocess.run([sys.executable, "-m", "iqa.consistency", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True)


def reference(runs):
    # Generates the dataset inside the run: data loading must not shift the model's initialisation.
    return runs("ref", fresh=True)[0]


def test_same_seed_twice_gives_identical_numbers_and_batches(runs):
    a = reference(runs)
    b, _ = runs("again")
    assert results(a) == results(b)
    assert (a / "batches.json").read_bytes() == (b / "batches.json").read_bytes()
    batches = json.loads((a / "batches.json").read_text())["batches"]
    assert [(x["epoch"], x["step"]) for x in batches] == [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 1), (2, 2)]
    assert any(j != [1.0, 1.0] for x in batches for j in x["jitter"])
    proc = consistency_cli(a, b)
    assert proc.returncode == 0 and proc.stdout.startswith("identical: 7 batches match"), proc.stdout


def test_num_workers_do_not_change_batches_or_results(runs):
    a = reference(runs)
    w, _ = runs("workers", "loader.num_workers=2")
    assert (a / "batches.json").read_bytes() == (w / "batches.json").read_bytes()
    assert results(a) == results(w)


def test_other_seed_gives_other_batches(runs):
    a = reference(runs)
    s, _ = runs("seed43", "seed=43", "trainer.epochs=1")
    proc = consistency_cli(a, s)
    assert proc.returncode == 1
    assert proc.stdout.startswith("different: batch 1 (epoch 1, step 1) differs in 'samples'"), proc.stdout
    assert "(seed 42)" in proc.stdout and "(seed 43)" in proc.stdout


def test_run_paused_after_epoch_1_and_resumed_equals_uninterrupted(runs):
    a = reference(runs)
    p, proc = runs("paused", "trainer.epochs_per_session=1")
    assert "paused after epoch 1/2" in proc.stdout.strip().splitlines()[-1]
    assert not (p / "metrics.json").exists()
    last = torch.load(p / "checkpoints/last.pt", weights_only=True)
    assert last["epoch"] == 1
    assert set(last["resume"]["rng"]) == {"python", "numpy", "torch", "cuda", "loaders"}
    assert set(last["resume"]["rng"]["loaders"]) == {"train", "val", "test"}
    assert last["resume"]["state"]["best_epoch"] == 1

    # Into a new folder, from the checkpoint, with workers: equal to the uninterrupted run.
    other, _ = runs("resumed-elsewhere", f"checkpoint={p}/checkpoints/last.pt", "trainer.resume=true",
                    "loader.num_workers=2")
    # In place, the way a requeued cluster job continues.
    runs("resumed-in-place", "trainer.resume=true", into=p)
    for resumed in (other, p):
        assert results(resumed) == results(a)
        assert (resumed / "batches.json").read_bytes() == (a / "batches.json").read_bytes()
        assert (resumed / "checkpoints/best.pt").is_file()
    assert "resumed from" in (p / "run.log").read_text()


def test_consistency_names_first_differing_batch_and_field(runs, tmp_path):
    a = reference(runs)
    edited = tmp_path / "edited"
    edited.mkdir()
    data = json.loads((a / "batches.json").read_text())
    data["batches"][2]["flips"][4] = not data["batches"][2]["flips"][4]
    (edited / "batches.json").write_text(json.dumps(data))
    status, message = consistency.compare(a, edited)
    assert status == 1
    assert message.startswith("different: batch 3 (epoch 1, step 3) differs in 'flips' at position 4")


def test_consistency_latest_compares_two_newest_runs(runs, tmp_path):
    a = reference(runs)
    for name in ("older", "newer"):
        shutil.copytree(a, tmp_path / "runs" / name)
    proc = consistency_cli("--latest", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert "older" in proc.stdout and "newer" in proc.stdout
