"""Model construction from the `model` config group."""
from __future__ import annotations

from iqa.models.hyperiqa import HyperIQA


def build(model_cfg, patch_size: int) -> HyperIQA:
    """The HyperIQA model the config describes, randomly initialised or with timm's weights."""
    return HyperIQA(
        backbone=model_cfg.backbone, patch_size=patch_size, stages=model_cfg.stages,
        fusion=model_cfg.fusion, lda_out=model_cfg.lda_out, hyper_in=model_cfg.hyper_in,
        target_sizes=list(model_cfg.target_sizes), dropout=model_cfg.dropout,
        drop_path_rate=model_cfg.drop_path_rate, pretrained=model_cfg.pretrained)
