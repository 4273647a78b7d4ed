"""Exact resume: what `last.pt` carries beyond the weights, and how a run continues from it.

`last.pt` holds, next to model, optimizer and scheduler, the fit loop's whole state: the history
so far, the best epoch's metrics and predictions, the early-stopping counters, the recorded
batch fingerprints, the time spent, and every random generator (Python, NumPy, torch CPU and
CUDA, each loader's own). Restoring all of it before the next epoch makes the continued run
draw exactly the numbers the uninterrupted run would have drawn.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Dict, Optional

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from iqa.atomic import remove_leftovers, replace_with, write_csv
from iqa.errors import ConfigError, DataError
from iqa.run_folder import RunFolder
from iqa.runtime.repro import set_rng_state
from iqa import checkpoint_file as checkpoint
from iqa.train.callbacks import Checkpoints, EarlyStopping
from iqa.train.state import FitState

log = logging.getLogger("iqa")

# Keys that change where or how a run executes, never what it computes (on one device type).
MAY_DIFFER = ("trainer.resume", "trainer.epochs_per_session", "trainer.keep_resume_state", "runtime.progress",
              "loader.num_workers", "runtime.device", "data.cache_dir", "checkpoint", "trust_checkpoint")


def _flat(tree: dict, prefix: str = "") -> Dict[str, object]:
    out: Dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out.update(_flat(value, name + ".") if isinstance(value, dict) else {name: value})
    return out


def check_same_config(current: dict, saved: dict, path: Path) -> None:
    """ConfigError naming the first key (other than `MAY_DIFFER`) whose value differs from the checkpoint's."""
    now, then = _flat(current), _flat(saved)
    for key in dict.fromkeys([*then, *now]):
        if key in MAY_DIFFER or now.get(key, "<unset>") == then.get(key, "<unset>"):
            continue
        raise ConfigError(
            f"{key}={now.get(key, '<unset>')!r} differs from {then.get(key, '<unset>')!r} in {path}: "
            f"a resumed run needs the interrupted run's config (repeat its overrides)")


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _sweep_has_progress(out_dir: Path) -> bool:
    """Whether another job of this sweep folder saved a checkpoint or finished: the folder is an
    interrupted sweep, not a new one that the resumed sweep's hydra.sweep.dir failed to name."""
    siblings = (p for p in out_dir.parent.iterdir() if p.is_dir() and p.resolve() != out_dir.resolve())
    return any(RunFolder(p).last.is_file() or RunFolder(p).metrics.is_file() for p in siblings)


def checkpoint_to_resume(cfg, out_dir: Path) -> Optional[Path]:
    """`checkpoint=PATH` if given, else this run folder's `checkpoints/last.pt`; None unless resuming,
    and None for a job of a resumed sweep that never saved one (it starts from the beginning)."""
    if not cfg.trainer.resume:
        return None
    out_dir = Path(out_dir)
    path = Path(cfg.checkpoint) if cfg.checkpoint else RunFolder(out_dir).last
    if not path.is_file():
        if not cfg.checkpoint and _in_multirun():
            if _sweep_has_progress(out_dir):
                log.info("no %s: this job of the interrupted sweep never saved one, so it starts from the beginning",
                         path)
                return None
            raise ConfigError(f"trainer.resume=true but no job under {out_dir.parent} saved a checkpoint: pass "
                              f"hydra.sweep.dir=<the interrupted sweep folder>, or run the sweep again without "
                              f"trainer.resume if none of its jobs got through an epoch")
        hint = "" if cfg.checkpoint else (": pass hydra.run.dir=<the interrupted run folder> "
                                          "or checkpoint=<its checkpoints/last.pt>")
        raise ConfigError(f"trainer.resume=true but {path} does not exist{hint}")
    return path


def finished(cfg, out_dir: Path) -> Optional[dict]:
    """When resuming a folder whose run had already finished (a job of a resumed sweep): its
    metrics.json, kept as it is, after checking the config matches its checkpoint's (last.pt when
    kept, else best.pt). None otherwise."""
    folder = RunFolder(out_dir)
    metrics_file = folder.metrics
    if not cfg.trainer.resume or cfg.checkpoint or not metrics_file.is_file():
        return None
    saved = next((p for p in (folder.last, folder.best) if p.is_file()), None)
    if saved is not None:
        check_same_config(OmegaConf.to_container(cfg, resolve=True), checkpoint.load(saved)["config"], saved)
    metrics = json.loads(metrics_file.read_text())
    line = f"run folder: {folder.path} | finished before: kept its metrics.json ({metrics.get('objective')}=" \
           f"{metrics.get('objective_value')})"
    log.info(line)
    print(line, flush=True)
    return metrics


