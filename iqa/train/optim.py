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


# What a misconfigured optimizer or scheduler raises (a zero step_size or T_max divides by zero, a
# short betas list is indexed past its end), often only when first stepped.
ARGUMENT_ERRORS = (ArithmeticError, LookupError, TypeError, ValueError)


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")


def check_schedule(optim_cfg, sched_cfg, epochs: int) -> None:
    """ConfigError before any data is read or any epoch trained when the optimizer or the scheduler
    fails on a throwaway parameter stepped `epochs` times; draws no random numbers."""
    param = torch.nn.Parameter(torch.zeros(1))
    try:
        optimizer = build(optim_cfg, "optim", [{"params": [param], "name": "probe"}])
    except ARGUMENT_ERRORS as e:
        raise ConfigError(f"optim: {optim_cfg._target_} rejected its arguments ({_first_line(e)})") from None
    scheduler = build_scheduler(optimizer, sched_cfg)
    param.grad = torch.zeros(1)
    for what, node, step in (("optim", optim_cfg, optimizer.step), ("scheduler", sched_cfg, scheduler.step)):
        try:
            for _ in range(epochs if what == "scheduler" else 1):
                step()
        except ARGUMENT_ERRORS as e:
            raise ConfigError(f"{what}: {node._target_} fails when stepped ({_first_line(e)}): check its "
                              f"arguments") from None


def current_lrs(optimizer: torch.optim.Optimizer) -> dict:
    """{'lr_backbone': ..., 'lr_head': ...} as logged in history.csv."""
    return {f"lr_{g['name']}": g["lr"] for g in optimizer.param_groups}
