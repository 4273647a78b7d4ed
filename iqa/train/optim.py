"""Optimizer and scheduler: created once per run, state kept across epochs.

Two parameter groups, materialised as lists (a `filter()` iterator would be empty the second
time it is read): the backbone at `optim.lr`, everything else at `optim.lr * optim.lr_ratio`.
The torch scheduler scales both groups, so the backbone follows the schedule too.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn


def param_groups(model: nn.Module, optim_cfg) -> List[dict]:
    """[backbone group, head group] with their learning rates; frozen parameters left out."""
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    ids = {id(p) for p in backbone}
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return [
        {"params": backbone, "lr": optim_cfg.lr, "name": "backbone"},
        {"params": head, "lr": optim_cfg.lr * optim_cfg.lr_ratio, "name": "head"},
    ]


def build_optimizer(model: nn.Module, optim_cfg) -> torch.optim.Optimizer:
    """Adam (the paper's) or AdamW over the two groups."""
    cls = torch.optim.AdamW if optim_cfg.name == "adamw" else torch.optim.Adam
    return cls(param_groups(model, optim_cfg), weight_decay=optim_cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, sched_cfg, epochs: int):
    """A per-epoch torch scheduler, or None for a constant learning rate."""
    if sched_cfg.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=sched_cfg.eta_min)
    if sched_cfg.name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=sched_cfg.step_size, gamma=sched_cfg.gamma)
    return None


def current_lrs(optimizer: torch.optim.Optimizer) -> dict:
    """{'lr_backbone': ..., 'lr_head': ...} as logged in history.csv."""
    return {f"lr_{g['name']}": g["lr"] for g in optimizer.param_groups}


def step_epoch(scheduler: Optional[torch.optim.lr_scheduler.LRScheduler]) -> None:
    if scheduler is not None:
        scheduler.step()
