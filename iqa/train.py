"""One run: config -> data -> model -> loss -> optimizer/scheduler -> fit -> run folder.

`run(cfg, out_dir)` is what `run.py` calls for every job, single or multirun; it returns the
configured objective so Hydra sweepers can optimise it.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from iqa import checkpoint, data, losses, models, plots, resume
from iqa.accel import Accel
from iqa.atomic import write_csv, write_json
from iqa.config import Config, validate
from iqa.config_keys import check_known_keys
from iqa.data.patches import normalize
from iqa.errors import TrainingError
from iqa.evaluate import eval_loaders, evaluate_all, flat_metrics, selection_metric, summary
from iqa.fingerprint import FILENAME as BATCHES_FILE, BatchFingerprints
from iqa.metrics import correlations
from iqa.optim import build_optimizer, build_scheduler, current_lrs, step_epoch
from iqa.repro import seed_everything
from iqa.runtime import peak_memory_mb, resolve_device, show_progress

log = logging.getLogger("iqa")


class EarlyStopping:
    """Track the best value of the monitored metric; stop after `patience` epochs without gain.

    NaN (for example a constant prediction) never counts as an improvement.
    """

    def __init__(self, patience: int, enabled: bool):
        self.patience, self.enabled = patience, enabled
        self.best, self.best_epoch, self.bad_epochs = -math.inf, 0, 0

    def update(self, value: float, epoch: int) -> bool:
        """Record an epoch's value; True if it is the new best."""
        if not math.isnan(value) and value > self.best:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.enabled and self.bad_epochs >= self.patience


def train_epoch(model, loader, loss_fn, optimizer, device, epoch: int, progress: bool,
                fingerprints: Optional[BatchFingerprints] = None, accel: Optional[Accel] = None) -> Dict[str, float]:
    """One pass over the epoch's patches; raises TrainingError when the loss stops being finite."""
    accel = accel or Accel(device)
    model.train()
    loader.sampler.set_epoch(epoch)
    total, count, preds, moses = 0.0, 0, [], []
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress, dynamic_ncols=True)
    jittered = loader.dataset.color_jitter > 0
    for step, (patch, mos, sample, jitter) in enumerate(bar, start=1):
        if fingerprints is not None:
            fingerprints.record(epoch, step, patch, sample)
        jitter = jitter.to(device, non_blocking=True) if jittered else None
        x = accel.inputs(normalize(patch.to(device, non_blocking=True), jitter))
        mos = mos.to(device, non_blocking=True)
        with accel.autocast():
            pred = model(x).float()
        loss = loss_fn(pred, mos)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {loss.item()} at epoch {epoch} step {step}: "
                                f"lower optim.lr or check the data")
        accel.step(loss, optimizer)
        total += loss.item() * len(mos)
        count += len(mos)
        preds.append(pred.detach().float().cpu())
        moses.append(mos.cpu())
        bar.set_postfix(loss=f"{total / count:.3f}")
    train_srcc = correlations(torch.cat(preds).numpy(), torch.cat(moses).numpy())["srcc"]
    return {"train_loss": total / max(count, 1), "train_srcc": train_srcc}


def _fmt(row: Dict) -> str:
    keys = ["train_loss", "train_srcc"] + [k for k in ("val_srcc", "test_srcc", "test_plcc") if k in row]
    keys += [k for k in row if k.startswith("cross_") and k.endswith("_srcc")]
    parts = [f"{k} {row[k]:.4f}" for k in keys]
    parts += [f"{k} {v:.2e}" for k, v in row.items() if k.startswith("lr_")]
    return " | ".join(parts)


