"""Keep the weights of a sweep's best configurations only.

A finished run keeps one weights file, `checkpoints/best.pt`; a study of tens of trials times
several seeds keeps one per run. `hydra.callbacks.summary.keep_weights=K` applies the summary's
ranking when the sweep ends: the runs of the K best configurations (the rows of summary.md,
ranked on the objective's mean over their seeds, the value the Optuna sweeper is told) keep
their checkpoints; every other finished, failed or pruned run loses them. Runs without an outcome
(interrupted or still running) are left alone: they may yet be resumed.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

from iqa.errors import ConfigError
from iqa.run_folder import RunFolder


def check_keep(keep) -> None:
    """ConfigError unless `keep` is None (keep every run's weights) or an integer >= 0."""
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
        raise ConfigError(f"hydra.callbacks.summary.keep_weights={keep!r} is out of range: must be null "
                          f"(keep every run's weights) or an integer >= 0 (the best configurations to keep)")


def drop_weights(summary, keep: int) -> List[Path]:
    """Delete best.pt and last.pt of every run outside the `keep` best rows of `summary`
    (an iqa.report.summary.Summary); returns the deleted files."""
    ranked = [row["overrides"] for row in summary.rows]
    kept = {group for group in summary.groups if " ".join(group) in ranked[:keep]}
    losers = [r for r in summary.runs
              if (r.status == "done" and r.group not in kept) or r.status in ("failed", "pruned")]
    deleted = []
    for run in losers:
        folder = RunFolder(run.path)
        for path in (folder.best, folder.last):
            if path.is_file():
                path.unlink()
                deleted.append(path)
    return deleted
