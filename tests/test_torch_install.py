"""A torchvision built for another torch stops every entry point with one line and the fixing
command, not a 30-line traceback ending in `operator torchvision::nms does not exist`."""
import subprocess
import sys

import pytest

from helpers import ROOT, run_py_env

BROKEN_TORCHVISION = 'raise RuntimeError("operator torchvision::nms does not exist")\n'


@pytest.fixture
def broken_torchvision(tmp_path):
    """A `torchvision` that fails on import the way a mismatched build does, first on PYTHONPATH."""
    package = tmp_path / "shadow" / "torchvision"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(BROKEN_TORCHVISION)
    return tmp_path / "shadow"


@pytest.mark.parametrize("command", [[str(ROOT / "run.py"), "experiment=quick"],
                                     ["-m", "iqa.predict", "checkpoint=x.pt", "inputs=y"]],
                         ids=["run.py", "iqa.predict"])
def test_a_mismatched_torchvision_is_one_line_with_the_fix(tmp_path, broken_torchvision, command):
    env = run_py_env(tmp_path / "cache")
    env["PYTHONPATH"] = f"{broken_torchvision}:{env['PYTHONPATH']}"
    proc = subprocess.run([sys.executable, *command], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("error: torchvision ") and "was built for another torch" in lines[0]
    assert "torchvision::nms does not exist" in lines[0]
    assert "pip install --force-reinstall torch torchvision --index-url https://download.pytorch.org/whl/cpu" in lines[0]


def test_help_never_imports_torchvision(tmp_path, broken_torchvision):
    """`run.py --help` prints its text even beside a broken torchvision: text needs no torch."""
    env = run_py_env(tmp_path / "cache")
    env["PYTHONPATH"] = f"{broken_torchvision}:{env['PYTHONPATH']}"
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Config groups" in proc.stdout, proc.stderr


def test_the_check_passes_with_the_installed_pair():
    from iqa.torch_install import mismatch
    assert mismatch() is None
