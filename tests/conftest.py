"""Shared fixtures: a session-wide synthetic-data cache, a tiny-run runner, a PostgreSQL server.

Under pytest-xdist (pyproject's `-n auto --dist loadfile`) each worker has its own session: one
PostgreSQL server per worker (its own folder and free port), while the data cache is one folder
for all workers (an entry is written to a temporary file and renamed into place, so workers that
make the same entry at once each leave a whole file). Whole files go to one worker, so a
module-scoped run is made once.
"""
from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
import torch

from helpers import TINY, run_py


def pytest_collection_modifyitems(items):
    """Under xdist, files with slow tests first: the long ones start early instead of ending last alone."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        slow_files = {item.path for item in items if item.get_closest_marker("slow")}
        items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One synthetic-data cache for the whole test session (generated once, then reused), shared
    by the xdist workers of one run."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.getbasetemp().parent / "iqa-cache"
        path.mkdir(exist_ok=True)
    else:
        path = tmp_path_factory.mktemp("iqa-cache")
    os.environ["IQA_SWEEP_CACHE"] = str(path)
    return path


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
