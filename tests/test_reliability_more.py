"""More bad inputs, kills and shared folders: a run folder is never shared or half-finished, a
dataset never holds one file twice, and each mistake is one line before any work is lost."""
import json
import os
import signal
import subprocess
import sys
import time
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from fake_datasets import make_csv, write_csv
from helpers import ROOT, TINY, compose, fails_in_process, run_py, run_py_env
from iqa import predict
from iqa.cli import NOTHING_TO_RESUME, user_error_line
from iqa.config import validate
from iqa.errors import ConfigError
from iqa.report.runs import scan
from iqa.run_lock import acquire, release
from iqa import checkpoint_file

QUICK = [*TINY, "trainer.epochs=1"]


def _csv(root, rows, header=("path", "mos", "split")):
    """A csv dataset over images already in `root`; `rows`: (path, mos, split)."""
    write_csv(root / "labels.csv", list(header), [list(r) for r in rows])
    return ["data=csv", f"data.root={root}", "data.split=official", "data.cross=[]", f"data.cache_dir={root}/cache",
            "loader.batch_size=2"]


def _rows(root):
    names = sorted(str(p.relative_to(root)) for p in root.rglob("img*"))
    mos = np.linspace(1, 5, len(names))
    return [[n, float(m), "test" if i % 4 == 0 else "train"] for i, (n, m) in enumerate(zip(names, mos))]


# -- silent wrong results -------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["absolute", "symlink"])
def test_one_image_under_an_absolute_path_or_a_symlink_is_refused(tmp_path, spelling):
    root = tmp_path / "csv"
    make_csv(root)
    rows = _rows(root)
    first = rows[1][0]
    if spelling == "absolute":
        other = str(root / first)
    else:
        other = "link.png"
        os.symlink(root / first, root / other)
    rows.append([other, 2.5, "test"])
    line = fails_in_process(tmp_path, *_csv(root, rows))
    assert line == (f"{root}/labels.csv row {len(rows) + 1} column 'path': {other!r} is listed twice: row 3 names "
                    f"the same file (as {first!r})")


def test_a_repeated_column_is_refused(tmp_path):
    root = tmp_path / "csv"
    make_csv(root)
    rows = [[*r, 3.0] for r in _rows(root)]
    line = fails_in_process(tmp_path, *_csv(root, rows, header=("path", "mos", "split", "mos")))
    assert line == f"{root}/labels.csv has two columns named 'mos' (columns 2 and 4): rename or remove one"


def test_an_image_too_small_for_any_patch_is_named(tmp_path):
    root = tmp_path / "csv"
    make_csv(root)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(root / "a" / "img1.png")
    line = fails_in_process(tmp_path, *_csv(root, _rows(root)))
    assert line == ("csv/test: image a/img1.png is 1x1 pixels, smaller than the smallest patch (16 px a side): "
                    "remove it from the dataset")


# -- one clean line ------------------------------------------------------------------------------

@pytest.mark.parametrize("override,message", [
    ("loss.margin=abc", "loss.margin='abc' is out of range: must be a number >= 0"),
    ("loss.alpha=[1,2]", "loss.alpha=[1, 2] is out of range: must be a number in [0, 1]"),
    ("data.sets.csv.short_side=abc",
     "data.sets.csv.short_side='abc' is out of range: must be an integer >= 16, or 0 to keep sizes"),
])
def test_a_value_of_the_wrong_type_in_a_target_node_is_one_line(override, message):
    with pytest.raises(ConfigError) as err:
        validate(compose(*TINY, override))
    assert str(err.value) == message


def test_an_unresolvable_interpolation_is_one_line():
    with pytest.raises(Exception) as err:
        validate(compose(*TINY, "trainer.epochs=${nope.key}"))
    assert user_error_line(err.value) == "trainer.epochs: Interpolation key 'nope.key' not found"


@pytest.mark.parametrize("overrides,message", [
    (["scheduler=step", "scheduler.step_size=0"], "scheduler: torch.optim.lr_scheduler.StepLR fails when stepped "
                                                  "(ZeroDivisionError: integer modulo by zero): check its arguments"),
    (["scheduler.T_max=0"], "scheduler: torch.optim.lr_scheduler.CosineAnnealingLR fails when stepped "
                            "(ZeroDivisionError: integer modulo by zero): check its arguments"),
    (["+optim.betas=[0.9]"], "optim: torch.optim.Adam rejected its arguments "
                             "(ConfigIndexError: list index out of range)"),
])
def test_optimizer_and_scheduler_arguments_are_checked_before_training(tmp_path, overrides, message):
    assert fails_in_process(tmp_path, *overrides) == message
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "history.csv").exists()


