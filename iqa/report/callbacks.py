"""Hydra callbacks: the mean ± std table at the end of every multirun (on by default in conf/config.yaml)."""
from __future__ import annotations

import logging
import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("iqa")


class SummaryCallback(Callback):
    """Write summary.csv / summary.md into the sweep folder and print the table.

    A failed run makes the multirun exit with status 1, unless the sweeper itself budgets for
    failures (it has a `max_failure_rate`, as the iqa_optuna sweeper does).
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from iqa.errors import IQAError
        from iqa.report.summary import summarize

        try:
            summary = summarize(config.hydra.sweep.dir)
        except IQAError as e:
            log.warning("no summary: %s", e)
            return
        print(summary.write(), flush=True)
        failed = [r for r in summary.not_done if r.status == "failed"]
        if failed and "max_failure_rate" not in config.hydra.sweeper:
            print(f"error: {len(failed)} of {len(summary.runs)} runs failed, first {failed[0].path}: "
                  f"{failed[0].reason}", file=sys.stderr)
            sys.exit(1)
