"""State dicts of the reference HyperIQA (SSL92/hyperIQA, `models.HyperNet`) as `hyperiqa_resnet50`.

The reference keeps everything in one module. Its names map onto this project's as follows
(`i` counts from 1 in the reference, from 0 here):

| reference                         | here                             |
|-----------------------------------|----------------------------------|
| `res.<torchvision ResNet-50 key>` | `backbone.body.<same key>`       |
| `res.lda{i}_pool.0.*` (i = 1..3)  | `lda.{i-1}.reduce.*`             |
| `res.lda{i}_fc.*` (i = 1..4)      | `lda.{i-1}.fc.*`                 |
| `conv1.{0,2,4}.*`                 | `hyper_conv.{0,2,4}.*`           |
| `fc{i}w_conv.*` (i = 1..4)        | `weight_convs.{i-1}.*`           |
| `fc5w_fc.*`                       | `last_weight.*`                  |
| `fc{i}b_fc.*` (i = 1..5)          | `biases.{i-1}.*`                 |

The layer sizes (`HyperNet(16, 112, 224, 112, 56, 28, 14, 7)` for the published weights) are
read from the tensors' shapes, so other sizes of the reference load too.
"""
from __future__ import annotations

import math
import re
from typing import Dict

import torch

from iqa.errors import ConfigError
from iqa.models.hyperiqa import HyperIQA
from iqa.models.weights import REFERENCE, layout, load_state, read_state_dict

RENAMES = [
    (r"res\.lda(\d)_pool\.0\.", lambda m: f"lda.{int(m[1]) - 1}.reduce."),
    (r"res\.lda(\d)_fc\.", lambda m: f"lda.{int(m[1]) - 1}.fc."),
    (r"res\.", lambda m: "backbone.body."),
    (r"conv1\.(\d)\.", lambda m: f"hyper_conv.{m[1]}."),
    (r"fc(\d)w_conv\.", lambda m: f"weight_convs.{int(m[1]) - 1}."),
    (r"fc5w_fc\.", lambda m: "last_weight."),
    (r"fc(\d)b_fc\.", lambda m: f"biases.{int(m[1]) - 1}."),
]


def rename(key: str) -> str:
    """This project's name for a reference parameter (unknown names are kept, and then rejected)."""
    for pattern, new in RENAMES:
        m = re.match(pattern, key)
        if m:
            return new(m) + key[m.end():]
    return key


def to_hyperiqa(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A reference state dict under this project's parameter names."""
    return {rename(k): v for k, v in state.items()}


def reference_sizes(state: Dict[str, torch.Tensor]) -> dict:
    """HyperIQA keyword arguments (sizes and patch) of the reference model that saved `state`."""
    lda_out = state["res.lda1_fc.weight"].shape[0]
    targets = [state[f"fc{i}b_fc.weight"].shape[0] for i in range(1, 5)]
    target_in = 3 * lda_out + state["res.lda4_fc.weight"].shape[0]
    feature_size = math.isqrt(target_in * targets[0] // state["fc1w_conv.weight"].shape[0])
    return {"lda_out": lda_out, "hyper_in": state["conv1.4.weight"].shape[0],
            "target_sizes": [target_in, *targets], "patch_size": 32 * feature_size}


def load_reference_hyperiqa(path) -> HyperIQA:
    """A `hyperiqa_resnet50` model with the weights of a reference HyperIQA file, in eval mode.

    `model(x)` on ImageNet-normalised patches of the reference's size (224) returns the scores
    the reference gives, shape [batch].
    """
    state = read_state_dict(path, label="")
    if layout(state) != REFERENCE:
        raise ConfigError(f"{path} is not a reference HyperIQA state dict (it has no res.conv1.weight "
                          f"and fc1w_conv.weight)")
    model = HyperIQA(backbone="resnet50", stages=4, **reference_sizes(state))
    load_state(model, to_hyperiqa(state), str(path), "a reference HyperIQA (ResNet-50) model")
    return model.eval()
