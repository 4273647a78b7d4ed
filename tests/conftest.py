"""Shared fixtures: a session-wide synthetic-data cache and a `run.py` subprocess runner."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Overrides that make a real run take seconds: few images, small patches, two epochs.
TINY = [
    "experiment=quick",
    "data.n_refs=6",
    "data.image_size=64",
    "loader.patch_size=32",
    "loader.batch_size=8",
    "loader.eval_batch_size=8",
    "runtime.progress=false",
]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One synthetic-data cache for the whole test session (generated once, then reused)."""
    path = tmp_path_factory.mktemp("iqa-cache")
    os.environ["IQA_SWEEP_CACHE"] = str(path)
    return path


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


@pytest.fixture
def run_tiny(tmp_path, cache_dir):
    """Run a tiny single job into tmp_path/run and return (folder, metrics dict, process)."""
    def go(*overrides: str, check: bool = True):
        out = tmp_path / "run"
        proc = run_py([*TINY, f"hydra.run.dir={out}", *overrides], tmp_path, cache_dir, check=check)
        metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() else None
        return out, metrics, proc
    return go


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 for the session; skipped only where none is installed."""
    from pg_server import PostgresServer, server_bin_dir
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: "
                    "install the OS package 'postgresql' (.ci/run does where it can)")
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()


_databases = itertools.count()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The SQLAlchemy URL (password included) of a new, empty database on the session's server."""
    return postgres_server.create_database(f"test{next(_databases)}")

@pytest.fixture(scope="module")
def single_thread():
    """One torch thread, in this process and in the `run.py` jobs it starts: on a busy shared CPU,
    tiny models run several times faster without OpenMP workers waiting for each other."""
    threads, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(threads)
    if env is None:
        os.environ.pop("OMP_NUM_THREADS")
    else:
        os.environ["OMP_NUM_THREADS"] = env
