"""Decoding one image file into the uint8 HxWx3 array every dataset holds."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from PIL import Image

# What PIL raises for a missing, truncated, corrupt or unsupported file.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def resized_shape(width: int, height: int, short_side: Optional[int]) -> Tuple[int, int]:
    """(width, height) after scaling the shorter side to `short_side` (0 or None: unchanged),
    keeping the aspect ratio."""
    if not short_side or min(width, height) == short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode_image(path: Path, short_side: Optional[int] = None) -> np.ndarray:
    """RGB pixels of `path`, resized (bilinear, antialiased) so the shorter side is `short_side`.

    Large JPEGs are decoded at a reduced DCT scale first (PIL's draft mode), which is several
    times faster than decoding full size and keeps at least the requested resolution.
    Raises one of DECODE_ERRORS when the file cannot be read.
    """
    with Image.open(path) as img:
        size = resized_shape(*img.size, short_side)
        if size != img.size:
            img.draft("RGB", size)
        rgb = img.convert("RGB")
        if rgb.size != size:
            rgb = rgb.resize(size, Image.BILINEAR)
        return np.array(rgb, dtype=np.uint8)  # a writable copy, as torch.from_numpy wants
