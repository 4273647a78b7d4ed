"""`mode=eval`: score a saved checkpoint (or the configured model with `model.weights`) on the
configured validation and test parts and cross sets, no training; writes metrics.json,
predictions.csv and scatter.png."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import OmegaConf

from iqa import checkpoint_file as checkpoint
from iqa import data, models
from iqa.runtime.accel import Accel
from iqa.atomic import write_csv, write_json
from iqa.run_folder import RunFolder
from iqa.config import ModelConfig
from iqa.errors import DataError
from iqa.evaluation.evaluate import eval_loaders, evaluate_all, flat_metrics, prediction_rows, summary
from iqa.report import plots
from iqa.runtime.device import resolve_device, show_progress

log = logging.getLogger("iqa")


def saved_config(state: dict, path, own_fusion=None, trust: bool = False) -> dict:
    """The checkpoint's run config as data (`iqa.checkpoint_file.saved_config`): its fusion must be
    one of the project's or `own_fusion` (the user's current `model.fusion`), unless `trust`."""
    return checkpoint.saved_config(state, path, models.known_fusions(own_fusion), models.TIMM_LOADING_ARGS, trust)


def model_from_checkpoint(model_config: dict, weights: dict, patch_size: int, path):
    """Rebuild the checkpoint's own model (its saved model config, from `saved_config`) and load its weights.

    The checkpoint holds every weight, so the weights the run started from (hub or file) are not
    fetched again.
    """
    try:
        model_cfg = OmegaConf.merge(OmegaConf.structured(ModelConfig), model_config,
                                    {"pretrained": False, "weights": None})
    except Exception as e:
        raise DataError(f"checkpoint {path} has a model config this version cannot read: "
                        f"{str(e).splitlines()[0]}") from None
    model = models.build(model_cfg, patch_size)
    checkpoint.load_weights(model, weights, path)
    return model


def warn_on_split_mismatch(saved: dict, data_cfg) -> None:
    """Warn when the evaluated split is not the one the checkpoint was trained against: its test
    images may then include training images."""
    keys = ("name", "split", "split_seed", "test_fraction", "split_file", "split_column")
    if saved.get("name") == data_cfg.name and any(saved.get(k) != data_cfg[k] for k in keys):
        log.warning("checkpoint was trained on %s, this evaluates %s: the test split may contain training images",
                    ", ".join(f"data.{k}={saved.get(k)}" for k in keys),
                    ", ".join(f"data.{k}={data_cfg[k]}" for k in keys))


def run_eval(cfg, out_dir: Path) -> float:
    """Rebuild the checkpoint's model (or build the configured one with `model.weights`), score the
    configured splits and cross sets, write metrics.json."""
    start = time.perf_counter()
    device = resolve_device(cfg.runtime.device)
    if cfg.checkpoint:
        state = checkpoint.load(cfg.checkpoint)
        config = saved_config(state, cfg.checkpoint, cfg.model.fusion, cfg.trust_checkpoint)
        source, epoch = str(cfg.checkpoint), state["epoch"]
        patch = config["loader"]["patch_size"]
        model = model_from_checkpoint(config["model"], state["model"], patch, cfg.checkpoint).to(device)
        saved = config["model"]
        if (saved.get("name"), saved.get("backbone")) != (cfg.model.name, cfg.model.backbone):
            log.warning("evaluating the checkpoint's own model %s (backbone %s); the configured model %s is not used",
                        saved.get("name"), saved.get("backbone"), cfg.model.name)
        warn_on_split_mismatch(config.get("data", {}), cfg.data)
    else:
        source, epoch, patch = str(cfg.model.weights), None, cfg.loader.patch_size
        model = models.build(cfg.model, patch).to(device)
    loader_cfg = OmegaConf.merge(cfg.loader, {"patch_size": patch})
    bundle = data.build(cfg.data, loader_cfg, show_progress(cfg.runtime.progress), training=False)
    accel = Accel.from_config(cfg.runtime, device, cfg.repro.level)
    results = evaluate_all(accel.prepare(model), eval_loaders(bundle, loader_cfg, cfg.seed), device, accel)
    flat = flat_metrics(results)
    metrics = {**summary(flat, list(cfg.data.cross)), "checkpoint": source,
               "checkpoint_epoch": epoch, "objective": cfg.objective,
               "objective_value": flat[cfg.objective], "seed": cfg.seed, "split_seed": cfg.data.split_seed,
               "split_hash": bundle.split.hash(), **bundle.split.sizes(),
               "wall_s": round(time.perf_counter() - start, 2), "device": str(device),
               "skipped_images": bundle.skipped_images()}
    folder = RunFolder(out_dir)
    write_csv(folder.predictions, prediction_rows(results, bundle), ["set", "image", "mos", "pred"])
    plots.scatter(results["test"]["pred"], results["test"]["mos"], folder.scatter,
                  f"{cfg.data.name} test, eval of {Path(source).name}: SRCC {flat['test_srcc']:.3f}")
    write_json(folder.metrics, metrics)
    crosses = " ".join(f"{n}_srcc={flat[f'cross_{n}_srcc']:.4f}" for n in cfg.data.cross)
    line = (f"run folder: {out_dir} | eval of {source} | test_srcc={flat['test_srcc']:.4f} "
            f"test_plcc={flat['test_plcc']:.4f} {crosses}".rstrip())
    log.info(line)
    print(line, flush=True)
    return float(flat[cfg.objective])
