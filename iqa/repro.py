"""Seeding and determinism: one call before anything else draws random numbers."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, level: str = "strict") -> None:
    """Seed Python, NumPy and torch; with level 'strict' also force deterministic kernels.

    'strict' turns off cuDNN's timing-based algorithm search, ops without a deterministic kernel
    (they raise) and TF32 matmuls/convolutions on CUDA; 'fast' turns all three on.
    Seed 0 is a valid seed: nothing here treats it as "unset".
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    strict = level == "strict"
    if strict:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(strict, warn_only=False)
    torch.backends.cudnn.deterministic = strict
    torch.backends.cudnn.benchmark = not strict
    torch.backends.cuda.matmul.allow_tf32 = not strict
    torch.backends.cudnn.allow_tf32 = not strict


def derived_seed(*parts: int) -> int:
    """A 63-bit seed that is a pure function of integer parts, e.g. (seed, epoch, sample)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h ^= (int(p) + 0x9E3779B97F4A7C15 + ((h << 6) & 0xFFFFFFFFFFFFFFFF) + (h >> 2))
        h &= 0xFFFFFFFFFFFFFFFF
        h = (h * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def generator(*parts: int) -> torch.Generator:
    """A CPU torch.Generator seeded from `derived_seed(*parts)`."""
    g = torch.Generator()
    g.manual_seed(derived_seed(*parts))
    return g