def test_weights_that_diverge_in_the_last_step_say_the_loss_became_nan(tmp_path):
    line = fails_in_process(tmp_path, "trainer.epochs=1", "optim.lr=1e9", "loader.batch_size=48")
    assert line.startswith("loss became nan after epoch 1: the weights diverged in its last step and the model "
                           "predicts nan or inf for ")
    assert line.endswith("lower optim.lr or check the data")


def test_predict_refuses_a_folder_as_output_before_reading_anything(tmp_path, capsys):
    out = tmp_path / "scores"
    out.mkdir()
    # the checkpoint does not exist: the output is checked first
    assert predict.main([f"checkpoint={tmp_path}/none.pt", f"inputs={tmp_path}", f"output={out}"]) == 1
    assert capsys.readouterr().err == f"error: output={out} is a folder: name the file to write, e.g. " \
                                      f"output={out}/scores.csv\n"


def test_aggregate_skips_a_run_whose_overrides_file_is_damaged(tmp_path, caplog):
    for job, text in (("0", "- seed=1\n"), ("1", "- seed=2\n- [unclosed\n"), ("2", "just: a mapping\n")):
        (tmp_path / job / ".hydra").mkdir(parents=True)
        (tmp_path / job / ".hydra" / "overrides.yaml").write_text(text)
        (tmp_path / job / "metrics.json").write_text(json.dumps({"test_srcc": 0.5, "seed": int(job)}))
    with caplog.at_level(logging.WARNING, "iqa"):
        runs = scan(tmp_path)
    assert [r.path.name for r in runs] == ["0"] and runs[0].overrides == ("seed=1",)
    assert f"skipping run folder {tmp_path / '1'}: its .hydra/overrides.yaml cannot be read: it is not YAML" \
        in caplog.text
    assert f"skipping run folder {tmp_path / '2'}: its .hydra/overrides.yaml cannot be read: it is not a list" \
        in caplog.text


def _stderr_line(proc):
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "Error executing job" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.slow
def test_mistakes_outside_the_job_are_one_line_and_write_nothing(tmp_path, cache_dir):
    user = tmp_path / "myconf" / "loss"
    user.mkdir(parents=True)
    (user / "bad.yaml").write_text("_target_: iqa.train.losses.RankingLoss\nalpha: [0.5,\n")
    proc = run_py([*QUICK, f"hydra.searchpath=[file://{tmp_path / 'myconf'}]", "loss=bad",
                   f"hydra.run.dir={tmp_path}/a"], tmp_path, cache_dir, check=False)
    assert _stderr_line(proc) == (f"error: {user}/bad.yaml is not valid YAML: while parsing a flow node expected the "
                                  f"node content, but found '<stream end>' (line 3, column 1)")
    (tmp_path / "file").write_text("x")
    proc = run_py([*QUICK, f"data.cache_dir={tmp_path}/file/cache", f"hydra.run.dir={tmp_path}/c"], tmp_path,
                  cache_dir, check=False)
    assert _stderr_line(proc).startswith(f"error: cannot write or read {tmp_path}/file/cache")
    assert json.loads((tmp_path / "c" / "error.json").read_text())["error"] == "NotADirectoryError"
    work = tmp_path / "work"
    work.mkdir()
    for args, key in ((["hydra.run.dir="], "run"), (["-m", "hydra.sweep.dir=", "seed=1,2"], "sweep")):
        proc = run_py([*args, *QUICK], work, cache_dir, check=False)
        assert _stderr_line(proc) == (f"error: hydra.{key}.dir='' is empty: name the folder to write into (an empty "
                                      f"name means the current folder)")
    assert os.listdir(work) == []


# -- nothing lost, nothing shared ------------------------------------------------------------------

HOLD = "import sys, time; from iqa.run_lock import acquire; acquire(sys.argv[1]); print('held', flush=True); " \
       "time.sleep(600)"


def test_a_folder_is_locked_while_its_holder_lives_and_free_once_it_is_killed(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], cwd=ROOT, env=run_py_env(tmp_path),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(ConfigError) as err:
            acquire(tmp_path / "run")
        assert str(err.value).startswith(f"run folder {tmp_path / 'run'} is in use by process {holder.pid} on ")
    finally:
        holder.kill()
        holder.wait()
    acquire(tmp_path / "run")  # the killed holder's lock is gone with it
    acquire(tmp_path / "run")  # and a process may take its own lock again
    release(tmp_path / "run")
    release(tmp_path / "run")


