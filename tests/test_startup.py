"""Start-up: printing text imports neither torch, timm, Optuna nor a tracker; the OpenMP wait policy
follows the machine's load."""
import subprocess
import sys
import time

import pytest

from helpers import ROOT, run_py_env
from iqa.runtime import wait_policy

HEAVY = ("torch", "timm", "optuna", "wandb", "mlflow", "tensorboard", "matplotlib", "scipy")


def imported(*args: str, cache) -> set:
    """Top-level packages `python -X importtime run.py ARGS` imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "run.py"), *args], cwd=ROOT,
                          env=run_py_env(cache), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in proc.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.mark.parametrize("args", [("--help",), ("--cfg", "job"), ("--cfg", "hydra", "hydra/sweeper=iqa_study")])
def test_printing_text_imports_no_heavy_package(args, cache_dir):
    modules = imported(*args, cache=cache_dir)
    assert "hydra" in modules  # the measurement sees imports at all
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


@pytest.mark.slow
def test_building_a_model_does_not_import_wandb(tmp_path):
    code = "import sys, iqa.models; import timm; print('wandb' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=run_py_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_the_wait_policy_is_active_only_on_free_cores():
    quiet, busy = "0.10 0.20 0.30 1/200 999", "3.50 3.00 2.00 5/200 999"
    assert wait_policy.choose(quiet, threads=2, n_cores=2) == "ACTIVE"
    assert wait_policy.choose(busy, threads=2, n_cores=2) == "PASSIVE"
    assert wait_policy.choose("0.10 0.20 0.30 3/200 999", threads=2, n_cores=2) == "PASSIVE"  # two others running now
    assert wait_policy.choose("1.00 0.50 0.20 2/200 999", threads=1, n_cores=2) == "ACTIVE"
    assert wait_policy.threads_wanted({"OMP_NUM_THREADS": "3,1"}, 8) == 3
    assert wait_policy.threads_wanted({}, 8) == 8


def test_openmp_threads_sleep_when_the_cores_are_busy(tmp_path):
    # One spinning process per core: with them, even one more thread oversubscribes the cores.
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(wait_policy.cores())]
    try:
        time.sleep(0.5)  # running: the runnable count sees them at once, whatever the load average says
        show = "import iqa, os; print(os.environ['OMP_WAIT_POLICY'])"
        env = {k: v for k, v in run_py_env(tmp_path).items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
        proc = subprocess.run([sys.executable, "-c", show], cwd=ROOT, env={**env, "OMP_NUM_THREADS": "1"},
                              capture_output=True, text=True, timeout=120)
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "PASSIVE"


def test_a_users_wait_policy_wins():
    for env in ({"OMP_WAIT_POLICY": "PASSIVE"}, {"GOMP_SPINCOUNT": "1000"}):
        before = dict(env)
        assert wait_policy.set_wait_policy(env) is None and env == before
    assert "torch" in sys.modules  # (conftest imports it) so OpenMP has read its settings: none is set
    env = {"OMP_NUM_THREADS": "1"}
    assert wait_policy.set_wait_policy(env) is None and "OMP_WAIT_POLICY" not in env
