"""Model construction from the `model` config group."""
from __future__ import annotations

import inspect
import sys

from omegaconf import DictConfig, OmegaConf

# timm's utilities import W&B whenever it is installed (the `tracking` extra), for a helper this
# project never calls: half a second and a tracker in every job. Hidden while timm loads; the
# W&B logger imports it for real (docs/benchmarks.md, "Start-up").
if "timm" not in sys.modules and "wandb" not in sys.modules:
    sys.modules["wandb"] = None
    try:
        import timm  # noqa: F401
    finally:
        del sys.modules["wandb"]

from iqa.build import build as build_node
from iqa.models import fusion, reference, weights
from iqa.models.hyperiqa import HyperIQA
from iqa.models.reference import load_reference_hyperiqa

__all__ = ["HyperIQA", "build", "fusion_name", "known_fusions", "load_reference_hyperiqa", "TIMM_LOADING_ARGS",
           "weights_origin"]

# timm.create_model's own arguments (weights files, hub configs, caches): never taken from a checkpoint.
TIMM_LOADING_ARGS = frozenset(p for p in inspect.signature(timm.create_model).parameters
                              if p not in ("model_name", "kwargs"))


def known_fusions(own=None) -> set:
    """The `_target_` of every fusion of the project, plus `own` (the fusion node of the user's config)."""
    targets = {f"{fusion.__name__}.{name}" for name, obj in vars(fusion).items()
               if isinstance(obj, type) and obj.__module__ == fusion.__name__}
    target = OmegaConf.select(own, "_target_", default=None) if isinstance(own, DictConfig) else None
    return targets | ({str(target)} if target else set())


def fusion_name(model_cfg) -> str:
    """The fusion's class name, for logs and messages."""
    return str(model_cfg.fusion._target_).rsplit(".", 1)[-1]


def weights_origin(model_cfg) -> str:
    """Where the model's starting weights come from, for the run's start line: a backbone named
    after its ImageNet weights (resnet50.tv_in1k) is still random unless loaded."""
    if model_cfg.weights:
        return f"weights from {model_cfg.weights}"
    if model_cfg.pretrained:
        return "ImageNet weights from the timm hub"
    return "random initialisation (model.pretrained=false, no model.weights)"


def build(model_cfg, patch_size: int) -> HyperIQA:
    """The HyperIQA model the config describes: random, timm's ImageNet weights, or `model.weights`.

    A `model.weights` file takes precedence over `model.pretrained`: with it the hub is never asked.
    """
    path = model_cfg.weights
    state = weights.read_state_dict(path) if path else None
    kind = weights.layout(state) if state is not None else None
    args = model_cfg.backbone_args
    args = OmegaConf.to_container(args, resolve=True) if isinstance(args, DictConfig) else dict(args)
    if kind == weights.BACKBONE:
        weights.require_backbone(model_cfg.backbone, args, state, path)
        state = None  # timm reads the file itself
    model = HyperIQA(
        backbone=model_cfg.backbone, patch_size=patch_size, stages=model_cfg.stages,
        fusion=lambda channels: build_node(model_cfg.fusion, "model.fusion", channels), lda_out=model_cfg.lda_out, hyper_in=model_cfg.hyper_in,
        target_sizes=list(model_cfg.target_sizes), dropout=model_cfg.dropout,
        drop_path_rate=model_cfg.drop_path_rate, pretrained=model_cfg.pretrained and not path,
        backbone_args=args, backbone_weights=path if kind == weights.BACKBONE else None)
    if kind == weights.REFERENCE:
        state = reference.to_hyperiqa(state)
    if kind in (weights.REFERENCE, weights.HYPERIQA):
        what = f"model {model_cfg.name} ({model_cfg.backbone}, fusion {fusion_name(model_cfg)})"
        weights.load_state(model, state, f"model.weights={path}", what)
    return model
