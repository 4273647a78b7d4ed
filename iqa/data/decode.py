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


def _rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB of any mode. PIL reads 16-bit RGB as its high bytes but converts 16-bit grey by
    clipping at 255, so grey takes its high bytes here too; 32-bit pixels have no agreed scale."""
    if img.mode.startswith("I;16"):
        grey = (np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if img.mode in ("I", "F"):
        raise ValueError(f"its pixels are 32-bit {'integers' if img.mode == 'I' else 'floats'}, which have no "
                         f"defined 8-bit scale: save it with 8 or 16 bits per channel")
    return img.convert("RGB")


def decode_image(path: Path, short_side: Optional[int] = None) -> np.ndarray:
    """RGB pixels of `path`, resized (bilinear, antialiased) so the shorter side is `short_side`.

    Large JPEGs are decoded at a reduced DCT scale first (PIL's draft mode), which is several
    times faster than decoding full size and keeps at least the requested resolution.
    16-bit files keep their full range (scaled to 8 bits). Raises one of DECODE_ERRORS when the
    file cannot be read.
    """
    with Image.open(path) as img:
        size = resized_shape(*img.size, short_side)
        if size != img.size:
            img.draft("RGB", size)
        rgb = _rgb(img)
        if rgb.size != size:
            rgb = rgb.resize(size, Image.BILINEAR)
        return np.array(rgb, dtype=np.uint8)  # a writable copy, as torch.from_numpy wants
