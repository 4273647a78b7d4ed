"""Checkpoints: model weights, epoch, metrics and the resolved config; plus optimizer, scheduler
and the loop's state in the one checkpoint a run resumes from (`last.pt`).

Saved atomically and loaded with `weights_only=True`, so a checkpoint cannot run code.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Optional

import torch

from iqa.atomic import replace_with
from iqa.errors import DataError


def save(path, model, optimizer, scheduler, epoch: int, metrics: dict, config: dict,
         extra: Optional[dict] = None) -> Path:
    """Write the checkpoint; `optimizer` and `scheduler` None for weights only (saved as None, a
    quarter to a third of the size with Adam's two moments per weight left out)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "metrics": metrics,
        "config": config,
        **(extra or {}),
    }
    return replace_with(path, lambda tmp: _save(state, tmp))


def _save(state: dict, tmp: Path) -> None:
    # Through a Python file, so a full disk raises OSError (torch's own writer says only "iostream error").
    with open(tmp, "wb") as f:
        torch.save(state, f)


def load(path, map_location: Any = "cpu") -> dict:
    """The checkpoint dict, or DataError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        what = file_kind(path)
        if what is not None:
            raise DataError(f"checkpoint {path} is not a checkpoint: it is {what}") from None
        raise DataError(f"checkpoint {path} cannot be read: {type(e).__name__}: {e}".splitlines()[0]) from None


# Leading bytes of the files most often passed by mistake, and what to call them.
SIGNATURES = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
              (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"\x89HDF", "an HDF5 file"),
              (b"\x80", "a pickle, not the zip archive torch.save writes (an old or foreign format)"))


def file_kind(path: Path) -> Optional[str]:
    """What the file is, in words, when it is plainly not a torch.save archive; None when it may be one."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if any(name.endswith("data.pkl") for name in z.namelist()):
                return None
        return "a zip archive that torch.save did not write"
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        return "an empty file"
    for magic, what in SIGNATURES:
        if head.startswith(magic):
            return what
    if head[8:9] == b"{" and len(head) > 8:
        return "a safetensors file (weights without a run's state; model.weights=PATH.safetensors loads it)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"an unknown binary file (it starts with {head[:8].hex(' ')})"
    return f"a text file (it starts with {text.splitlines()[0][:40]!r})" if text.strip() else "a text file"


def require_run_checkpoint(state: Any, path) -> None:
    """DataError unless `state` has the layout `save` writes (weights plus the run's config)."""
    config = state.get("config") if isinstance(state, dict) else None
    if not (isinstance(config, dict) and {"model", "loader"} <= set(config) and isinstance(state.get("model"), dict)):
        raise DataError(f"checkpoint {path} was not written by run.py: it lacks the 'model' weights "
                        f"and the 'config' of the run")


def load_weights(model, weights: dict, path) -> None:
    """Load a state dict into `model`, or DataError saying in one line how the architectures differ."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    resized = [k for k in own if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or resized:
        example = (f"{resized[0]} is {list(weights[resized[0]].shape)} in the file, {list(own[resized[0]].shape)} "
                   f"in the model" if resized else f"e.g. {(missing or unexpected)[0]!r}")
        raise DataError(f"checkpoint {path} holds another architecture than its config describes: "
                        f"{len(missing)} missing, {len(unexpected)} unexpected and {len(resized)} resized "
                        f"tensors ({example})")
    model.load_state_dict(weights)
