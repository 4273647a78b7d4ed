"""Another revision of this repository as plain files, to time or measure it beside the working tree."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parents[1]


def checkout_of(rev: str, into: Path) -> Path:
    """`rev` of this repository extracted under `into` (git archive: tracked files only)."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def env_for(checkout: Path) -> Dict[str, str]:
    """The environment in which `python run.py` runs `checkout`'s code (and its sweeper plugin)."""
    plugin = checkout / "plugins" / "hydra-iqa-optuna-sweeper"
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), str(plugin)]), "HYDRA_FULL_ERROR": "1"}
