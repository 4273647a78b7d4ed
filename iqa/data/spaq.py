"""SPAQ: `Annotations/MOS and Image attribute scores.xlsx` (Image name, MOS, Brightness,
Colorfulness, Contrast, Noisiness, Sharpness) and the photos in `TestImage/`, resized before
caching because they are several megapixels each."""
from __future__ import annotations

from typing import Optional

from iqa.data.fileset import DatasetSettings
from iqa.data.metadata import Records, file_names, need_file, numbers, read_table, records


def read(settings: DatasetSettings, official: Optional[str]) -> Records:
    """One record per image; the label may be MOS or any attribute column. SPAQ has no official split."""
    path = need_file(settings.path("metadata"), "spaq metadata file")
    table = read_table(path, ["Image name", settings.label])
    files = file_names(table["Image name"], path, "Image name")
    return records(files, numbers(table[settings.label], path, settings.label))
