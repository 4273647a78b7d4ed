"""Where a run executes: device choice and whether to draw progress bars."""
from __future__ import annotations

import resource
import sys
from typing import Dict, Optional

import torch

from iqa.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """`auto` picks the current CUDA device (the job's GPU slot) when present; an explicit CUDA
    request without CUDA is a config error."""
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"runtime.device={name!r} is not available: this machine has no CUDA device")
    return torch.device(name)


def show_progress(setting: Optional[bool]) -> bool:
    """Progress bars on a terminal unless configured otherwise."""
    return sys.stderr.isatty() if setting is None else bool(setting)


def peak_memory_mb(device: torch.device) -> Dict[str, float]:
    """Peak resident memory of this process so far and, on CUDA, peak memory allocated by torch.

    `ru_maxrss` counts pages actually touched, so memory-mapped image caches count only for what
    was read, once.
    """
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = {"rss": round(maxrss / (2**20 if sys.platform == "darwin" else 1024), 1)}  # bytes on macOS, KiB on Linux
    if device.type == "cuda":
        peak["cuda"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return peak
