"""Multi-scale fusion: stage feature maps in, one map at the last stage's grid out.

Every variant has the same interface, `forward(list of NCHW maps) -> NCHW map` with
`out_channels` channels on the last stage's grid, so `model.fusion` is one categorical choice.
"""
from __future__ import annotations

from typing import List

import torch
from torch import nn


class LastStage(nn.Module):
    """`none`: the last stage alone, as in the paper."""

    def __init__(self, channels: List[int]):
        super().__init__()
        self.out_channels = channels[-1]

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        return feats[-1]


FUSIONS = {"none": LastStage}


def build_fusion(name: str, channels: List[int]) -> nn.Module:
    """The fusion module `name` for stages with these channel counts."""
    return FUSIONS[name](channels)
