"""A checkpoint from someone else is data: scoring it (`mode=eval`, `iqa.predict`) never runs code
that the file names, and never reads the environment through an interpolation.

Each attack below ran a shell command (or read a secret) before checkpoints were read as data.
"""
import os
import pickle
import subprocess
import sys

import pytest
import torch

from helpers import ROOT, TINY, compose, fails_in_process, run_py, tiny_checkpoint
from iqa import checkpoint_file
from iqa.errors import DataError
from iqa.evaluation.checkpoint_eval import saved_config


class _Shell:
    """Pickles to a call of os.system: what numpy.load(allow_pickle=True) runs when it reads it."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def payloads(marker):
    """Fusion nodes that each write `marker` (or run `touch marker`) when Hydra instantiates them;
    writing a file is enough to take over an account (~/.bashrc, ~/.ssh/authorized_keys)."""
    path = {"_target_": "pathlib.Path", "_args_": [str(marker)]}
    return {
        "direct call": {"_target_": "pathlib.Path.write_text", "_args_": [path, "pwned"]},
        "nested in a known fusion": {"_target_": "iqa.models.fusion.LastStage", "_partial_": True,
                                     "hook": {"_target_": "pathlib.Path.touch", "_args_": [path]}},
        "pickle through numpy.load": {
            "_target_": "numpy.load", "allow_pickle": True,
            "file": {"_target_": "io.BytesIO",
                     "_args_": [{"_target_": "builtins.bytes",
                                 "_args_": [list(pickle.dumps(_Shell(f"touch {marker}")))]}]}},
    }


def hostile_checkpoint(tmp_path, name, model_changes):
    """A real run checkpoint whose saved model config was edited by an attacker."""
    path = tiny_checkpoint(tmp_path / f"{name.replace(' ', '_')}.pt")
    state = torch.load(path, weights_only=True)
    state["config"]["model"].update(model_changes)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("name", list(payloads("x")))
def test_mode_eval_of_a_hostile_checkpoint_runs_nothing(tmp_path, cache_dir, name):
    marker = tmp_path / "pwned"
    path = hostile_checkpoint(tmp_path, name, {"fusion": payloads(marker)[name]})
    line = fails_in_process(tmp_path, "mode=eval", f"checkpoint={path}")
    assert line.startswith(f"checkpoint {path} asks to call ") and "trust_checkpoint=true" in line
    assert not marker.exists(), "the checkpoint ran code"


@pytest.mark.slow
def test_predict_with_a_hostile_checkpoint_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = hostile_checkpoint(tmp_path, "predict", {"fusion": payloads(marker)["pickle through numpy.load"]})
    image = tmp_path / "x.png"
    from PIL import Image
    Image.new("RGB", (64, 64)).save(image)
    proc = subprocess.run([sys.executable, "-m", "iqa.predict", f"checkpoint={path}", f"inputs={image}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and not marker.exists(), proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: checkpoint {path} asks to call 'numpy.load' (at config.model.fusion): a checkpoint is data, "
        f"and only the project's fusions or your config's model.fusion are rebuilt from it; pass "
        f"trust_checkpoint=true only if you trust whoever wrote the file"]


def test_timm_arguments_that_load_files_are_refused(tmp_path):
    path = hostile_checkpoint(tmp_path, "timm", {"backbone_args": {"checkpoint_path": str(tmp_path / "evil.pth")}})
    with pytest.raises(DataError, match=r"backbone_args\.checkpoint_path, which makes timm load a file"):
        saved_config(checkpoint_file.load(path), path)


def test_an_interpolation_in_a_checkpoint_stays_text(tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv("IQA_TEST_SECRET", "hunter2")
    path = hostile_checkpoint(tmp_path, "env", {"backbone": "${oc.env:IQA_TEST_SECRET}"})
    line = fails_in_process(tmp_path, "mode=eval", f"checkpoint={path}")
    assert "hunter2" not in line and "${oc.env:IQA_TEST_SECRET}" in line


def test_the_fusions_of_the_project_and_of_the_users_config_are_rebuilt(tmp_path):
    state = checkpoint_file.load(tiny_checkpoint(tmp_path / "ok.pt", **{"fusion._target_": "iqa.models.fusion.FPNFusion"}))
    assert saved_config(state, "ok.pt")["model"]["fusion"]["_target_"] == "iqa.models.fusion.FPNFusion"
    state["config"]["model"]["fusion"] = {"_target_": "mymodule.MaxStage", "_partial_": True}
    with pytest.raises(DataError, match="asks to call 'mymodule.MaxStage'"):
        saved_config(state, "mine.pt")
    own = compose(*TINY, "+model.fusion.extra=1", "model.fusion._target_=mymodule.MaxStage").model.fusion
    assert saved_config(state, "mine.pt", own_fusion=own)["model"]["fusion"]["_target_"] == "mymodule.MaxStage"
    assert saved_config(state, "mine.pt", trust=True)["model"]["fusion"]["_target_"] == "mymodule.MaxStage"


@pytest.mark.slow
def test_trust_checkpoint_rebuilds_a_fusion_the_file_names(tmp_path, cache_dir):
    """The explicit opt-in: a fusion of the writer's own module, importable here, is called."""
    (tmp_path / "theirs.py").write_text(
        "from iqa.models.fusion import LastStage\n\nclass Theirs(LastStage):\n    pass\n")
    path = hostile_checkpoint(tmp_path, "theirs", {"fusion": {"_target_": "theirs.Theirs", "_partial_": True}})
    args = [*TINY, "mode=eval", f"checkpoint={path}", f"hydra.run.dir={tmp_path / 'eval'}"]
    refused = run_py(args, tmp_path, cache_dir, check=False, pythonpath=[tmp_path])
    assert refused.returncode == 1 and "asks to call 'theirs.Theirs'" in refused.stderr
    run_py([*args, "trust_checkpoint=true"], tmp_path, cache_dir, pythonpath=[tmp_path])
    assert (tmp_path / "eval" / "metrics.json").is_file()


def test_a_truncated_checkpoint_is_called_truncated(tmp_path):
    path = tiny_checkpoint(tmp_path / "best.pt")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"is not a checkpoint: it is a truncated or damaged zip archive"):
        checkpoint_file.load(path)
