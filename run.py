"""The one entry point: `python run.py [overrides]`, `python run.py -m key=a,b seed=42,43,44`."""
from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra_plugins.iqa_optuna_sweeper.reporting import current_trial
from omegaconf import DictConfig
from optuna import TrialPruned

from iqa.cli import NOTHING_TO_RESUME, main_with_one_line_errors, user_error_line
from iqa.config import register_configs
from iqa.errors import ConfigError
from iqa.report.runs import write_error
from iqa.run_folder import RunFolder
from iqa.run_lock import acquire, release
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
        acquire(out_dir)
    except ConfigError as e:  # another live job's folder: its files are left alone
        if hc.mode == RunMode.MULTIRUN:
            log.error("%s", e)
            return float("nan")
        raise
    try:
        with job_scope(cfg):
            return run(cfg, out_dir, on_epoch=epoch_reporter(cfg))
    except KeyboardInterrupt:
        if hc.mode == RunMode.RUN and not cfg.checkpoint and not RunFolder(out_dir).last.is_file():
            raise KeyboardInterrupt(NOTHING_TO_RESUME) from None
        raise
    except Exception as e:
        line = str(e) if isinstance(e, TrialPruned) else user_error_line(e)
        if line is None:
            raise  # a bug: its traceback
        write_error(out_dir, e, line)
        if isinstance(e, TrialPruned):
            log.info("pruned: %s", e)
        else:
            log.error("%s: %s", type(e).__name__, line)
        if hc.mode == RunMode.MULTIRUN:
            return float("nan")
        print(f"error: {line}", file=sys.stderr)
        sys.exit(1)
    finally:
        release(out_dir)


if __name__ == "__main__":
    sys.exit(main_with_one_line_errors(main))