def load(cfg, out_dir: Path) -> Optional[dict]:
    """The checkpoint to continue from, after checking it is resumable and the config matches.

    When resuming, the folder's left-over temporary files (of writers killed midway) and its
    error.json (of an attempt that failed) are removed first.
    """
    if cfg.trainer.resume:
        folder = RunFolder(out_dir)
        for where in (folder.path, folder.checkpoints):
            for tmp in remove_leftovers(where):
                log.info("removed %s, left by an interrupted write", tmp)
        folder.error.unlink(missing_ok=True)
    path = checkpoint_to_resume(cfg, out_dir)
    if path is None:
        return None
    state = checkpoint.load(path)
    if "resume" not in state:
        raise DataError(f"{path} holds no resume state (a best.pt, or saved by an older version): "
                        f"resume from a run's checkpoints/last.pt")
    check_same_config(OmegaConf.to_container(cfg, resolve=True), state["config"], path)
    state["path"] = path
    return state


def restore(saved: dict, fit) -> None:
    """Load what the Checkpoints callback saved in last.pt into `fit`: weights, optimizer,
    scheduler, speed-option state, the FitState, and last every random generator.

    Call it last before the epoch loop: nothing may draw random numbers in between.
    """
    r = saved["resume"]
    fit.model.load_state_dict(saved["model"])
    fit.optimizer.load_state_dict(saved["optimizer"])
    fit.scheduler.load_state_dict(saved["scheduler"])
    fit.accel.load_state_dict(saved.get("accel"))
    fit.state = FitState.from_checkpoint(r["state"])
    fit.start -= fit.state.elapsed_s
    write_csv(fit.folder.history, fit.state.history)
    _restore_best_checkpoint(saved, fit)
    set_rng_state(r["rng"], fit.all_loaders)
    if r["threads"] != torch.get_num_threads():
        log.warning("resuming with %d torch threads where the interrupted run had %d: float sums change order, "
                    "so results match the uninterrupted run closely but not bit for bit (set OMP_NUM_THREADS=%d)",
                    torch.get_num_threads(), r["threads"], r["threads"])
    log.info("resumed from %s after epoch %d (%.1f s of training so far)", saved["path"], saved["epoch"],
             fit.state.elapsed_s)


def _is_best(path: Path, epoch: int) -> bool:
    try:
        return path.is_file() and checkpoint.load(path).get("epoch") == epoch
    except DataError:
        return False


def _restore_best_checkpoint(saved: dict, fit) -> None:
    """Make the run folder's best.pt that of the best epoch so far, whatever happened to it.

    A readable best.pt of that epoch next to the resumed last.pt is kept (copied along when resuming
    into another folder). A missing, damaged or other-epoch one is rebuilt from last.pt when the
    best epoch is last.pt's epoch (the same weights, optimizer and scheduler); otherwise that
    epoch's weights are lost: the bad file is removed with a warning, the run's metrics still come
    from the best epoch's recorded predictions, and best.pt is saved again if a later epoch improves.
    """
    best_epoch = fit.state.best_epoch
    if best_epoch == 0 or not fit.cfg.trainer.save_checkpoints:
        return
    source, target = Path(saved["path"]).parent / fit.folder.best.name, fit.folder.best
    if _is_best(source, best_epoch):
        if source.resolve() != target.resolve():
            replace_with(target, lambda tmp: shutil.copyfile(source, tmp))
        return
    if saved["epoch"] == best_epoch:
        Checkpoints.save_best(fit, best_epoch, fit.state.history[-1])
        log.warning("%s is missing or damaged: rebuilt it from %s (epoch %d, the best one)", source, saved["path"],
                    best_epoch)
        return
    if target.exists() and not _is_best(target, best_epoch):
        target.unlink()
    log.warning("%s is missing or damaged and the best epoch %d is older than %s: its weights are lost (the "
                "run's metrics still come from that epoch); best.pt is saved again if a later epoch improves",
                source, best_epoch, saved["path"])


def epochs_to_run(trainer_cfg, state: FitState) -> range:
    """The epochs this process trains: up to `trainer.epochs`, at most `trainer.epochs_per_session`,
    none when the interrupted run had already stopped early."""
    done = state.epochs_done
    if EarlyStopping.stalled(trainer_cfg, state):
        return range(done + 1, done + 1)
    last = trainer_cfg.epochs
    if trainer_cfg.epochs_per_session is not None:
        last = min(last, done + trainer_cfg.epochs_per_session)
    return range(done + 1, last + 1)


def pause_message(out_dir: Path, done: int, trainer_cfg) -> str:
    """The last line of a run that stopped at `trainer.epochs_per_session`, saying how to go on."""
    return (f"run folder: {out_dir} | paused after epoch {done}/{trainer_cfg.epochs} "
            f"(trainer.epochs_per_session={trainer_cfg.epochs_per_session}): to continue, repeat the command "
            f"with trainer.resume=true and hydra.run.dir={out_dir} (in a multirun: the same hydra.sweep.dir)")
