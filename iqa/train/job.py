"""One job: config -> data -> model -> loss -> optimizer/scheduler -> fit -> run folder.

`run(cfg, out_dir)` is what `run.py` calls for every job, single or multirun; it returns the
configured objective so Hydra sweepers can optimise it.
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Callable, Dict, Optional

import torch
from omegaconf import OmegaConf

from iqa import data, models
from iqa.atomic import write_csv, write_json
from iqa.build import build
from iqa.errors import TrainingError
from iqa.evaluation.evaluate import eval_loaders, prediction_rows, selection_metric, summary
from iqa.evaluation.metrics import OPTIMISTIC, selected_on_test
from iqa.report import plots
from iqa.run_folder import RunFolder
from iqa.runtime.accel import Accel
from iqa.runtime.device import peak_memory_mb, resolve_device, show_progress
from iqa.runtime.repro import seed_everything
from iqa.train import resume
from iqa.train.callbacks import EarlyStopping, default_callbacks
from iqa.train.fit import Fit
from iqa.train.loggers import build_loggers
from iqa.train.optim import build_optimizer, build_scheduler, check_schedule

log = logging.getLogger("iqa")


def run(cfg, out_dir, on_epoch: Optional[Callable[[int, Dict[str, float]], None]] = None) -> float:
    """Train and evaluate as configured, writing the run folder; returns the objective value.

    `on_epoch(epoch, metrics)` is called after each epoch's evaluation (a sweeper's pruning hook).
    The config is validated once, by `iqa.runtime.jobs.job_scope`, which every job runs in.
    """
    folder = RunFolder(out_dir)
    seed_everything(cfg.seed, cfg.repro.level)
    if cfg.mode == "eval":
        from iqa.evaluation.checkpoint_eval import run_eval
        return run_eval(cfg, folder.path)
    kept = resume.finished(cfg, folder.path)
    if kept is not None:
        return math.nan if kept.get("objective_value") is None else float(kept["objective_value"])
    fit = build_fit(cfg, folder, on_epoch)
    fit.epochs(resume.epochs_to_run(cfg.trainer, fit.state))
    return finish(fit)


def build_fit(cfg, folder: RunFolder, on_epoch=None) -> Fit:
    """Everything the fit loop needs, built from the config (and restored from last.pt when resuming)."""
    start = time.perf_counter()
    check_schedule(cfg.optim, cfg.scheduler, cfg.trainer.epochs)
    loggers = build_loggers(cfg)
    saved = resume.load(cfg, folder.path)
    device = resolve_device(cfg.runtime.device)
    progress = show_progress(cfg.runtime.progress)
    # Built first after seeding, so its initial weights depend on the seed alone.
    model = models.build(cfg.model, cfg.loader.patch_size).to(device)
    log.info("model: %s (%s backbone, %s, fusion %s), %d parameters, device %s, %d CPU threads "
             "(OpenMP wait policy %s)", cfg.model.name, cfg.model.backbone, models.weights_origin(cfg.model),
             models.fusion_name(cfg.model), sum(p.numel() for p in model.parameters()), device,
             torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY", "unset"))
    bundle = data.build(cfg.data, cfg.loader, progress)
    log.info("data: %d train / %d val / %d test images of %s; cross: %s", len(bundle.train), len(bundle.val or ()),
             len(bundle.test), cfg.data.name, ", ".join(f"{n} ({len(s)})" for n, s in bundle.cross.items()) or "none")
    accel = Accel.from_config(cfg.runtime, device, cfg.repro.level)
    optimizer = build_optimizer(model, cfg.optim, cfg.trainer.lr_ratio)
    loaders = eval_loaders(bundle, cfg.loader, cfg.seed)
    fit = Fit(cfg=cfg, folder=folder, bundle=bundle, model=model, net=accel.prepare(model),
              loss_fn=build(cfg.loss, "loss"), optimizer=optimizer, scheduler=build_scheduler(optimizer, cfg.scheduler),
              accel=accel, device=device,
              train_loader=data.train_loader(bundle.train, cfg.loader, cfg.seed), loaders=loaders,
              monitor=selection_metric(cfg.trainer.monitor, loaders),
              resolved_config=OmegaConf.to_container(cfg, resolve=True),
              callbacks=default_callbacks(on_epoch, loggers), progress=progress, start=start)
    if selected_on_test(fit.monitor):
        log.warning("trainer.monitor=%s chooses the epoch on a test set: the reported test numbers are %s",
                    fit.monitor, OPTIMISTIC)
    if saved is not None:
        resume.restore(saved, fit)
    return fit


def finish(fit: Fit) -> float:
    """predictions.csv, the plots, metrics.json (last) and the last line, once the fit loop is done;
    NaN when the run paused."""
    cfg, state, folder = fit.cfg, fit.state, fit.folder
    if not EarlyStopping.stalled(cfg.trainer, state) and state.epochs_done < cfg.trainer.epochs:
        line = resume.pause_message(folder.path, state.epochs_done, cfg.trainer)
        log.info(line)
        print(line, flush=True)
        return math.nan
    if not state.best_metrics:
        raise TrainingError(f"{fit.monitor} was NaN in every epoch: the model predicts a constant")
    best, cross = state.best_metrics, list(cfg.data.cross)
    metrics = {
        "best_epoch": state.best_epoch,
        **summary(best, cross),
        "objective": cfg.objective,
        "objective_value": best[cfg.objective],
        "monitor": fit.monitor,
        "selected_on_test": selected_on_test(fit.monitor),
        "seed": cfg.seed,
        "split_seed": cfg.data.split_seed,
        "split_hash": fit.bundle.split.hash(),
        **fit.bundle.split.sizes(),
        "epochs_run": state.epochs_done,
        "stopped_early": state.epochs_done < cfg.trainer.epochs,
        "wall_s": round(time.perf_counter() - fit.start, 2),
        "device": str(fit.device),
        "peak_memory_mb": peak_memory_mb(fit.device),
        "skipped_images": fit.bundle.skipped_images(),
        "last": summary(state.history[-1], cross),
    }
    write_csv(folder.predictions, prediction_rows(state.best_results, fit.bundle), ["set", "image", "mos", "pred"])
    plots.curves(state.history, folder.curves, state.best_epoch, plots.run_title(cfg), fit.monitor)
    test = state.best_results["test"]
    plots.scatter(test["pred"], test["mos"], folder.scatter,
                  f"{cfg.data.name} test, epoch {state.best_epoch}: SRCC {best['test_srcc']:.3f}")
    write_json(folder.metrics, metrics)  # last of the run folder's files: its presence means the run finished
    fit.finish(metrics)
    crosses = " ".join(f"{n}_srcc={metrics['cross'][n]['srcc']:.4f}" for n in cross)
    line = (f"run folder: {folder.path} | best epoch {state.best_epoch}/{state.epochs_done} | "
            f"test_srcc={metrics['test_srcc']:.4f} test_plcc={metrics['test_plcc']:.4f} {crosses}".rstrip())
    if metrics["selected_on_test"]:
        line += f" | {OPTIMISTIC} ({fit.monitor})"
    lost = cfg.trainer.save_checkpoints and not folder.best.is_file()
    if lost:
        line += f" | no checkpoints/best.pt: the weights of epoch {state.best_epoch} were lost before a resume"
    (log.warning if metrics["selected_on_test"] or lost else log.info)(line)
    print(line, flush=True)
    return float(best[cfg.objective])
