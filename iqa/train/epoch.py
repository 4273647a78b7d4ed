"""One training epoch over random patches."""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
from tqdm.auto import tqdm

from iqa.data.patches import normalize
from iqa.errors import TrainingError
from iqa.evaluation.metrics import correlations
from iqa.runtime.accel import Accel


def train_epoch(model, loader, loss_fn, optimizer, device, epoch: int, progress: bool,
                on_batch: Optional[Callable] = None, accel: Optional[Accel] = None) -> Dict[str, float]:
    """One pass over the epoch's patches; raises TrainingError when the loss stops being finite.

    `on_batch(epoch, step, patches, samples)` sees each batch as the loader delivered it.
    """
    accel = accel or Accel(device)
    model.train()
    loader.sampler.set_epoch(epoch)
    total, count, preds, moses = 0.0, 0, [], []
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress, dynamic_ncols=True)
    jittered = loader.dataset.color_jitter > 0
    for step, (patch, mos, sample, jitter) in enumerate(bar, start=1):
        if on_batch is not None:
            on_batch(epoch, step, patch, sample)
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
