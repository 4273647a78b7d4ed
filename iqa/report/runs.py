"""What the run folders of a sweep say: each job's overrides, seed, metrics or why it has none.

A finished run has `metrics.json`; a failed or pruned one has `error.json` (written by run.py);
a folder with neither is a job that was interrupted or is still running.
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import yaml
from omegaconf import OmegaConf

from iqa.atomic import write_json
from iqa.evaluation.metrics import REPORTED
from iqa.run_folder import RunFolder

log = logging.getLogger("iqa")

PRUNED = "TrialPruned"
# Overrides that identify one replicate of a configuration, not the configuration itself: the
# training seed and the split seed.
PER_JOB_KEYS = ("seed", "data.split_seed")
# The Optuna sweeper re-runs the best configuration on unused seeds under <sweep>/confirm/ (and its
# confirm baseline under <sweep>/confirm_baseline/): those runs are the numbers to publish, so they
# form rows of their own, never pooled with the search's runs.
CONFIRM_FOLDER = "confirm"
CONFIRM_MARK = "stage=confirm"
CONFIRM_MARKS = {CONFIRM_FOLDER: CONFIRM_MARK, "confirm_baseline": "stage=confirm_baseline"}


def write_error(out_dir, exc: BaseException, message: Optional[str] = None) -> None:
    """Record why a run ended without metrics (`message`: its one line, else `str(exc)`), so tables
    and sweepers can say so."""
    write_json(RunFolder(out_dir).error, {"error": type(exc).__name__, "message": message or str(exc)})


@dataclass
class Run:
    path: Path
    overrides: Tuple[str, ...]
    seed: Optional[int]
    metrics: Optional[Dict]
    status: str  # done, failed, pruned, incomplete
    reason: str = ""
    split_seed: Optional[int] = None

    @property
    def replicate(self) -> Tuple[Optional[int], Optional[int]]:
        """(data.split_seed, seed): what pairs this run with another configuration's run."""
        return self.split_seed, self.seed

    @property
    def group(self) -> Tuple[str, ...]:
        """The configuration: the overrides minus the replicate's seeds, in key order; a confirm run
        of the Optuna sweeper is marked `stage=confirm` (`stage=confirm_baseline` for its baseline)."""
        mark = CONFIRM_MARKS.get(self.path.parent.name)
        confirm = (mark,) if mark else ()
        return tuple(sorted((o for o in self.overrides if not _is_per_job(o)), key=override_key)) + confirm


def is_confirm(group: Tuple[str, ...]) -> bool:
    """Whether a configuration is the Optuna sweeper's confirm runs (or their baseline)."""
    return any(o in CONFIRM_MARKS.values() for o in group)


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _is_per_job(override: str) -> bool:
    return override_key(override) in PER_JOB_KEYS


def _read_json(path: Path) -> Optional[Dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _split_seed(folder: RunFolder, metrics: Optional[Dict]) -> Optional[int]:
    """The run's data.split_seed: from metrics.json, else its composed config (None if unreadable)."""
    if metrics is not None and "split_seed" in metrics:
        return metrics["split_seed"]
    try:
        return OmegaConf.select(OmegaConf.load(folder.config), "data.split_seed")
    except Exception:  # a missing or half-written config: the run still counts, unpaired by split
        return None


def load_run(path: Path) -> Run:
    """Read one run folder (one that has `.hydra/overrides.yaml`)."""
    folder = RunFolder(path)
    overrides = _overrides(folder.overrides)
    seed = next((int(o.split("=", 1)[1]) for o in overrides if override_key(o) == "seed"), None)
    metrics = _read_json(folder.metrics)
    if metrics is not None:
        return Run(path, overrides, metrics.get("seed", seed), metrics, "done",
                   split_seed=_split_seed(folder, metrics))
    error = _read_json(folder.error)
    if error is None:
        return Run(path, overrides, seed, None, "incomplete", "no metrics.json: interrupted, still running, "
                                                             "or crashed (see run.log)")
    status = "pruned" if error.get("error") == PRUNED else "failed"
    return Run(path, overrides, seed, None, status, f"{error.get('error')}: {error.get('message')}")


def _natural(path: Path) -> List:
    """Sort key that puts job 2 before job 10."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(path))]


def _overrides(path: Path) -> Tuple[str, ...]:
    """Hydra's list of a job's overrides; ValueError when the file is not a YAML list of strings."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"it is not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(loaded, list) or not all(isinstance(o, str) for o in loaded):
        raise ValueError("it is not a list of overrides")
    return tuple(loaded)


def scan(sweep_dir) -> List[Run]:
    """Every run folder under a sweep folder, in path order; one whose overrides.yaml cannot be read
    (damaged, or edited by hand) is left out with a warning."""
    sweep_dir = Path(sweep_dir)
    folders = sorted((p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml")), key=_natural)
    runs = []
    for folder in folders:
        try:
            runs.append(load_run(folder))
        except ValueError as e:
            log.warning("skipping run folder %s: its .hydra/overrides.yaml cannot be read: %s", folder, e)
    return runs


def metric_values(metrics: Mapping) -> Dict[str, float]:
    """The per-run numbers a table summarises, named as the table's column stems."""
    values = {f"{split}_{m}": metrics[f"{split}_{m}"] for split in ("val", "test") for m in REPORTED
              if f"{split}_{m}" in metrics}
    for name, cross in (metrics.get("cross") or {}).items():
        values.update({f"cross_{name}_{m}": cross[m] for m in REPORTED if m in cross})
    if "best_epoch" in metrics:  # a mode=eval run trained nothing
        values["best_epoch"] = metrics["best_epoch"]
    return {k: (math.nan if v is None else float(v)) for k, v in values.items()}
