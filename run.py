"""The one entry point: `python run.py [overrides]`, `python run.py -m key=a,b seed=42,43,44`."""
from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from iqa.cli import main_with_one_line_errors
from iqa.config import register_configs
from iqa.errors import IQAError
from iqa.jobs import job_scope
from iqa.train import run

register_configs()
log = logging.getLogger("iqa")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one job and return its objective for sweepers.

    A user error ends a single run with one line and exit status 1; in a multirun it is raised,
    so Hydra records the failed job (and a sweeper can prune it) while the others continue.
    """
    hc = HydraConfig.get()
    try:
        with job_scope(cfg):
            return run(cfg, hc.runtime.output_dir)
    except IQAError as e:
        log.error("%s: %s", type(e).__name__, e)
        if hc.mode == RunMode.MULTIRUN:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main_with_one_line_errors(main))
