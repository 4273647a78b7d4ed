"""Hydra callbacks: the sweep's summary table at the end of every multirun (on by default in conf/config.yaml)."""
from __future__ import annotations

import logging
import sys
from typing import Any, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("iqa")


class SummaryCallback(Callback):
    """Write summary.csv / summary.md into the sweep folder and print the table.

    `baseline`, `metric` and `detect_delta` are those of `iqa.report.summary.Summary` (set them with
    `hydra.callbacks.summary.baseline='"loss.alpha=0.0"'`). A failed run, or a baseline that names
    no single configuration, makes the multirun exit with status 1; failed runs do not when the
    sweeper itself budgets for failures (it has a `max_failure_rate`, as the iqa_optuna sweeper does).
    """

    def __init__(self, baseline: Optional[str] = None, metric: Optional[str] = None,
                 detect_delta: float = 0.003):
        self.baseline, self.metric, self.detect_delta = baseline, metric, detect_delta

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from iqa.errors import ConfigError, IQAError
        from iqa.report.summary import summarize

        try:
            summary = summarize(config.hydra.sweep.dir, self.baseline, self.metric, self.detect_delta)
        except ConfigError as e:
            print(f"error: {e} (rebuild the table with python -m iqa.aggregate {config.hydra.sweep.dir} "
                  f"--baseline ...)", file=sys.stderr)
            sys.exit(1)
        except IQAError as e:
            log.warning("no summary: %s", e)
            return
        print(summary.write(), flush=True)
        failed = [r for r in summary.not_done if r.status == "failed"]
        if failed and "max_failure_rate" not in config.hydra.sweeper:
            print(f"error: {len(failed)} of {len(summary.runs)} runs failed, first {failed[0].path}: "
                  f"{failed[0].reason}", file=sys.stderr)
            sys.exit(1)
