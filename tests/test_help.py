"""`--help` of run.py (the project's own page) and of every `python -m iqa...` command."""
import subprocess
import sys

import pytest

from helpers import ROOT


def _help(*command):
    proc = subprocess.run([sys.executable, *command, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_run_py_help_names_the_groups_examples_and_docs():
    text = _help("run.py")
    assert text.startswith("iqa-sweep: train and evaluate no-reference image quality models")
    for line in ("logger: csv, mlflow, tensorboard, wandb", "loss: l1, ranking", "model/fusion: attention"):
        assert line in text
    assert "Examples:" in text and "python run.py experiment=quick" in text and "docs/architecture.md" in text


@pytest.mark.parametrize("module,usage", [("iqa.predict", "python -m iqa.predict checkpoint=PATH"),
                                          ("iqa.aggregate", "usage: python -m iqa.aggregate"),
                                          ("iqa.consistency", "usage: python -m iqa.consistency"),
                                          ("iqa.study", "usage: python -m iqa.study")])
def test_every_module_command_has_help(module, usage):
    assert usage in _help("-m", module)
