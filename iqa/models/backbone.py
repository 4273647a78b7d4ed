"""Multi-stage feature extractors from timm, with shapes read from `feature_info`."""
from __future__ import annotations

from typing import List, Optional

import timm
import torch
from torch import nn

from iqa.errors import ConfigError


class Backbone(nn.Module):
    """The last `stages` feature maps of a timm model, always as NCHW tensors.

    `args` go to `timm.create_model` as they are (e.g. a smaller `embed_dim`); ImageNet weights
    come from timm's hub with `pretrained`, or from a local `weights_file` of the timm model.

    `channels` and `reductions` come from timm's `feature_info`, so nothing above this class
    hard-codes a channel count.
    """

    def __init__(self, name: str, stages: int, pretrained: bool = False,
                 drop_path_rate: float = 0.0, args: Optional[dict] = None, weights_file: Optional[str] = None):
        super().__init__()
        kwargs = dict(args or {})
        if drop_path_rate > 0:
            kwargs["drop_path_rate"] = drop_path_rate
        try:
            probe = timm.create_model(name, pretrained=False, features_only=True, **kwargs)
        except RuntimeError as e:
            raise ConfigError(f"model.backbone={name!r} cannot give multi-stage features: {e}") from None
        except Exception as e:  # timm raises several types for unknown names
            if not timm.is_model(name):
                raise ConfigError(f"model.backbone={name!r} is not a timm model") from None
            raise ConfigError(f"model.backbone={name!r} cannot be built: {e}") from None
        n_all = len(probe.feature_info)
        if stages > n_all:
            raise ConfigError(f"model.stages={stages} is out of range: {name} has {n_all} feature stages")
        out_indices = tuple(range(n_all - stages, n_all))
        if pretrained or weights_file:
            from iqa.models.weights import create_pretrained
            self.body = create_pretrained(name, out_indices, kwargs, weights_file)
        else:
            self.body = timm.create_model(name, pretrained=False, features_only=True,
                                          out_indices=out_indices, **kwargs)
        self.channels: List[int] = list(self.body.feature_info.channels())
        self.reductions: List[int] = list(self.body.feature_info.reduction())
        self.nhwc = str(getattr(self.body, "output_fmt", "NCHW")).endswith("NHWC")

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        feats = self.body(x)
        if self.nhwc:
            feats = [f.permute(0, 3, 1, 2) for f in feats]
        return feats
