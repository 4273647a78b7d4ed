"""Both parameter groups follow every scheduler; the optimizer's state survives epochs."""
import math

import pytest
import torch
from torch import nn

from iqa.config import OptimConfig, SchedulerConfig
from iqa.train.optim import build_optimizer, build_scheduler, current_lrs, param_groups, step_epoch


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.backbone(x)).squeeze(1)


def expected_factor(name, epoch, epochs=6, step_size=2, gamma=0.1):
    if name == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    if name == "step":
        return gamma ** (epoch // step_size)
    return 1.0


def test_groups_are_lists_reusable_twice():
    groups = param_groups(Tiny(), OptimConfig(lr=1e-3, lr_ratio=10))
    for g in groups:
        assert isinstance(g["params"], list) and len(g["params"]) == 2
        assert len(list(g["params"])) == len(list(g["params"]))
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(1e-2)]


@pytest.mark.parametrize("name", ["cosine", "step", "none"])
@pytest.mark.parametrize("optim", ["adam", "adamw"])
def test_both_groups_follow_the_schedule_and_state_persists(name, optim):
    model = Tiny()
    opt = build_optimizer(model, OptimConfig(name=optim, lr=1e-3, lr_ratio=10, weight_decay=0.0))
    sched = build_scheduler(opt, SchedulerConfig(name=name, step_size=2, gamma=0.1), epochs=6)
    x, y = torch.randn(8, 4), torch.randn(8)
    first_state = None
    for epoch in range(6):
        lrs = current_lrs(opt)
        f = expected_factor(name, epoch)
        assert lrs["lr_backbone"] == pytest.approx(1e-3 * f, rel=1e-9, abs=1e-15)
        assert lrs["lr_head"] == pytest.approx(1e-2 * f, rel=1e-9, abs=1e-15)
        for _ in range(3):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        state = opt.state[model.backbone.weight]
        if first_state is None:
            first_state = state
        # the same optimizer object, with its step count and moments carried over
        assert state is opt.state[model.backbone.weight] and int(state["step"]) == 3 * (epoch + 1)
        step_epoch(sched)
    assert first_state is opt.state[model.backbone.weight]
