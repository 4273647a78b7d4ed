"""What several test modules share: composing the config and running jobs the way run.py does."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

from hydra import compose as hydra_compose, initialize_config_dir
from omegaconf import OmegaConf

from iqa import models
from iqa.cli import user_error_line
from iqa.config import register_configs
from iqa.runtime.jobs import job_scope
from iqa.train import checkpoint
from iqa.train.job import run

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

register_configs()


def compose(*overrides: str, config_dir: Path = CONF, config_name: str = "config"):
    """The config `python run.py OVERRIDES` would run with (no Hydra runtime keys)."""
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides))


# Overrides that make a real run take seconds: few images, small patches, two epochs (the preset's
# learning settings put back to the defaults, so tests cost and compute what they always did).
TINY = [
    "experiment=quick",
    "trainer.epochs=2",
    "trainer.lr_ratio=10.0",
    "loader.test_patch_num=2",
    "data.n_refs=6",
    "data.image_size=64",
    "loader.patch_size=32",
    "loader.batch_size=8",
    "loader.eval_batch_size=8",
    "runtime.progress=false",
]


def run_py_env(cache: Path, pythonpath: List[str] = ()) -> dict:
    """The environment of a `run.py` subprocess; `pythonpath`: folders of the user's own modules."""
    # PYTHONPATH: processes a launcher starts (submitit jobs) import this checkout's `iqa` too.
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), *map(str, pythonpath), os.environ.get("PYTHONPATH")]))
    # One thread per run: results are then independent of the core count, and parallel tests do not oversubscribe.
    return {**os.environ, "IQA_SWEEP_CACHE": str(cache), "HYDRA_FULL_ERROR": "0", "PYTHONPATH": pythonpath,
            "OMP_NUM_THREADS": "1"}


def run_py(args: List[str], cwd: Path, cache: Path, check: bool = True, timeout: int = 600,
           pythonpath: List[str] = ()):
    """Run `python run.py ARGS` in a subprocess the way a user does; returns CompletedProcess."""
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=run_py_env(cache, pythonpath),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"run.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_sweep(app: Path, tmp_path: Path, *overrides: str, name: str = "s", check: bool = True):
    """Run the Hydra app `app` as a multirun into tmp_path/name in a subprocess; returns CompletedProcess."""
    proc = subprocess.run([sys.executable, str(app), "-m", f"hydra.sweep.dir={tmp_path / name}", *overrides],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"sweep failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


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


def tiny_checkpoint(path, **model_overrides):
    """A checkpoint as run.py writes it, for a freshly initialised tiny model."""
    cfg = compose(*TINY, *(f"model.{k}={v}" for k, v in model_overrides.items()))
    model = models.build(cfg.model, cfg.loader.patch_size)
    checkpoint.save(path, model, None, None, 1, {}, OmegaConf.to_container(cfg, resolve=True))
    return path
