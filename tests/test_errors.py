"""Every bad input: one line on stderr naming the cause, a non-zero exit, no metrics.json.

Out-of-range values are in test_bad_config.py. One case of each other kind of error (Hydra
override, training, file system, checkpoint) runs `python run.py` in a subprocess; the other
cases of a kind raise through the same path, so they run the real job code in-process, which
is quicker. docs/errors.md lists every case.
"""
import os
import subprocess
import sys

import pytest
import torch

from helpers import ROOT, TINY, fails_in_process, run_py, tiny_checkpoint


def fails(tmp_path, cache_dir, *overrides, multirun=False):
    """Run run.py expecting failure; returns the single stderr line (without 'error: ')."""
    out = tmp_path / "out"
    where = f"hydra.sweep.dir={out}" if multirun else f"hydra.run.dir={out}"
    proc = run_py([*(["-m"] if multirun else []), *TINY, where, *overrides], tmp_path, cache_dir, check=False)
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    if not multirun:  # a multirun also names the failed job's overrides on the line before
        assert len(lines) == 1, proc.stderr
        assert not (out / "metrics.json").exists()
    return lines[-1][len("error: "):], out


@pytest.mark.slow
def test_unknown_key(tmp_path, cache_dir):
    line, _ = fails(tmp_path, cache_dir, "trainer.epoch=3")
    assert "trainer.epoch" in line and "not in 'TrainerConfig'" in line


def test_batch_larger_than_the_training_set(tmp_path, cache_dir):
    line = fails_in_process(tmp_path, "loader.batch_size=4096")
    assert line.startswith("loader.batch_size=4096 is larger than the training set")


def test_empty_training_split(tmp_path, cache_dir):
    line = fails_in_process(tmp_path, "data.n_refs=2", "data.test_fraction=0.9")
    assert line == ("synthetic: 2 content groups are too few to split off a test (2) and a validation (1) part "
                    "and keep one for training")


@pytest.mark.slow
def test_unwritable_output_folder(tmp_path, cache_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line, _ = fails(tmp_path, cache_dir, f"hydra.run.dir={blocker}/run")
    assert line.startswith(f"cannot write or read {blocker}/run: Not a directory")
    line, _ = fails(tmp_path, cache_dir, f"hydra.sweep.dir={blocker}/sweep", "seed=1,2", multirun=True)
    assert line.startswith(f"cannot write or read {blocker}/sweep: Not a directory")


@pytest.mark.slow
def test_nan_loss_stops_the_run_and_records_no_success(tmp_path, cache_dir):
    # An absurd learning rate makes the weights, then the loss, overflow within a few steps.
    line, out = fails(tmp_path, cache_dir, "optim.lr=1e30")
    assert line.startswith("loss became nan at epoch 1 step ") and line.endswith("lower optim.lr or check the data")
    assert "TrainingError: loss became nan" in (out / "run.log").read_text()


@pytest.mark.slow
def test_a_failed_job_fails_the_multirun_but_not_the_other_jobs(tmp_path, cache_dir):
    line, out = fails(tmp_path, cache_dir, "trainer.epochs=1", "data.cross=[]", "optim.lr=1e-3,1e30", multirun=True)
    assert line.startswith(f"1 of 2 runs failed, first {out / '1'}: TrainingError: loss became nan")
    assert (out / "0" / "metrics.json").is_file()
    assert not (out / "1" / "metrics.json").exists() and "TrainingError" in (out / "1" / "run.log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("url,shown", [
    ("postgresql://u:not-this-secret@127.0.0.1:1/x", "postgresql://u:***@127.0.0.1:1/x"),
    ("postgresql://u@127.0.0.1:1/x?password=not-this-secret", "postgresql://u@127.0.0.1:1/x?password=***"),
])
def test_unreachable_storage_is_named_without_its_password(tmp_path, cache_dir, url, shown):
    proc = run_py(["-m", *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra/sweeper=iqa_study",
                   "loss.alpha=interval(0, 1)", f"hydra.sweeper.storage='{url}'"],
                  tmp_path, cache_dir, check=False)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: cannot open storage {shown}: OperationalError: ")
    assert "not-this-secret" not in proc.stdout + proc.stderr
    assert [p for p in tmp_path.rglob("*") if p.is_file() and b"not-this-secret" in p.read_bytes()] == []

def test_missing_checkpoint(tmp_path, cache_dir):
    line = fails_in_process(tmp_path, "mode=eval", f"checkpoint={tmp_path}/none.pt")
    assert line == f"checkpoint {tmp_path}/none.pt does not exist"


@pytest.mark.slow
def test_checkpoint_of_another_architecture(tmp_path, cache_dir):
    path = tiny_checkpoint(tmp_path / "small.pt")
    state = torch.load(path, weights_only=True)
    state["model"] = torch.load(tiny_checkpoint(tmp_path / "wide.pt", lda_out=8, target_sizes="[64,32,16]"),
                                weights_only=True)["model"]
    torch.save(state, path)
    line, _ = fails(tmp_path, cache_dir, "mode=eval", f"checkpoint={path}")
    assert line.startswith(f"checkpoint {path} holds another architecture than its config describes:")
    assert "resized" in line


def test_file_that_is_not_a_run_checkpoint(tmp_path, cache_dir):
    path = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(3, 1).state_dict(), path)
    line = fails_in_process(tmp_path, "mode=eval", f"checkpoint={path}")
    assert line.startswith(f"checkpoint {path} was not written by run.py")


def _study_cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "iqa.study", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_inspecting_a_storage_that_does_not_exist_creates_nothing(tmp_path):
    proc = _study_cli(tmp_path, "--storage", "sqlite:///typo/x.db")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: no storage at sqlite:///typo/x.db: typo/x.db does not exist"
    assert list(tmp_path.iterdir()) == []


def test_a_study_whose_folder_cannot_be_written_here_is_one_line(tmp_path):
    import optuna

    url = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=url)
    (tmp_path / "a-file").write_text("")
    study.set_user_attr("sweep_dir", str(tmp_path / "a-file" / "sweep"))  # as recorded on another machine
    study.tell(study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), 0.5)
    proc = _study_cli(tmp_path, "--storage", url, "--study", "s")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"error: cannot write the plots into {tmp_path}/a-file/sweep: Not a directory "
                                   "(give --out DIR, or --no-plots)")
    assert "| 0 | COMPLETE | x=" in proc.stdout
