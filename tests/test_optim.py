"""Both parameter groups follow every scheduler; the optimizer's state survives epochs."""
import math

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from helpers import compose
from iqa.errors import ConfigError
from iqa.train.optim import build_optimizer, build_scheduler, current_lrs, param_groups


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


def test_groups_are_lists_that_can_be_read_twice():
    model = Tiny()
    groups = param_groups(model)
    for g in groups:
        first, second = list(g["params"]), list(g["params"])
        assert isinstance(g["params"], list) and first == second and len(first) == 2
    assert groups[0]["params"] == list(model.backbone.parameters())
    assert groups[1]["params"] == list(model.head.parameters())


@pytest.mark.parametrize("name", ["cosine", "step", "none"])
@pytest.mark.parametrize("optim", ["adam", "adamw"])
def test_both_groups_follow_the_schedule_and_state_persists(name, optim):
    cfg = compose(f"optim={optim}", f"scheduler={name}", "optim.lr=1e-3", "optim.weight_decay=0.0",
                  "trainer.epochs=6", *(["scheduler.step_size=2"] if name == "step" else []))
    model = Tiny()
    opt = build_optimizer(model, cfg.optim, cfg.trainer.lr_ratio)
    sched = build_scheduler(opt, cfg.scheduler)
    x, y = torch.randn(8, 4), torch.randn(8)
    steps = []
    for epoch in range(6):
        lrs = current_lrs(opt)
        f = expected_factor(name, epoch)
        assert lrs["lr_backbone"] == pytest.approx(1e-3 * f, rel=1e-9, abs=1e-15)
        assert lrs["lr_head"] == pytest.approx(1e-2 * f, rel=1e-9, abs=1e-15)
        for _ in range(3):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        # Adam's step count and moments carry over from epoch to epoch: one optimizer, never rebuilt
        steps.append(int(opt.state[model.backbone.weight]["step"]))
        sched.step()
    assert steps == [3, 6, 9, 12, 15, 18]


def test_an_optimizer_and_scheduler_of_ones_own_plug_in_by_target():
    """conf/optim/rmsprop.yaml and conf/scheduler/halving.yaml of a user, nothing else."""
    model = Tiny()
    opt = build_optimizer(model, OmegaConf.create({"_target_": "torch.optim.RMSprop", "_partial_": True,
                                                   "lr": 1.0e-4}), lr_ratio=10.0)
    sched = build_scheduler(opt, OmegaConf.create({"_target_": "torch.optim.lr_scheduler.ExponentialLR",
                                                   "_partial_": True, "gamma": 0.5}))
    assert isinstance(opt, torch.optim.RMSprop)
    for epoch in range(3):
        assert current_lrs(opt) == pytest.approx({"lr_backbone": 1e-4 * 0.5 ** epoch, "lr_head": 1e-3 * 0.5 ** epoch})
        sched.step()


@pytest.mark.parametrize("node,message", [
    ({"_target_": "torch.optim.NoSuchOptimizer", "_partial_": True, "lr": 1e-3}, "optim: cannot import torch.optim.NoSuchOptimizer: module 'torch.optim' has no attribute 'NoSuchOptimizer'"),
    ({"_target_": "torch.optim.Adam", "_partial_": True, "lr": -1.0}, "optim: torch.optim.Adam rejected its arguments"),
    ({"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3, "betaz": 1}, "unexpected keyword argument 'betaz'"),
])
def test_a_bad_optimizer_node_is_one_line_naming_the_group(node, message):
    with pytest.raises(ConfigError) as e:
        build_optimizer(Tiny(), OmegaConf.create(node), 10.0)
    assert message in str(e.value) and "\n" not in str(e.value)
