"""Checkpoints: model, optimizer, scheduler, epoch, metrics and the resolved config.

Saved atomically and loaded with `weights_only=True`, so a checkpoint cannot run code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from iqa.atomic import replace_with
from iqa.errors import DataError


def save(path, model, optimizer, scheduler, epoch: int, metrics: dict, config: dict,
         extra: Optional[dict] = None) -> Path:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "metrics": metrics,
        "config": config,
        **(extra or {}),
    }
    return replace_with(path, lambda tmp: torch.save(state, tmp))


def load(path, map_location: Any = "cpu") -> dict:
    """The checkpoint dict, or DataError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise DataError(f"checkpoint {path} cannot be read: {type(e).__name__}: {e}".splitlines()[0]) from None
