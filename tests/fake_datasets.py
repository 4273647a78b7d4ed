"""Tiny datasets written in exactly the real layouts (file names, columns, .mat variables).

Images are small random pictures; scores are random. Each `make_*` returns the expected
records so tests can check what the loader read.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import scipy.io
from PIL import Image

KONIQ_COLUMNS = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
SPAQ_COLUMNS = ["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"]


def picture(path: Path, width: int, height: int, seed: int) -> None:
    """A smooth random colour field with noise, saved in the format the suffix names."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(4, 4, 3)).astype(np.uint8)
    img = Image.fromarray(coarse).resize((width, height), Image.BILINEAR)
    noisy = np.clip(np.asarray(img, dtype=np.float32) + rng.normal(0, rng.uniform(1, 30), (height, width, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noisy.astype(np.uint8)).save(path)


def write_csv(path: Path, header: List[str], rows: List[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
        w.writerow(header)
        w.writerows(rows)


def make_koniq(root: Path, sets: Tuple[int, int, int] = (10, 3, 3), size=(64, 48), folder="1024x768") -> Dict:
    """koniq10k_scores_and_distributions.csv, koniq10k_distributions_sets.csv and the images."""
    rng = np.random.default_rng(1)
    names = [f"{10_000_000 + 7919 * i}.jpg" for i in range(sum(sets))]
    parts = ["training"] * sets[0] + ["validation"] * sets[1] + ["test"] * sets[2]
    rows, set_rows, out = [], [], {}
    for i, (name, part) in enumerate(zip(names, parts)):
        counts = rng.integers(0, 40, size=5)
        mos = float((counts * np.arange(1, 6)).sum() / counts.sum())
        zscore = round(100 * (mos - 1) / 4, 4)
        row = [name, *counts.tolist(), int(counts.sum()), round(mos, 4), round(float(rng.uniform(0.3, 1)), 4), zscore]
        rows.append(row)
        set_rows.append([*row, part])
        out[name] = {"MOS": round(mos, 4), "MOS_zscore": zscore, "set": part}
        picture(root / folder / name, *size, seed=i)
    write_csv(root / "koniq10k_scores_and_distributions.csv", KONIQ_COLUMNS, rows)
    write_csv(root / "koniq10k_distributions_sets.csv", KONIQ_COLUMNS + ["set"], set_rows)
    return out


def make_spaq(root: Path, n: int = 12, size=(96, 72)) -> Dict:
    """Annotations/MOS and Image attribute scores.xlsx and TestImage/*.png (large phone photos, here tiny)."""
    from openpyxl import Workbook
    rng = np.random.default_rng(2)
    book = Workbook()
    sheet = book.active
    sheet.append(SPAQ_COLUMNS)
    out = {}
    for i in range(n):
        name = f"{i + 1:05d}.png"
        scores = [round(float(v), 2) for v in rng.uniform(5, 95, size=6)]
        sheet.append([name, *scores])
        out[name] = dict(zip(SPAQ_COLUMNS[1:], scores))
        picture(root / "TestImage" / name, *size, seed=100 + i)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    book.save(root / "Annotations" / "MOS and Image attribute scores.xlsx")
    return out


def make_livec(root: Path, n: int = 12, size=(50, 50)) -> Dict:
    """Data/AllImages_release.mat (cell array), Data/AllMOS_release.mat (1 x N) and Images/,
    with the 7 rater-training images first, as in the release."""
    rng = np.random.default_rng(3)
    names = [f"trainingImages/t{i + 1}.bmp" for i in range(7)] + [f"{i + 3}.bmp" for i in range(n)]
    mos = rng.uniform(3, 93, size=len(names)).round(3)
    cells = np.empty((len(names), 1), dtype=object)
    for i, name in enumerate(names):
        cells[i, 0] = name
        picture(root / "Images" / name, *size, seed=200 + i)
    (root / "Data").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": cells})
    scipy.io.savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos.reshape(1, -1)})
    return {name: float(m) for name, m in zip(names[7:], mos[7:])}


def make_csv(root: Path, n: int = 12, size=(60, 40)) -> Dict:
    """labels.csv (path,mos,split,group) over images in two sub-folders."""
    rng = np.random.default_rng(4)
    rows, out = [], {}
    for i in range(n):
        path = f"{'a' if i % 2 else 'b'}/img{i}.{'png' if i % 3 else 'jpg'}"
        mos = round(float(rng.uniform(1, 5)), 3)
        split = "test" if (i // 2) % 3 == 0 else "train"  # whole content groups: scene0, scene3, ...
        rows.append([path, mos, split, f"scene{i // 2}"])
        out[path] = {"mos": mos, "split": split, "group": f"scene{i // 2}"}
        picture(root / path, *size, seed=300 + i)
    write_csv(root / "labels.csv", ["path", "mos", "split", "group"], rows)
    return out


def corrupt(path: Path) -> None:
    """Keep the first bytes of an image file only, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: max(8, len(data) // 8)])
