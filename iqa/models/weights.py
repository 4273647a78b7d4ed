"""Weights from outside a run: timm's hub (`model.pretrained`) or a local file (`model.weights`).

A local file is a safetensors file or a torch state dict (a run checkpoint's `model` entry is
taken too) read with `weights_only=True`, so loading it cannot run code. It holds one of:
- the timm backbone: handed to timm, which loads it into the backbone with its own conversions
  (for example Swin's relative-position tables at another patch size);
- a whole HyperIQA model of this project;
- a reference HyperIQA model (SSL92/hyperIQA layout), renamed by `iqa.models.reference`.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Dict, List, Optional

import timm
import torch
from safetensors.torch import load_file
from timm.models import clean_state_dict
from torch import nn

from iqa.checkpoint_file import file_kind
from iqa.errors import ConfigError

BACKBONE, HYPERIQA, REFERENCE = "backbone", "hyperiqa", "reference"


def one_line(error: Exception, limit: int = 200) -> str:
    """The first sentence of an exception, as one short line (torch's load errors are paragraphs)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", f"{type(error).__name__}: {error}")  # no terminal colours
    text = re.sub(r"\s+", " ", text).strip().split(". ")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_state_dict(path, label: str = "model.weights=") -> Dict[str, torch.Tensor]:
    """The name -> tensor mapping stored in `path`, or ConfigError (naming `label` + path) saying why not."""
    path = Path(path)
    name = f"{label}{path}"
    if not path.is_file():
        raise ConfigError(f"{name} does not exist")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        if isinstance(e, pickle.UnpicklingError) and "Unsupported global" in str(e):
            raise ConfigError(f"{name} cannot be read safely: it holds pickled Python objects besides tensors, "
                              f"which weights-only loading refuses to run") from None
        what = file_kind(path) if path.suffix != ".safetensors" else None
        if what is not None:
            raise ConfigError(f"{name} is not a weights file: it is {what}") from None
        raise ConfigError(f"{name} cannot be read as safetensors or a torch state dict "
                          f"({one_line(e)})") from None
    if isinstance(state, dict):
        state = next((state[k] for k in ("model", "state_dict") if isinstance(state.get(k), dict)), state)
    if not (isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise ConfigError(f"{name} holds no state dict (a mapping of parameter names to tensors)")
    return clean_state_dict(state)  # without the `module.` prefix of DataParallel checkpoints


def layout(state: Dict[str, torch.Tensor]) -> str:
    """Which kind of model a state dict belongs to: REFERENCE, HYPERIQA or (otherwise) BACKBONE."""
    if "res.conv1.weight" in state and "fc1w_conv.weight" in state:
        return REFERENCE
    if any(k.startswith("backbone.body.") for k in state):
        return HYPERIQA
    return BACKBONE


def _backbone_keys(name: str, args: dict) -> Optional[List[str]]:
    """State-dict names of timm's model `name` without its classifier, or None if it cannot be built
    (the backbone then reports why). Built on the meta device where it can be: only names are needed."""
    for device in ("meta", "cpu"):
        try:
            with torch.device(device):
                full = timm.create_model(name, pretrained=False, **args)
        except Exception:
            continue
        heads = full.pretrained_cfg.get("classifier") or ()
        heads = tuple(f"{h}." for h in ((heads,) if isinstance(heads, str) else heads))
        return [k for k in full.state_dict() if not k.startswith(heads) and not k.endswith("num_batches_tracked")]
    return None


def require_backbone(name: str, args: dict, state: Dict[str, torch.Tensor], path) -> None:
    """ConfigError unless `state` holds every tensor of timm's model `name`, its classifier aside.

    timm loads weights into feature backbones non-strictly, so without this check a file from
    another architecture would load nothing, silently.
    """
    needed = _backbone_keys(name, args)
    missing = [k for k in needed or () if k not in state]
    if missing:
        raise ConfigError(f"model.weights={path} does not fit model.backbone={name}: {len(missing)} of its "
                          f"{len(needed)} tensors are missing (first: {missing[0]}); a checkpoint from another "
                          f"architecture")


def load_state(model: nn.Module, state: Dict[str, torch.Tensor], name: str, what: str) -> None:
    """Load a whole-model state dict, or ConfigError saying which of its keys (from `name`) do not fit."""
    own = model.state_dict()
    wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
             if k in own and v.shape != own[k].shape]
    missing, unexpected = [], []
    if not wrong:
        result = model.load_state_dict(state, strict=False)
        missing, unexpected = result.missing_keys, result.unexpected_keys
    problems = [f"{len(keys)} {label} (first: {keys[0]})" for label, keys in
                (("of another shape", wrong), ("missing", missing), ("unexpected", unexpected)) if keys]
    if problems:
        raise ConfigError(f"{name} does not fit {what}: {', '.join(problems)}; "
                          f"a checkpoint from another architecture")


def create_pretrained(name: str, out_indices, kwargs: dict, file: Optional[str] = None):
    """timm's feature model with weights from `file`, or else from the hub; ConfigError when neither works."""
    source = {"pretrained_cfg_overlay": {"file": str(file)}} if file else {}
    try:
        return timm.create_model(name, pretrained=True, features_only=True, out_indices=out_indices,
                                 **source, **kwargs)
    except Exception as e:  # network, hub, missing-weight and state-dict errors all arrive here
        if file:
            raise ConfigError(f"model.weights={file} does not fit model.backbone={name}: a checkpoint from "
                              f"another architecture ({one_line(e)})") from None
        raise ConfigError(
            f"model.pretrained=true could not fetch weights for {name} ({type(e).__name__}): pass "
            f"model.weights=PATH to a local file or set model.pretrained=false") from None
