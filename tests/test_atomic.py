"""Nothing half-written: every writer keeps the previous good file when a write fails or is killed."""
import ast
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers import ROOT
from iqa.train import checkpoint
from iqa import checkpoint_file
from iqa.atomic import replace_with, write_csv


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_writer_failing_midway_leaves_the_previous_file(tmp_path):
    path = tmp_path / "history.csv"
    write_csv(path, [{"epoch": 1, "loss": 0.5}])
    good = path.read_text()

    def half_then_crash(tmp):
        tmp.write_text("epoch,loss\n1,0.5\n2,")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        replace_with(path, half_then_crash)
    assert path.read_text() == good and _leftovers(tmp_path) == []


def test_a_checkpoint_failing_midway_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    model = torch.nn.Linear(64, 64)
    checkpoint.save(path, model, None, None, 1, {"test_srcc": 0.5}, {"seed": 1})
    # Pickling stops at the function after the weights are on their way into the file.
    with pytest.raises(Exception):
        checkpoint.save(path, model, None, None, 2, {"test_srcc": 0.6}, {"seed": 1, "bad": lambda: 0})
    state = checkpoint_file.load(path)
    assert state["epoch"] == 1 and torch.equal(state["model"]["weight"], model.weight.detach())
    assert _leftovers(tmp_path) == []


WRITER = """
import itertools, sys, torch
from iqa.atomic import write_json
from iqa.train.checkpoint import save
folder = sys.argv[1]
model = torch.nn.Linear(256, 256)
for i in itertools.count():
    write_json(folder + "/metrics.json", {"i": i, "pad": [i] * 20000})
    save(folder + "/last.pt", model, None, None, i, {}, {})
    print(i, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_s", [0.05, 0.3])
def test_a_kill_at_any_moment_leaves_complete_files(tmp_path, kill_after_s):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "0"  # both files exist from here on
        time.sleep(kill_after_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["pad"] == [metrics["i"]] * 20000
    assert checkpoint_file.load(tmp_path / "last.pt")["model"]["weight"].shape == (256, 256)


WRITE_METHODS = {"write_text", "write_bytes", "savefig", "to_csv"}
WRITE_FUNCTIONS = {("torch", "save"), ("np", "save"), ("np", "savez"), ("np", "savez_compressed"),
                   ("json", "dump"), ("pickle", "dump"), ("yaml", "dump"), ("OmegaConf", "save")}


def _is_write(call: ast.Call) -> bool:
    f = call.func
    if isinstance(f, ast.Name) and f.id == "open":
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        return isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")
    if not isinstance(f, ast.Attribute):
        return False
    owner = f.value.id if isinstance(f.value, ast.Name) else None
    return f.attr in WRITE_METHODS or (owner, f.attr) in WRITE_FUNCTIONS


def _unguarded_writes(tree: ast.AST, inside_writer: bool = False):
    """Write calls not inside a function or lambda taking `tmp`, the temporary path replace_with hands out."""
    for node in ast.iter_child_nodes(tree):
        guarded = inside_writer
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            guarded = guarded or any(a.arg == "tmp" for a in node.args.args)
        if isinstance(node, ast.Call) and _is_write(node) and not guarded:
            yield node.lineno
        yield from _unguarded_writes(node, guarded)


def test_every_file_the_project_writes_goes_through_iqa_atomic():
    sources = [p for p in [ROOT / "run.py", *(ROOT / "iqa").rglob("*.py")]
               if p.name != "atomic.py"]
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in sources
                 for line in _unguarded_writes(ast.parse(p.read_text()))]
    assert offenders == [], "write through iqa.atomic (replace_with / write_json / write_csv / write_text)"


def test_ctrl_c_during_a_write_takes_effect_once_the_file_is_whole(tmp_path):
    """A SIGINT that arrives while a checkpoint is written: the file is completed and in place,
    then KeyboardInterrupt is raised (not a RuntimeError from inside torch's writer)."""
    model = torch.nn.Linear(64, 64)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(b"")
        signal.raise_signal(signal.SIGINT)
        torch.save({"model": model.state_dict()}, tmp)

    from iqa.atomic import replace_with
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a run.py process
    try:
        with pytest.raises(KeyboardInterrupt):
            replace_with(tmp_path / "last.pt", write)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)  # a test process's own handler (a pytest-xdist worker's)
    assert checkpoint_file.load(tmp_path / "last.pt")["model"]["weight"].shape == (64, 64)
    assert _leftovers(tmp_path) == []
