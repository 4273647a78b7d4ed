"""LIVE In the Wild Image Quality Challenge: `Data/AllImages_release.mat` (a cell array of file
names), `Data/AllMOS_release.mat` (their MOS) and the images in `Images/`.

The first 7 entries are the training images shown to raters before the study; like the reference
implementation, they are skipped, leaving the 1162 test images.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from iqa.data.fileset import DatasetSettings
from iqa.data.metadata import Records, need_file, records
from iqa.errors import DataError

RATER_TRAINING_IMAGES = 7


def mat_variable(path: Path, name: str) -> np.ndarray:
    """One variable of a MATLAB file, or DataError naming the file and the missing variable."""
    try:
        content = scipy.io.loadmat(str(path))
    except (MatReadError, OSError, ValueError, NotImplementedError, TypeError) as e:
        raise DataError(f"{path} cannot be read as a MATLAB file ({type(e).__name__}: {e})") from None
    if name not in content:
        found = ", ".join(k for k in content if not k.startswith("__"))
        raise DataError(f"{path} has no variable {name!r} (variables: {found})")
    return content[name]


def cell_strings(cells: np.ndarray, path: Path) -> list:
    """A MATLAB cell array of strings as a list of str."""
    out = []
    for i, cell in enumerate(cells.ravel()):
        flat = np.ravel(cell)
        if flat.size != 1 or not str(flat[0]).strip():
            raise DataError(f"{path} entry {i + 1} is not a file name")
        out.append(str(flat[0]).strip())
    return out


def read(settings: DatasetSettings, official: Optional[str]) -> Records:
    """The 1162 scored images (everything after the raters' training images)."""
    settings.need_label(("MOS",))
    folder = settings.path("metadata")
    names_path = need_file(folder / "AllImages_release.mat", "livec metadata file")
    mos_path = need_file(folder / "AllMOS_release.mat", "livec metadata file")
    names = cell_strings(mat_variable(names_path, "AllImages_release"), names_path)
    mos = np.ravel(mat_variable(mos_path, "AllMOS_release")).astype(np.float32)
    if len(names) != len(mos):
        raise DataError(f"{names_path} lists {len(names)} images but {mos_path} has {len(mos)} scores")
    if len(names) <= RATER_TRAINING_IMAGES:
        raise DataError(f"{names_path} lists {len(names)} images: none left after the "
                        f"{RATER_TRAINING_IMAGES} rater-training images")
    return records(names[RATER_TRAINING_IMAGES:], mos[RATER_TRAINING_IMAGES:])
