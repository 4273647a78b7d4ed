"""The one entry point: `python run.py [overrides]`, `python run.py -m key=a,b seed=42,43,44`.

Torch, timm, Optuna and the trackers are imported inside `main`, where a job needs them, so
`--help` and `--cfg job` cost what Hydra itself costs (docs/benchmarks.md, "Start-up").
"""
from __future__ import annotations

import logging
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra_plugins.iqa_optuna_sweeper.reporting import ENV as TRIAL_ENV, current_trial
from omegaconf import DictConfig

from iqa.cli import NOTHING_TO_RESUME, log_to_files_only, main_with_one_line_errors, user_error_line
from iqa.config import register_configs
from iqa.errors import ConfigError

register_configs()
log = logging.getLogger("iqa")


def epoch_reporter(cfg: DictConfig):
    """The per-epoch hook of a job that serves an Optuna trial (hydra/sweeper=iqa_optuna): reports
    the objective to the trial, whose pruner may stop the run (optuna.TrialPruned); else None."""
    trial = current_trial(steps_per_seed=cfg.trainer.epochs)
    return None if trial is None else lambda epoch, metrics: trial.report(metrics[cfg.objective], epoch)


def trial_pruned() -> tuple:
    """(optuna.TrialPruned,) in a job that serves an Optuna trial, else (): other jobs never import Optuna."""
    if not os.environ.get(TRIAL_ENV):
        return ()
    from optuna import TrialPruned

    return (TrialPruned,)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one job and return its objective for sweepers.

    A user error (or a pruned trial) is written to the run folder's `error.json`. A single run then
    ends with one line and exit status 1; in a multirun the job returns NaN so the sweep goes on to
    the next job, and the summary at the end lists the failure and sets the exit status.
    """
    from iqa.torch_install import exit_if_mismatched

    exit_if_mismatched()  # one line, not a traceback from deep inside torchvision (before anything imports it)
    from iqa.report.runs import write_error
    from iqa.run_folder import RunFolder
    from iqa.run_lock import acquire, release
    from iqa.runtime.jobs import job_scope
    from iqa.train.job import run

    hc = HydraConfig.get()
    out_dir = hc.runtime.output_dir
    try:
        acquire(out_dir)
    except ConfigError as e:  # another live job's folder: its files are left alone
        if hc.mode == RunMode.MULTIRUN:
            log.error("%s", e)
            return float("nan")
        raise
    pruned = trial_pruned()
    try:
        with job_scope(cfg):
            return run(cfg, out_dir, on_epoch=epoch_reporter(cfg))
    except KeyboardInterrupt:
        if hc.mode == RunMode.RUN and not cfg.checkpoint and not RunFolder(out_dir).last.is_file():
            raise KeyboardInterrupt(NOTHING_TO_RESUME) from None
        raise
    except Exception as e:
        line = str(e) if isinstance(e, pruned) else user_error_line(e)
        if line is None:
            raise  # a bug: its traceback
        write_error(out_dir, e, line)
        if isinstance(e, pruned):
            log.info("pruned: %s", e)
            if not cfg.trainer.keep_resume_state:  # a pruned trial is never resumed: its weights are best.pt's
                RunFolder(out_dir).last.unlink(missing_ok=True)
        elif hc.mode == RunMode.MULTIRUN:
            log.error("%s: %s", type(e).__name__, line)
        else:  # the console gets the one `error:` line below; run.log keeps it too
            log_to_files_only(log, f"{type(e).__name__}: {line}")
        if hc.mode == RunMode.MULTIRUN:
            return float("nan")
        print(f"error: {line}", file=sys.stderr)
        sys.exit(1)
    finally:
        release(out_dir)


if __name__ == "__main__":
    sys.exit(main_with_one_line_errors(main))
