"""Hydra callbacks: the sweep's summary table at the end of every multirun (on by default in
conf/config.yaml), and optionally only the best configurations' weights kept."""
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
    `keep_weights`: null keeps every run's checkpoints; K keeps those of the K best rows only
    (iqa.report.keep_weights).
    """

    def __init__(self, baseline: Optional[str] = None, metric: Optional[str] = None,
                 detect_delta: float = 0.003, keep_weights: Optional[int] = None):
        from iqa.report.keep_weights import check_keep

        check_keep(keep_weights)
        self.baseline, self.metric, self.detect_delta = baseline, metric, detect_delta
        self.keep_weights = keep_weights

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
        if self.keep_weights is not None:
            from iqa.report.keep_weights import drop_weights

            deleted = drop_weights(summary, self.keep_weights)
            log.info("keep_weights=%d: removed the checkpoints of %d runs outside the %d best configurations",
                     self.keep_weights, len({p.parent.parent for p in deleted}), self.keep_weights)
        failed = [r for r in summary.not_done if r.status == "failed"]
        if failed and "max_failure_rate" not in config.hydra.sweeper:
            print(f"error: {len(failed)} of {len(summary.runs)} runs failed, first {failed[0].path}: "
                  f"{failed[0].reason}", file=sys.stderr)
            sys.exit(1)
