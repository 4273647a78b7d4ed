"""Any folder of images plus a CSV with columns `path`, the label column (`mos` by default) and
optionally `split` (train/val/test, for data.split=official; another column with data.split_column)
and `group` (content id)."""
from __future__ import annotations

from typing import Optional

from iqa.data.fileset import DatasetSettings
from iqa.data.metadata import (Records, file_names, need_file, numbers, read_table, records, same_files,
                               split_parts)
from iqa.errors import DataError


def read(settings: DatasetSettings, official: Optional[str]) -> Records:
    """One record per CSV row; paths are relative to the image folder (or absolute). `official`
    names the split column to read, if the run trains on the file's own split."""
    path = need_file(settings.path("metadata"), "csv metadata file")
    table = read_table(path, ["path", settings.label])
    if official and official not in table:
        raise DataError(f"{path} has no column {official!r}, which "
                        f"{'data.split=official' if official == 'split' else 'data.split_column'} needs")
    files = file_names(table["path"], path, "path")
    same_files(files, settings.path("images"), path, "path")
    return records(
        files,
        numbers(table[settings.label], path, settings.label),
        groups=table.get("group"),
        split=split_parts(table[official], path, official) if official else None,
    )
