"""Pretrained backbone weights through timm's hub, with a one-line error when offline."""
from __future__ import annotations

import timm

from iqa.errors import ConfigError


def create_pretrained(name: str, out_indices, kwargs: dict):
    """timm's pretrained feature model, or ConfigError saying how to run without the hub."""
    try:
        return timm.create_model(name, pretrained=True, features_only=True, out_indices=out_indices, **kwargs)
    except Exception as e:  # network, hub and missing-weight errors all arrive here
        raise ConfigError(
            f"model.pretrained=true could not fetch weights for {name} ({type(e).__name__}): pass "
            f"model.weights=PATH to a local file or set model.pretrained=false") from None
