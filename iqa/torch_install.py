"""A torch and torchvision that do not belong together, said in one line with the fixing command.

torchvision's compiled operators are built for one torch release; with another torch installed
(a CPU-only torch beside a torchvision built for the CUDA one, say) importing it fails deep in
its registration with `operator torchvision::nms does not exist`. Every entry point that trains
or predicts calls `exit_if_mismatched()` before importing anything that imports torchvision.
"""
from __future__ import annotations

import sys
from importlib import metadata
from typing import Optional

FIX = ("pip install --force-reinstall torch torchvision --index-url https://download.pytorch.org/whl/cpu "
       "(without a GPU; with one, the same without --index-url)")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def mismatch() -> Optional[str]:
    """The one-line diagnosis when torchvision cannot load its operators into this torch, else None."""
    try:
        import torchvision  # noqa: F401
    except RuntimeError as e:
        if "torchvision::" not in str(e):
            raise
        import torch
        return (f"torchvision {_version('torchvision')} was built for another torch than the installed "
                f"torch {torch.__version__} ({str(e).splitlines()[0]}): install a matching pair with {FIX}")
    return None


def exit_if_mismatched() -> None:
    """Print the diagnosis as one `error:` line and exit with status 1 when torch and torchvision differ."""
    line = mismatch()
    if line is not None:
        print(f"error: {line}", file=sys.stderr, flush=True)
        sys.exit(1)
