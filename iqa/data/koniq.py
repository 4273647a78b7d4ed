"""KonIQ-10k: `koniq10k_scores_and_distributions.csv` (image_name, c1..c5, c_total, MOS, SD,
MOS_zscore) and the images in `1024x768/` or `512x384/`; the official train/validation/test
split comes from `koniq10k_distributions_sets.csv` (the same rows plus `set`)."""
from __future__ import annotations

from typing import Optional

from iqa.data.fileset import DatasetSettings
from iqa.data.metadata import Records, file_names, need_file, numbers, read_table, records, split_parts
from iqa.errors import DataError

LABELS = ("MOS", "MOS_zscore")
SETS_FILE = "koniq10k_distributions_sets.csv"


def read(settings: DatasetSettings, official: Optional[str]) -> Records:
    """One record per scored image; with `official`, each tagged train, val or test."""
    label = settings.need_label(LABELS)
    path = need_file(settings.path("metadata"), "koniq metadata file")
    table = read_table(path, ["image_name", label])
    files = file_names(table["image_name"], path, "image_name")
    mos = numbers(table[label], path, label)
    if not official:
        return records(files, mos)
    sets_path = need_file(settings.root / SETS_FILE, "koniq split file")
    sets = read_table(sets_path, ["image_name", "set"])
    part = dict(zip(file_names(sets["image_name"], sets_path, "image_name"),
                    split_parts(sets["set"], sets_path, "set")))
    unassigned = [f for f in files if f not in part]
    if unassigned:
        raise DataError(f"{sets_path} has no row for {unassigned[0]} "
                        f"(and {len(unassigned) - 1} more images of {path.name})")
    return records(files, mos, split=[part[f] for f in files])