def _wait_for(predicate, proc, seconds=600):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended early"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_second_run_into_a_live_run_folder_is_refused_and_a_killed_one_resumes(tmp_path, cache_dir):
    run = tmp_path / "run"
    args = [*TINY, "trainer.epochs=200", "trainer.early_stopping=false", f"hydra.run.dir={run}"]
    first = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=tmp_path, env=run_py_env(cache_dir),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (run / "checkpoints" / "last.pt").is_file(), first)
        overrides = (run / ".hydra" / "overrides.yaml").read_text()
        second = run_py([*args, "seed=7"], tmp_path, cache_dir, check=False)
        assert first.poll() is None, "the first run ended before the second started"
        assert _stderr_line(second) == (f"error: run folder {run} is in use by process {first.pid} on "
                                        f"{os.uname().nodename}: wait for that run to end, or give another "
                                        f"hydra.run.dir (a sweep: hydra.sweep.dir)")
        assert (run / ".hydra" / "overrides.yaml").read_text() == overrides
        assert "seed=7" not in (run / "run.log").read_text()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    proc = run_py([*args, "trainer.resume=true", "trainer.epochs_per_session=1"], tmp_path, cache_dir)
    assert "paused after epoch" in proc.stdout


@pytest.mark.slow
def test_ctrl_c_before_the_first_checkpoint_says_there_is_nothing_to_resume(tmp_path, cache_dir):
    run = tmp_path / "run"
    # a dataset not in the cache yet: generating it leaves time to press Ctrl-C before epoch 1 ends
    args = [*TINY, "data.n_refs=9", f"data.cache_dir={tmp_path}/cache", f"hydra.run.dir={run}"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=tmp_path, env=run_py_env(cache_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (run / "run.log").is_file() and "model:" in (run / "run.log").read_text(), proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    assert not (run / "checkpoints" / "last.pt").exists(), "the first epoch ended before Ctrl-C"
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == NOTHING_TO_RESUME, err


@pytest.mark.slow
def test_a_run_that_stops_while_writing_its_results_is_finished_by_resume(tmp_path, cache_dir):
    run = tmp_path / "run"
    (run / "curves.png").mkdir(parents=True)  # the plot cannot be written: the run stops after its last epoch
    proc = run_py([*QUICK, f"hydra.run.dir={run}"], tmp_path, cache_dir, check=False)
    assert _stderr_line(proc).startswith(f"error: cannot write or read {run}/curves.png")
    assert not (run / "metrics.json").exists()
    (run / "curves.png").rmdir()
    proc = run_py([*QUICK, f"hydra.run.dir={run}", "trainer.resume=true"], tmp_path, cache_dir)
    assert "finished before" not in proc.stdout
    for name in ("metrics.json", "predictions.csv", "curves.png", "scatter.png"):
        assert (run / name).is_file(), name


@pytest.mark.slow
def test_a_damaged_best_checkpoint_is_rebuilt_on_resume(tmp_path, cache_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    args = [*TINY, "trainer.epochs=3", "trainer.early_stopping=false"]
    run_py([*args, f"hydra.run.dir={a}", "trainer.epochs_per_session=1"], tmp_path, cache_dir)
    original = checkpoint_file.load(a / "checkpoints" / "best.pt")
    best = a / "checkpoints" / "best.pt"
    best.write_bytes(best.read_bytes()[:1000])  # an interrupted copy
    # into another folder: the damaged best.pt beside last.pt no longer stops the resume
    run_py([*args, f"hydra.run.dir={b}", f"checkpoint={a}/checkpoints/last.pt", "trainer.resume=true",
            "trainer.epochs_per_session=1"], tmp_path, cache_dir)
    assert checkpoint_file.load(b / "checkpoints" / "best.pt")["epoch"] in (1, 2)
    # in place: rebuilt from last.pt (epoch 1 is the best so far), then kept or replaced by a better epoch
    run_py([*args, f"hydra.run.dir={a}", "trainer.resume=true"], tmp_path, cache_dir)
    assert "is missing or damaged: rebuilt it from" in (a / "run.log").read_text()
    metrics = json.loads((a / "metrics.json").read_text())
    rebuilt = checkpoint_file.load(best)
    assert rebuilt["epoch"] == metrics["best_epoch"]
    if metrics["best_epoch"] == 1:
        assert all(torch.equal(rebuilt["model"][k], v) for k, v in original["model"].items())
