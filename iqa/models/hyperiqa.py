"""HyperIQA (Su et al., CVPR 2020) on any timm backbone.

The backbone's stages feed two paths:
- local distortion-aware (LDA) pooling of every stage, concatenated into the target network's
  input vector;
- the (fused) last-stage map, reduced by 1x1 convolutions, from which the hypernetwork
  generates the weights (3x3 convolutions over the map) and biases (linear layers on its
  pooled vector) of a small fully connected target network, one set per image.
The target network then maps the input vector to a score through sigmoid layers; per-image
weights are applied with batched matrix multiplication.
"""
from __future__ import annotations

from typing import Callable, List, Optional

import torch
from torch import nn

from iqa.errors import ConfigError
from iqa.models.backbone import Backbone
from iqa.models.fusion import LastStage


class LDAPool(nn.Module):
    """Reduce channels (1x1 conv, skipped for the last stage), average-pool to a grid, project."""

    def __init__(self, in_channels: int, grid: int, out_features: int, reduce: bool):
        super().__init__()
        mid = max(1, in_channels // 16) if reduce else in_channels
        self.reduce = nn.Conv2d(in_channels, mid, 1, bias=False) if reduce else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.fc = nn.Linear(mid * grid * grid, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.reduce(x)).flatten(1))


class HyperIQA(nn.Module):
    """Backbone -> fusion -> hypernetwork -> per-image target network -> score of shape [batch]."""

    def __init__(self, backbone: str, patch_size: int, stages: int = 4,
                 fusion: Callable[[List[int]], nn.Module] = LastStage,
                 lda_out: int = 16, hyper_in: int = 112, target_sizes=(224, 112, 56, 28, 14),
                 dropout: float = 0.0, drop_path_rate: float = 0.0, pretrained: bool = False,
                 backbone_args: Optional[dict] = None, backbone_weights: Optional[str] = None):
        super().__init__()
        self.backbone = Backbone(backbone, stages, pretrained, drop_path_rate, backbone_args,
                                 backbone_weights)
        chans, reds = self.backbone.channels, self.backbone.reductions
        self.feature_size = patch_size // reds[-1]
        if self.feature_size < 1 or patch_size % reds[-1]:
            raise ConfigError(f"loader.patch_size={patch_size} is out of range: must be a multiple of "
                              f"the backbone's last-stage stride {reds[-1]}")
        sizes = [int(s) for s in target_sizes]
        self.sizes = sizes
        area = self.feature_size ** 2
        for a, b in zip(sizes[:-1], sizes[1:]):
            if (a * b) % area:
                raise ConfigError(f"model.target_sizes={sizes} is out of range: each product of neighbours "
                                  f"({a}*{b}) must divide by the feature grid area {area} at patch {patch_size}")
        last_out = sizes[0] - lda_out * (len(chans) - 1)
        self.lda = nn.ModuleList(
            LDAPool(c, max(1, reds[-1] // r), lda_out if i < len(chans) - 1 else last_out, i < len(chans) - 1)
            for i, (c, r) in enumerate(zip(chans, reds)))
        self.fusion = fusion(chans)
        c = self.fusion.out_channels
        self.hyper_in = hyper_in
        self.hyper_conv = nn.Sequential(
            nn.Conv2d(c, max(1, c // 2), 1), nn.ReLU(inplace=True),
            nn.Conv2d(max(1, c // 2), max(1, c // 4), 1), nn.ReLU(inplace=True),
            nn.Conv2d(max(1, c // 4), hyper_in, 1), nn.ReLU(inplace=True))
        self.weight_convs = nn.ModuleList(
            nn.Conv2d(hyper_in, a * b // area, 3, padding=1) for a, b in zip(sizes[:-1], sizes[1:]))
        self.last_weight = nn.Linear(hyper_in, sizes[-1])
        self.biases = nn.ModuleList(nn.Linear(hyper_in, b) for b in sizes[1:] + [1])
        self.dropout = nn.Dropout(dropout)

    def hyper_params(self, x: torch.Tensor):
        """Target-network input vector and per-image (weights, biases) for each of its layers."""
        feats = self.backbone(x)
        vec = torch.cat([pool(f) for pool, f in zip(self.lda, feats)], dim=1)
        hyper = self.hyper_conv(self.fusion(feats))
        hyper = self.dropout(hyper)
        pooled = hyper.mean(dim=(2, 3))
        n = x.shape[0]
        weights = [conv(hyper).reshape(n, b, a) for conv, a, b in zip(self.weight_convs, self.sizes[:-1], self.sizes[1:])]
        weights.append(self.last_weight(pooled).reshape(n, 1, self.sizes[-1]))
        biases = [fc(pooled) for fc in self.biases]
        return self.dropout(vec), weights, biases

    @staticmethod
    def target_net(vec: torch.Tensor, weights: List[torch.Tensor], biases: List[torch.Tensor]) -> torch.Tensor:
        """Apply the per-image fully connected layers: sigmoid after all but the last.

        Each image's vector is a row multiplied by its transposed [out, in] weights: on a CPU this
        form's forward and backward run about 1.5x faster than weights times a column vector
        (benchmarks/target_net.py).
        """
        q = vec.unsqueeze(1)
        for i, (w, b) in enumerate(zip(weights, biases)):
            q = torch.baddbmm(b.unsqueeze(1), q, w.transpose(1, 2))
            if i < len(weights) - 1:
                q = torch.sigmoid(q)
        return q.reshape(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.target_net(*self.hyper_params(x))
