"""Deterministic evaluation: average the crops of each image, then correlate with MOS."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from iqa import data
from iqa.runtime.accel import Accel
from iqa.data.patches import normalize
from iqa.errors import ConfigError
from iqa.evaluation.metrics import correlations


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


def evaluate(model, loader: DataLoader, device: torch.device, accel: Optional[Accel] = None) -> Dict[str, object]:
    """Correlations plus the raw predictions (kept for the scatter plot)."""
    pred, mos = predict(model, loader, device, accel)
    return {**correlations(pred, mos), "pred": pred, "mos": mos}


def evaluate_all(model, loaders: Dict[str, DataLoader], device, accel: Optional[Accel] = None) -> Dict[str, Dict]:
    """{'test': {...}, 'cross_<name>': {...}} with srcc/plcc/krcc and predictions."""
    return {key: evaluate(model, loader, device, accel) for key, loader in loaders.items()}


def flat_metrics(results: Dict[str, Dict]) -> Dict[str, float]:
    """{'test_srcc': ..., 'cross_<name>_plcc': ...}: the names `monitor` and `objective` use."""
    return {f"{key}_{m}": float(r[m]) for key, r in results.items() for m in ("srcc", "plcc", "krcc")}


def summary(flat: Dict[str, float], cross: List[str]) -> Dict:
    """The metrics.json layout of one epoch's metrics (val_* only with a validation split)."""
    out = {f"{split}_{m}": flat[f"{split}_{m}"] for split in ("val", "test") for m in ("srcc", "plcc", "krcc")
           if f"{split}_{m}" in flat}
    out["cross"] = {name: {m: flat[f"cross_{name}_{m}"] for m in ("srcc", "plcc", "krcc")} for name in cross}
    return out


def eval_loaders(bundle, loader_cfg, seed: int) -> Dict[str, DataLoader]:
    """Deterministic crop loaders for the validation split (if any), the test split and every
    cross set, keyed as in `flat_metrics`."""
    loaders = {} if bundle.val is None else {"val": data.test_loader(bundle.val, loader_cfg, seed)}
    loaders["test"] = data.test_loader(bundle.test, loader_cfg, seed)
    loaders.update({f"cross_{n}": data.test_loader(s, loader_cfg, seed) for n, s in bundle.cross.items()})
    return loaders


def selection_metric(monitor: str, loaders: Dict[str, DataLoader]) -> str:
    """The metric that picks the best epoch: with a validation split, the validation counterpart
    of a test_* monitor (so the test split is only reported, never used to choose)."""
    if monitor.startswith("test_") and "val" in loaders:
        return "val_" + monitor[len("test_"):]
    if monitor.startswith("val_") and "val" not in loaders:
        raise ConfigError(f"trainer.monitor={monitor!r} is out of range: this split has no validation part")
    return monitor
