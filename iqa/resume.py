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
from typing import Dict, Optional, Tuple

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from iqa import checkpoint
from iqa.atomic import remove_leftovers, replace_with, write_csv
from iqa.errors import ConfigError, DataError
from iqa.repro import rng_state, set_rng_state
from iqa.runs import ERROR_FILE

log = logging.getLogger("iqa")

# Keys that change where or how a run executes, never what it computes (on one device type).
MAY_DIFFER = ("trainer.resume", "trainer.epochs_per_session", "trainer.progress", "trainer.num_workers",
              "trainer.device", "data.cache_dir", "checkpoint")


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
    return any((p / "checkpoints" / "last.pt").is_file() or (p / "metrics.json").is_file() for p in siblings)


def checkpoint_to_resume(cfg, out_dir: Path) -> Optional[Path]:
    """`checkpoint=PATH` if given, else this run folder's `checkpoints/last.pt`; None unless resuming,
    and None for a job of a resumed sweep that never saved one (it starts from the beginning)."""
    if not cfg.trainer.resume:
        return None
    out_dir = Path(out_dir)
    path = Path(cfg.checkpoint) if cfg.checkpoint else out_dir / "checkpoints" / "last.pt"
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
    metrics.json, kept as it is, after checking the config matches its last.pt. None otherwise."""
    out_dir = Path(out_dir)
    metrics_file = out_dir / "metrics.json"
    if not cfg.trainer.resume or cfg.checkpoint or not metrics_file.is_file():
        return None
    last = out_dir / "checkpoints" / "last.pt"
    if last.is_file():
        check_same_config(OmegaConf.to_container(cfg, resolve=True), checkpoint.load(last)["config"], last)
    metrics = json.loads(metrics_file.read_text())
    line = f"run folder: {out_dir} | finished before: kept its metrics.json ({metrics.get('objective')}=" \
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
        for folder in (Path(out_dir), Path(out_dir) / "checkpoints"):
            for tmp in remove_leftovers(folder):
                log.info("removed %s, left by an interrupted write", tmp)
        (Path(out_dir) / ERROR_FILE).unlink(missing_ok=True)
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


def snapshot(history, best_flat, best_test, stopper, fingerprints, loaders, elapsed_s: float) -> dict:
    """The fit loop's state after an epoch, for `checkpoint.save(..., extra={'resume': ...})`."""
    best = None if best_test is None else {
        **{k: v for k, v in best_test.items() if k not in ("pred", "mos")},
        "pred": torch.from_numpy(best_test["pred"]), "mos": torch.from_numpy(best_test["mos"])}
    return {
        "history": history,
        "best_flat": best_flat,
        "best_test": best,
        "early_stopping": {"best": stopper.best, "best_epoch": stopper.best_epoch, "bad_epochs": stopper.bad_epochs},
        "fingerprints": fingerprints.batches,
        "elapsed_s": elapsed_s,
        "threads": torch.get_num_threads(),
        "rng": rng_state(loaders),
    }


def restore(state: dict, model, optimizer, scheduler, stopper, fingerprints, loaders,
            out_dir: Path) -> Tuple[list, dict, Optional[dict], float]:
    """Load everything `snapshot` saved; returns (history, best_flat, best_test, elapsed_s).

    Call it last before the epoch loop: nothing may draw random numbers in between.
    """
    r = state["resume"]
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    stopper.best, stopper.best_epoch, stopper.bad_epochs = (
        r["early_stopping"][k] for k in ("best", "best_epoch", "bad_epochs"))
    fingerprints.restore(r["fingerprints"])
    best_test = None if r["best_test"] is None else {
        **r["best_test"], "pred": r["best_test"]["pred"].numpy(), "mos": r["best_test"]["mos"].numpy()}
    write_csv(Path(out_dir) / "history.csv", r["history"])
    _bring_best_checkpoint(Path(state["path"]), Path(out_dir) / "checkpoints", stopper.best_epoch)
    set_rng_state(r["rng"], loaders)
    if r["threads"] != torch.get_num_threads():
        log.warning("resuming with %d torch threads where the interrupted run had %d: float sums change order, "
                    "so results match the uninterrupted run closely but not bit for bit (set OMP_NUM_THREADS=%d)",
                    torch.get_num_threads(), r["threads"], r["threads"])
    log.info("resumed from %s after epoch %d (%.1f s of training so far)", state["path"], state["epoch"],
             r["elapsed_s"])
    return r["history"], r["best_flat"], best_test, r["elapsed_s"]


def _bring_best_checkpoint(source: Path, ckpt_dir: Path, best_epoch: int) -> None:
    """When resuming into another folder, copy the interrupted run's best.pt along."""
    best = source.parent / "best.pt"
    if source.parent.resolve() == ckpt_dir.resolve() or best_epoch == 0:
        return
    if best.is_file() and checkpoint.load(best)["epoch"] == best_epoch:
        replace_with(ckpt_dir / "best.pt", lambda tmp: shutil.copyfile(best, tmp))
    else:
        log.warning("no best.pt of epoch %d next to %s: this folder gets a best.pt only if a later "
                    "epoch improves", best_epoch, source)


def epochs_to_run(trainer_cfg, done: int, stopper) -> range:
    """The epochs this process trains: up to `trainer.epochs`, at most `trainer.epochs_per_session`."""
    if stopper.should_stop:
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
