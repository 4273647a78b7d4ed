"""The one entry point: `python run.py [overrides]`, `python run.py -m key=a,b seed=42,43,44`."""
from __future__ import annotations

import logging
import sys

from iqa.torch_install import exit_if_mismatched

if __name__ == "__main__":
    exit_if_mismatched()  # one line, not a traceback from deep inside torchvision

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra_plugins.iqa_optuna_sweeper.reporting import current_trial
from omegaconf import DictConfig
from optuna import TrialPruned

from iqa.cli import log_to_files_only, main_with_one_line_errors
from iqa.config import register_configs
from iqa.errors import IQAError
from iqa.report.runs import write_error
from iqa.runtime.jobs import job_scope
from iqa.train.job import run

register_configs()
log = logging.getLogger("iqa")


def epoch_reporter(cfg: DictConfig):
    """The per-epoch hook of a job that serves an Optuna trial (hydra/sweeper=iqa_optuna): reports
    the objective to the trial, whose pruner may stop the run (optuna.TrialPruned); else None."""
    trial = current_trial(steps_per_seed=cfg.trainer.epochs)
    return None if trial is None else lambda epoch, metrics: trial.report(metrics[cfg.objective], epoch)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one job and return its objective for sweepers.

    A user error (or a pruned trial) is written to the run folder's `error.json`. A single run then
    ends with one line and exit status 1; in a multirun the job returns NaN so the sweep goes on to
    the next job, and the summary at the end lists the failure and sets the exit status.
    """
    hc = HydraConfig.get()
    out_dir = hc.runtime.output_dir
    try:
        with job_scope(cfg):
            return run(cfg, out_dir, on_epoch=epoch_reporter(cfg))
    except (IQAError, TrialPruned) as e:
        write_error(out_dir, e)
        if isinstance(e, TrialPruned):
            log.info("pruned: %s", e)
        elif hc.mode == RunMode.MULTIRUN:
            log.error("%s: %s", type(e).__name__, e)
        else:  # the console gets the one `error:` line below; run.log keeps it too
            log_to_files_only(log, f"{type(e).__name__}: {e}")
        if hc.mode == RunMode.MULTIRUN:
            return float("nan")
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main_with_one_line_errors(main))
