"""Backbone families x fusion variants: shapes, forward and backward, configs and recipes."""
from __future__ import annotations

import pytest
import timm
import torch

from omegaconf import OmegaConf

from helpers import CONF, compose
from iqa import models
from iqa.build import build as build_node
from iqa.config import validate
from iqa.models.fusion import ConcatFusion

pytestmark = pytest.mark.usefixtures("single_thread")

PATCH = 64
FAMILIES = {  # model config and overrides: a ResNet, a Swin (NHWC features) and a ConvNeXt by name
    "resnet": ("small", []),
    "swin": ("swin_micro", []),
    "convnext": ("small", ["model.backbone=test_convnext"]),
}


FUSIONS = sorted(p.stem for p in (CONF / "model" / "fusion").glob("*.yaml"))


def build_fusion(name: str, channels):
    """The module conf/model/fusion/NAME.yaml builds for stages of these widths."""
    return build_node(OmegaConf.load(CONF / "model" / "fusion" / f"{name}.yaml"), "model.fusion", channels)


def build(family: str, *overrides: str):
    name, extra = FAMILIES[family]
    cfg = compose(f"model={name}", *extra, *overrides)
    validate(cfg)
    return models.build(cfg.model, PATCH)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_forward_and_backward(family, fusion):
    torch.manual_seed(0)
    model = build(family, f"model/fusion={fusion}", "model.dropout=0.2", "model.drop_path_rate=0.1")
    x = torch.randn(2, 3, PATCH, PATCH)
    feats = model.backbone(x)
    assert len(feats) == 4 and all(f.shape[1] == c for f, c in zip(feats, model.backbone.channels))
    assert model.fusion(feats).shape == feats[-1].shape  # the same hypernetwork input for every variant
    scores = model(x)
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    (scores - torch.tensor([0.3, 0.7])).abs().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for part in (model.backbone, model.fusion, model.hyper_conv):
        grads = [p.grad.abs().sum() for p in part.parameters()]
        assert not grads or sum(grads) > 0


@pytest.mark.parametrize("fusion", sorted(set(FUSIONS) - {"none"}))
def test_multiscale_fusions_use_the_early_stages(fusion):
    torch.manual_seed(0)
    channels = [8, 16, 32, 64]
    feats = [torch.randn(2, c, 16 // 2 ** i, 16 // 2 ** i) for i, c in enumerate(channels)]
    module = build_fusion(fusion, channels)
    changed = [feats[0] + 1.0] + feats[1:]
    assert not torch.allclose(module(feats), module(changed))
    assert torch.equal(build_fusion("none", channels)(changed), feats[-1])


def test_attention_weights_are_per_stage_and_channel_and_sum_to_one():
    module = build_fusion("attention", [8, 16, 32])
    projected = torch.randn(3, 3, 32, 2, 2)
    weights = module.stage_weights(projected)
    assert weights.shape == (3, 3, 32)
    torch.testing.assert_close(weights.sum(1), torch.ones(3, 32))


def test_concat_matches_the_users_swin_tiny_version():
    proj = ConcatFusion([96, 192, 384, 768]).proj
    assert (proj.in_channels, proj.out_channels, proj.kernel_size) == (1440, 768, (1, 1))


def test_dropout_and_drop_path_reach_the_model():
    model = build("swin", "model.dropout=0.4", "model.drop_path_rate=0.3")
    assert model.dropout.p == 0.4
    rates = [m.drop_prob for m in model.backbone.modules() if isinstance(m, timm.layers.DropPath)]
    assert rates and max(rates) == pytest.approx(0.3)
    x = torch.randn(2, 3, PATCH, PATCH)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(1)
    first = model(x)
    assert not torch.equal(first, model(x))


@pytest.mark.parametrize("name,channels", [("swin_tiny", [96, 192, 384, 768]), ("swin_small", [96, 192, 384, 768]),
                                           ("swin_base", [128, 256, 512, 1024])])
def test_swin_configs_name_the_papers_window7_patch224_models(name, channels):
    cfg = compose(f"model={name}", "loader.patch_size=224")
    validate(cfg)
    with torch.device("meta"):  # shapes only, no weights
        info = timm.create_model(cfg.model.backbone, features_only=True, pretrained=False).feature_info
    assert info.channels() == channels and info.reduction() == [4, 8, 16, 32]
    assert "window7_224" in cfg.model.backbone


def test_swin_tiny_builds_with_concat_fusion_at_patch_224():
    model = models.build(compose("model=swin_tiny", "model/fusion=concat").model, 224)
    assert model.feature_size == 7 and model.fusion.proj.in_channels == 1440
    assert model.hyper_conv[0].in_channels == 768


@pytest.mark.parametrize("recipe,fusion,optimizer,scheduler", [
    ("hyperiqa_paper", "LastStage", torch.optim.Adam, torch.optim.lr_scheduler.StepLR),
    ("swin_multiscale", "ConcatFusion", torch.optim.Adam, torch.optim.lr_scheduler.CosineAnnealingLR),
])
def test_recipes_build_their_parts(recipe, fusion, optimizer, scheduler):
    cfg = compose(f"experiment={recipe}")
    validate(cfg)
    assert models.fusion_name(cfg.model) == fusion and cfg.loss._target_ == "torch.nn.L1Loss"
    assert cfg.data.name == "koniq" and cfg.loader.patch_size == 224
    if "swin" in cfg.model.backbone:  # the window grid follows the patch size through the yaml
        assert cfg.model.backbone_args.img_size == cfg.loader.patch_size
    model = torch.nn.ModuleDict({"backbone": torch.nn.Linear(2, 2), "head": torch.nn.Linear(2, 1)})
    opt = build_node(cfg.optim, "optim", [{"params": list(model.parameters())}])
    assert type(opt) is optimizer and isinstance(build_node(cfg.scheduler, "scheduler", opt), scheduler)
