"""Optimizer and scheduler from their config nodes: created once per run, state kept across epochs.

Two parameter groups, materialised as lists (a `filter()` iterator would be empty the second
time it is read): the backbone at the optimizer's learning rate, everything else at that rate
times `trainer.lr_ratio`. The scheduler scales both groups, so the backbone follows it too.
"""
from __future__ import annotations

from typing import List

import torch
from torch import nn

from iqa.build import build
from iqa.errors import ConfigError


def param_groups(model: nn.Module) -> List[dict]:
    """[backbone group, head group]; frozen parameters left out."""
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    ids = {id(p) for p in backbone}
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return [{"params": backbone, "name": "backbone"}, {"params": head, "name": "head"}]


def build_optimizer(model: nn.Module, optim_cfg, lr_ratio: float) -> torch.optim.Optimizer:
    """The `optim` node's optimizer (`_partial_`) over the two groups, the heads at lr * lr_ratio."""
    optimizer = build(optim_cfg, "optim", param_groups(model))
    lr = optimizer.defaults.get("lr")
    if not isinstance(lr, (int, float)):
        raise ConfigError(f"optim: {optim_cfg._target_} has no learning rate 'lr' to scale by trainer.lr_ratio")
    for group in optimizer.param_groups:
        group["lr"] = lr * lr_ratio if group["name"] == "head" else lr
    return optimizer


def build_scheduler(optimizer: torch.optim.Optimizer, sched_cfg):
    """The `scheduler` node's torch scheduler (`_partial_`), stepped once per epoch."""
    return build(sched_cfg, "scheduler", optimizer)


def current_lrs(optimizer: torch.optim.Optimizer) -> dict:
    """{'lr_backbone': ..., 'lr_head': ...} as logged in history.csv."""
    return {f"lr_{g['name']}": g["lr"] for g in optimizer.param_groups}
