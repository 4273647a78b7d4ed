"""Seeding and determinism: one call before anything else draws random numbers."""
from __future__ import annotations

import logging
import os
import random
import warnings
import zlib
from typing import Dict

import numpy as np
import torch
from torch.utils.data import DataLoader


def seed_everything(seed: int, level: str = "strict") -> None:
    """Seed Python, NumPy and torch (every device); with level 'strict' also ask for deterministic kernels.

    'strict' also turns off cuDNN's timing-based algorithm search and TF32 matmuls/convolutions on
    CUDA; 'fast' turns both on.
    Seed 0 is a valid seed: nothing here treats it as "unset". Under 'strict' an operation that
    has no deterministic implementation (on CUDA: adaptive-pooling and bilinear-interpolation
    backward, among others) still runs, and torch's warning naming it is written to the run log
    once, so a run says when it is not bitwise repeatable instead of failing.
    """
    strict = level == "strict"
    if strict:  # read when cuBLAS starts, so set before any CUDA work
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    os.environ["PYTHONHASHSEED"] = str(seed)  # for processes started later; this one's hashing is fixed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(strict, warn_only=True)
    torch.backends.cudnn.deterministic = strict
    torch.backends.cudnn.benchmark = not strict
    torch.backends.cuda.matmul.allow_tf32 = not strict
    torch.backends.cudnn.allow_tf32 = not strict
    if strict:
        warnings.filterwarnings("once", message=".*does not have a deterministic implementation.*")
        logging.captureWarnings(True)


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


def seed_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: seed the worker's Python, NumPy and torch generators.

    The seed is the one torch hands the worker (`base + worker_id`, the base drawn from the
    loader's own generator), so any library randomness inside a worker is a function of
    (run seed, epoch, worker) on every torch version. The patch datasets draw nothing from
    these global generators (see `iqa.data.patches`), which is why batches do not depend on
    `num_workers` at all.
    """
    seed = torch.utils.data.get_worker_info().seed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def loader_rng(seed: int, name: str) -> dict:
    """DataLoader keyword arguments giving a loader its own generator and the worker seeding.

    With its own generator a loader never draws from the global torch generator, so data loading
    cannot shift the random numbers that dropout or drop-path use.
    """
    return {"generator": generator(seed, zlib.crc32(name.encode())), "worker_init_fn": seed_worker}


def rng_state(loaders: Dict[str, DataLoader]) -> dict:
    """Every random generator a run draws from, in a form `torch.load(weights_only=True)` accepts."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(key.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loaders": {name: loader.generator.get_state() for name, loader in loaders.items()},
    }


def set_rng_state(state: dict, loaders: Dict[str, DataLoader]) -> None:
    """Put back what `rng_state` captured; CUDA states only when the device count matches."""
    random.setstate(state["python"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, loader in loaders.items():
        loader.generator.set_state(state["loaders"][name])
