"""Reading a run checkpoint, which may come from someone else: a checkpoint is data.

`load` reads with `weights_only=True`, so no pickled object runs. The run's saved config comes
back with `saved_config` as plain values: interpolations stay text (a file cannot read the
environment), and a `_target_` in it (a config node Hydra would call) is refused unless it is the
model's fusion and the caller knows its target (the project's fusions, or the user's own
`model.fusion`), or the user trusts the checkpoint (`trust_checkpoint=true`); only the model
is ever built from a saved config. Timm's own loading arguments (`checkpoint_path`, `pretrained_cfg`, ...) are refused in `backbone_args`
likewise. Used by `mode=eval`, `iqa.predict`, resume and `model.weights`, so it imports nothing of
the rest of the package but its errors.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Collection, Optional

import torch

from iqa.errors import DataError

TRUST_HINT = "pass trust_checkpoint=true only if you trust whoever wrote the file"


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
              (b"\x80", "a pickle, not the zip archive torch.save writes (an old or foreign format)"),
              (b"PK\x03\x04", "a truncated or damaged zip archive (a checkpoint whose writing or copying was cut off)"))


def file_kind(path: Path) -> Optional[str]:
    """What the file is, in words, when it is plainly not a torch.save archive; None when it may be one.
    A zip archive that `zipfile` cannot open (its directory at the end is missing) was cut off."""
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


def _plain(value: Any, where: str, path) -> Any:
    """`value` as plain config values with every `${` escaped; DataError for anything else."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}", path) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]", path) for i, v in enumerate(value)]
    if isinstance(value, str):
        return value.replace("${", "\\${")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise DataError(f"checkpoint {path} has a value of type {type(value).__name__} at {where}: "
                    f"a run's config holds plain values only")


def _targets(value: Any, where: str):
    """(place, target) of every `_target_` node in `value`."""
    if isinstance(value, dict):
        if "_target_" in value:
            yield where, value["_target_"]
        for k, v in value.items():
            yield from _targets(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _targets(v, f"{where}[{i}]")


def saved_config(state: dict, path, known_fusions: Collection[str] = (), reserved_backbone_args: Collection[str] = (),
                 trust: bool = False) -> dict:
    """The run's saved config as plain values, safe to rebuild the model from.

    Only `model` is ever built from it (the other nodes are read as values). Without `trust`, the
    only `_target_` accepted there is `model.fusion`'s, and only one of `known_fusions`;
    `model.backbone_args` may not set any of `reserved_backbone_args` (timm's arguments that load
    files or reach the hub).
    """
    require_run_checkpoint(state, path)
    config = _plain(state["config"], "config", path)
    if trust:
        return config
    if not isinstance(config["model"], dict):
        raise DataError(f"checkpoint {path} has no model config (config.model is not a mapping)")
    for where, target in _targets(config["model"], "config.model"):
        if where != "config.model.fusion" or target not in known_fusions:
            raise DataError(f"checkpoint {path} asks to call {target!r} (at {where}): a checkpoint is data, and "
                            f"only the project's fusions or your config's model.fusion are rebuilt from it; "
                            f"{TRUST_HINT}")
    args = config["model"].get("backbone_args") or {}
    reserved = sorted(set(args) & set(reserved_backbone_args)) if isinstance(args, dict) else []
    if reserved:
        raise DataError(f"checkpoint {path} sets config.model.backbone_args.{reserved[0]}, which makes timm load "
                        f"a file or reach the hub; {TRUST_HINT}")
    return config


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
