"""Checkpoints: model weights, epoch, metrics and the resolved config; plus optimizer, scheduler
and the loop's state in the one checkpoint a run resumes from (`last.pt`).

Saved atomically; `iqa.checkpoint_file` reads them back as data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from iqa.atomic import replace_with


def save(path, model, optimizer, scheduler, epoch: int, metrics: dict, config: dict,
         extra: Optional[dict] = None) -> Path:
    """Write the checkpoint; `optimizer` and `scheduler` None for weights only (saved as None, a
    quarter to a third of the size with Adam's two moments per weight left out)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "metrics": metrics,
        "config": config,
        **(extra or {}),
    }
    return replace_with(path, lambda tmp: _save(state, tmp))


def _save(state: dict, tmp: Path) -> None:
    # Through a Python file, so a full disk raises OSError (torch's own writer says only "iostream error").
    with open(tmp, "wb") as f:
        torch.save(state, f)