def run(cfg, out_dir, on_epoch: Optional[Callable[[int, Dict[str, float]], None]] = None) -> float:
    """Train and evaluate as configured, writing the run folder; returns the objective value.

    `on_epoch(epoch, metrics)` is called after each epoch's evaluation (a sweeper's pruning hook).
    """
    out_dir = Path(out_dir)
    check_known_keys(cfg, Config)
    validate(cfg)
    seed_everything(cfg.seed, cfg.repro.level)
    if cfg.mode == "eval":
        from iqa.evaluate_checkpoint import run_eval
        return run_eval(cfg, out_dir)
    kept = resume.finished(cfg, out_dir)
    if kept is not None:
        return math.nan if kept.get("objective_value") is None else float(kept["objective_value"])
    start = time.perf_counter()
    resume_from = resume.load(cfg, out_dir)
    device = resolve_device(cfg.trainer.device)
    progress = show_progress(cfg.trainer.progress)
    # Built first after seeding, so its initial weights depend on the seed alone.
    model = models.build(cfg.model, cfg.trainer.patch_size).to(device)
    log.info("model: %s (%s backbone, fusion %s), %d parameters, device %s, %d CPU threads", cfg.model.name,
             cfg.model.backbone, cfg.model.fusion, sum(p.numel() for p in model.parameters()), device,
             torch.get_num_threads())
    bundle = data.build(cfg.data, cfg.trainer, progress)
    log.info("data: %d train / %d val / %d test images of %s; cross: %s", len(bundle.train), len(bundle.val or ()),
             len(bundle.test), cfg.data.name, ", ".join(f"{n} ({len(s)})" for n, s in bundle.cross.items()) or "none")
    accel = Accel.from_config(cfg.trainer, device, cfg.repro.level)
    net = accel.prepare(model)
    loss_fn = losses.build(cfg.loss)
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.scheduler, cfg.trainer.epochs)
    train_loader = data.train_loader(bundle.train, cfg.trainer, cfg.seed)
    loaders = eval_loaders(bundle, cfg.trainer, cfg.seed)
    monitor = selection_metric(cfg.trainer.monitor, loaders)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    stopper = EarlyStopping(cfg.trainer.patience, cfg.trainer.early_stopping)
    history: List[Dict] = []
    best_flat: Dict[str, float] = {}
    best_test = None
    ckpt_dir = out_dir / "checkpoints"
    all_loaders = {"train": train_loader, **loaders}
    fingerprints = BatchFingerprints(out_dir / BATCHES_FILE, cfg.trainer.fingerprint_batches,
                                     train_loader.dataset, cfg.seed)
    if resume_from is not None:
        history, best_flat, best_test, elapsed = resume.restore(
            resume_from, model, optimizer, scheduler, stopper, fingerprints, all_loaders, out_dir)
        accel.load_state_dict(resume_from.get("accel"))
        start -= elapsed
    todo = resume.epochs_to_run(cfg.trainer, len(history), stopper)
    epochs = tqdm(todo, desc="epochs", initial=len(history), total=cfg.trainer.epochs, disable=not progress,
                  dynamic_ncols=True)
    for epoch in epochs:
        t0 = time.perf_counter()
        lrs = current_lrs(optimizer)
        row = {"epoch": epoch, **train_epoch(net, train_loader, loss_fn, optimizer, device, epoch, progress,
                                             fingerprints, accel)}
        fingerprints.flush()
        results = evaluate_all(net, loaders, device, accel)
        flat = flat_metrics(results)
        row.update(lrs)
        row.update(flat)
        row["epoch_s"] = round(time.perf_counter() - t0, 3)
        history.append(row)
        step_epoch(scheduler)
        improved = stopper.update(flat[monitor], epoch)
        log.info("epoch %d/%d %s%s", epoch, cfg.trainer.epochs, _fmt(row), " *" if improved else "")
        if improved:
            best_flat, best_test = flat, results["test"]
        if cfg.trainer.save_checkpoints:
            if improved:
                checkpoint.save(ckpt_dir / "best.pt", model, optimizer, scheduler, epoch, flat, resolved)
            state = resume.snapshot(history, best_flat, best_test, stopper, fingerprints, all_loaders,
                                    time.perf_counter() - start)
            checkpoint.save(ckpt_dir / "last.pt", model, optimizer, scheduler, epoch, flat, resolved,
                            extra={"resume": state, "accel": accel.state_dict()})
        write_csv(out_dir / "history.csv", history)
        if on_epoch is not None:
            on_epoch(epoch, flat)
        if stopper.should_stop:
            log.info("early stopping: %s did not improve for %d epochs", monitor, cfg.trainer.patience)
            break
    if not stopper.should_stop and len(history) < cfg.trainer.epochs:
        line = resume.pause_message(out_dir, len(history), cfg.trainer)
        log.info(line)
        print(line, flush=True)
        return math.nan
    if not best_flat:
        raise TrainingError(f"{monitor} was NaN in every epoch: the model predicts a constant")
    metrics = {
        "best_epoch": stopper.best_epoch,
        **summary(best_flat, list(cfg.data.cross)),
        "objective": cfg.objective,
        "objective_value": best_flat[cfg.objective],
        "monitor": monitor,
        "seed": cfg.seed,
        "epochs_run": len(history),
        "stopped_early": len(history) < cfg.trainer.epochs,
        "wall_s": round(time.perf_counter() - start, 2),
        "device": str(device),
        "peak_memory_mb": peak_memory_mb(device),
        "skipped_images": bundle.skipped_images(),
        "last": summary(history[-1], list(cfg.data.cross)),
    }
    write_json(out_dir / "metrics.json", metrics)
    plots.curves(history, out_dir / "curves.png", stopper.best_epoch)
    plots.scatter(best_test["pred"], best_test["mos"], out_dir / "scatter.png",
                  f"{cfg.data.name} test, epoch {stopper.best_epoch}: SRCC {best_flat['test_srcc']:.3f}")
    crosses = " ".join(f"{n}_srcc={metrics['cross'][n]['srcc']:.4f}" for n in cfg.data.cross)
    line = (f"run folder: {out_dir} | best epoch {stopper.best_epoch}/{len(history)} | "
            f"test_srcc={metrics['test_srcc']:.4f} test_plcc={metrics['test_plcc']:.4f} {crosses}".rstrip())
    log.info(line)
    print(line, flush=True)
    return float(best_flat[cfg.objective])

