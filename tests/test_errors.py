"""Every bad input: one line on stderr naming the cause, a non-zero exit, no metrics.json.

Out-of-range values are in test_bad_config.py. One case of each other kind of error (Hydra
override, training, file system, checkpoint) runs `python run.py` in a subprocess; the other
cases of a kind raise through the same path, so they run the real job code in-process, which
is quicker. docs/errors.md lists every case.
"""
import pytest
import torch
from omegaconf import OmegaConf

from conftest import TINY, run_py
from iqa.train import checkpoint
from iqa import models
from iqa.cli import user_error_line
from iqa.runtime.jobs import job_scope
from iqa.train.job import run
from helpers import compose


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


def fails_in_process(tmp_path, *overrides):
    """Compose and run the job in this process expecting a user error; returns its one line."""
    out = tmp_path / "run"
    cfg = compose(*TINY, *overrides)
    try:
        with job_scope(cfg):
            run(cfg, out)
    except Exception as e:
        line = user_error_line(e)
        assert line is not None and "\n" not in line, repr(e)
        assert not (out / "metrics.json").exists()
        return line
    raise AssertionError(f"{overrides} did not fail")


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
def test_unreachable_storage_is_named_without_its_password(tmp_path, cache_dir):
    proc = run_py(["-m", *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra/sweeper=iqa_optuna",
                   "loss.alpha=interval(0, 1)", "hydra.sweeper.storage=postgresql://u:not-this-secret@127.0.0.1:1/x"],
                  tmp_path, cache_dir, check=False)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: cannot open storage postgresql://u:***@127.0.0.1:1/x: OperationalError: ")
    assert "not-this-secret" not in proc.stdout + proc.stderr
    assert [p for p in tmp_path.rglob("*") if p.is_file() and b"not-this-secret" in p.read_bytes()] == []

def _tiny_checkpoint(path, **model_overrides):
    """A checkpoint as run.py writes it, for a freshly initialised tiny model."""
    cfg = compose(*TINY, *(f"model.{k}={v}" for k, v in model_overrides.items()))
    model = models.build(cfg.model, cfg.loader.patch_size)
    checkpoint.save(path, model, None, None, 1, {}, OmegaConf.to_container(cfg, resolve=True))
    return path


def test_missing_checkpoint(tmp_path, cache_dir):
    line = fails_in_process(tmp_path, "mode=eval", f"checkpoint={tmp_path}/none.pt")
    assert line == f"checkpoint {tmp_path}/none.pt does not exist"


@pytest.mark.slow
def test_checkpoint_of_another_architecture(tmp_path, cache_dir):
    path = _tiny_checkpoint(tmp_path / "small.pt")
    state = torch.load(path, weights_only=True)
    state["model"] = torch.load(_tiny_checkpoint(tmp_path / "wide.pt", lda_out=8, target_sizes="[64,32,16]"),
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
