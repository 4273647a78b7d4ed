"""Deterministic evaluation: average the crops of each image, then correlate with MOS."""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from iqa import data
from iqa.runtime.accel import Accel
from iqa.data.patches import normalize
from iqa.errors import ConfigError
from iqa.evaluation.metrics import REPORTED, correlations, logistic_scores

log = logging.getLogger("iqa")


# A CPU forward pass over more pixels than about 8 crops of 224 px runs slower per crop: its
# activations no longer fit the caches (ResNet-50, one thread: 8 crops per pass 5.4 s per 48 crops,
# 16 crops 6.7 s, 50 crops 8.1 s). GPUs want the whole batch in one pass.
CPU_PASS_PIXELS = 8 * 224 * 224


def forward_passes(x: torch.Tensor) -> List[torch.Tensor]:
    """`x` split into the forward passes evaluation sends through the model on its device."""
    if x.device.type != "cpu":
        return [x]
    return list(x.split(max(1, CPU_PASS_PIXELS // (x.shape[-2] * x.shape[-1]))))


@torch.no_grad()
def predict(model, loader: DataLoader, device: torch.device,
            accel: Optional[Accel] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Per-image predicted scores (mean over its crops) and MOS, in dataset order.

    All crops of a batch of images go through the model together: in one forward pass on a GPU,
    in passes of at most `CPU_PASS_PIXELS` on a CPU.
    """
    accel = accel or Accel(device)
    model.eval()
    preds, moses = [], []
    for crops, mos, _ in loader:
        b, n = crops.shape[:2]
        x = accel.inputs(normalize(crops.to(device, non_blocking=True).flatten(0, 1)))
        with accel.autocast():
            scores = torch.cat([model(part).float() for part in forward_passes(x)])
        preds.append(scores.reshape(b, n).mean(1).cpu())
        moses.append(mos)
    return torch.cat(preds).numpy(), torch.cat(moses).numpy()


def evaluate(model, loader: DataLoader, device: torch.device, accel: Optional[Accel] = None,
             key: str = "test") -> Dict[str, object]:
    """Every REPORTED metric plus the raw predictions (kept for the scatter plot and predictions.csv);
    a logistic fit that fails gives NaN and one warning naming `key` and the reason."""
    pred, mos = predict(model, loader, device, accel)
    logistic, failure = logistic_scores(pred, mos)
    if failure:
        log.warning("%s: the 4-parameter logistic fit failed (%s): %s_plcc_logistic and %s_rmse_logistic are NaN",
                    key, failure, key, key)
    return {**correlations(pred, mos), **logistic, "pred": pred, "mos": mos}


def evaluate_all(model, loaders: Dict[str, DataLoader], device, accel: Optional[Accel] = None) -> Dict[str, Dict]:
    """{'val': {...}, 'test': {...}, 'cross_<name>': {...}} with every REPORTED metric and predictions."""
    return {key: evaluate(model, loader, device, accel, key) for key, loader in loaders.items()}


def flat_metrics(results: Dict[str, Dict]) -> Dict[str, float]:
    """{'test_srcc': ..., 'cross_<name>_plcc_logistic': ...}: the names `monitor` and `objective` use."""
    return {f"{key}_{m}": float(r[m]) for key, r in results.items() for m in REPORTED}


def summary(flat: Dict[str, float], cross: List[str]) -> Dict:
    """The metrics.json layout of one epoch's metrics (val_* only with a validation split)."""
    out = {f"{split}_{m}": flat[f"{split}_{m}"] for split in ("val", "test") for m in REPORTED
           if f"{split}_{m}" in flat}
    out["cross"] = {name: {m: flat[f"cross_{name}_{m}"] for m in REPORTED} for name in cross}
    return out


def prediction_rows(results: Dict[str, Dict], bundle) -> List[Dict]:
    """One row per evaluated image, `set,image,mos,pred` (set: val, test or cross_<name>), from
    `evaluate_all`'s results, whose loaders keep dataset order."""
    parts = {"val": bundle.val, "test": bundle.test, **{f"cross_{n}": s for n, s in bundle.cross.items()}}
    return [{"set": key, "image": name, "mos": float(m), "pred": float(p)}
            for key, r in results.items() for name, m, p in zip(parts[key].names, r["mos"], r["pred"])]


def eval_loaders(bundle, loader_cfg, seed: int) -> Dict[str, DataLoader]:
    """Deterministic crop loaders for the validation split (if any), the test split and every
    cross set, keyed as in `flat_metrics`."""
    loaders = {} if bundle.val is None else {"val": data.test_loader(bundle.val, loader_cfg, seed)}
    loaders["test"] = data.test_loader(bundle.test, loader_cfg, seed)
    loaders.update({f"cross_{n}": data.test_loader(s, loader_cfg, seed) for n, s in bundle.cross.items()})
    return loaders


def selection_metric(monitor: str, loaders: Dict[str, DataLoader]) -> str:
    """The metric that picks the best epoch, as configured: a test_* or cross_* monitor is kept
    (and reported as selected on test, see `iqa.evaluation.metrics.selected_on_test`), never silently swapped."""
    if monitor.startswith("val_") and "val" not in loaders:
        raise ConfigError(f"trainer.monitor={monitor!r} is out of range: this split has no validation part "
                          f"(data.val_fraction=0 and no val part in the given split)")
    return monitor
