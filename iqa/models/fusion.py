"""Multi-scale fusion: stage feature maps in, one map at the last stage's grid out.

Every variant has the same interface, `forward(list of NCHW maps) -> NCHW map` with
`out_channels` (= the last stage's width) channels on the last stage's grid, so the hypernetwork
after it is the same for all and `model/fusion` is one categorical choice. A fusion of one's own is
any module with that interface, built from a `_target_` yaml in the `model/fusion` group.
"""
from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import nn


def to_grid(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Average-pool `x` onto the spatial grid of `like` (the identity when they already match)."""
    return F.adaptive_avg_pool2d(x, like.shape[-2:])


class LastStage(nn.Module):
    """`none`: the last stage alone, as in the paper."""

    def __init__(self, channels: List[int]):
        super().__init__()
        self.out_channels = channels[-1]

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        return feats[-1]


class ConcatFusion(nn.Module):
    """`concat`: every stage pooled to the last grid, concatenated, 1x1 conv back to the last width."""

    def __init__(self, channels: List[int]):
        super().__init__()
        self.out_channels = channels[-1]
        self.proj = nn.Conv2d(sum(channels), self.out_channels, 1)

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        last = feats[-1]
        return self.proj(torch.cat([to_grid(f, last) for f in feats], dim=1))


class FPNFusion(nn.Module):
    """`fpn`: lateral 1x1 convs to the first stage's width, top-down nearest upsampling and sums
    down to the finest stage, a 3x3 smoothing conv there, then pooled to the last grid and
    widened by a 1x1 conv.

    The pyramid is merged at the finest scale so that detail from the early stages survives the
    top-down sums; keeping its width at the first stage's keeps that scale cheap.
    """

    def __init__(self, channels: List[int]):
        super().__init__()
        width = channels[0]
        self.out_channels = channels[-1]
        self.laterals = nn.ModuleList(nn.Conv2d(c, width, 1) for c in channels)
        self.smooth = nn.Conv2d(width, width, 3, padding=1)
        self.proj = nn.Conv2d(width, self.out_channels, 1)

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        merged = self.laterals[-1](feats[-1])
        for lateral, f in zip(self.laterals[-2::-1], feats[-2::-1]):
            merged = lateral(f) + F.interpolate(merged, size=f.shape[-2:], mode="nearest")
        return self.proj(to_grid(self.smooth(merged), feats[-1]))


class AttentionFusion(nn.Module):
    """`attention`: each stage pooled to the last grid and projected (1x1 conv) to the last width,
    then summed with per-image weights that are softmax-normalised across stages separately for
    every channel (selective-kernel style): a descriptor of the summed projections goes through a
    bottleneck and one linear layer per stage gives that stage's channel logits.

    At initialisation the weights are near uniform, so training starts from the stage average.
    """

    def __init__(self, channels: List[int], reduction: int = 16):
        super().__init__()
        c = channels[-1]
        self.out_channels = c
        hidden = max(8, c // reduction)
        self.projs = nn.ModuleList(nn.Conv2d(ci, c, 1) for ci in channels)
        self.squeeze = nn.Sequential(nn.Linear(c, hidden), nn.ReLU(inplace=True))
        self.logits = nn.ModuleList(nn.Linear(hidden, c) for _ in channels)

    def stage_weights(self, projected: torch.Tensor) -> torch.Tensor:
        """[batch, stages, channels] weights summing to one over stages."""
        z = self.squeeze(projected.sum(1).mean(dim=(2, 3)))
        return torch.stack([fc(z) for fc in self.logits], dim=1).softmax(dim=1)

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        last = feats[-1]
        projected = torch.stack([p(to_grid(f, last)) for p, f in zip(self.projs, feats)], dim=1)
        weights = self.stage_weights(projected)
        return (projected * weights[..., None, None]).sum(1)
