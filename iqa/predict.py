"""Score image files with a trained checkpoint:

    python -m iqa.predict checkpoint=PATH inputs=FILE_OR_DIR [output=scores.csv] [key=value ...]

Images are prepared as the checkpoint's training set was (same shorter-side resize) and scored
with its deterministic evaluation crops (same patch size, count and layout), averaged per image.
Prints `path,score` lines, or writes them to `output`. Optional keys: device (auto), batch_size
(16), short_side (the training set's; 0 keeps each file's size), on_bad_image (error|skip),
trust_checkpoint (false: a checkpoint is data, and its model is rebuilt only from the project's own
fusions; true also calls a fusion `_target_` the file names, which can run any code: only for a
file from someone you trust).
"""
from __future__ import annotations

import csv
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from omegaconf import OmegaConf

from iqa.torch_install import exit_if_mismatched

if __name__ == "__main__":
    exit_if_mismatched()  # before anything below imports torchvision

from iqa import checkpoint_file as checkpoint  # noqa: E402
from iqa import data
from iqa.atomic import write_csv
from iqa.data.decode import DECODE_ERRORS, decode_image
from iqa.data.fileset import setting_values
from iqa.data.imageset import ImageSet
from iqa.cli import exit_status
from iqa.errors import ConfigError, DataError
from iqa.evaluation.evaluate import predict
from iqa.evaluation.checkpoint_eval import model_from_checkpoint, saved_config
from iqa.runtime.device import resolve_device

REQUIRED = ("checkpoint", "inputs")
OPTIONAL = {"output": None, "device": "auto", "batch_size": "16", "short_side": None, "on_bad_image": "error",
            "trust_checkpoint": "false"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
CHUNK = 64  # images decoded and held at once


def parse_args(argv: List[str]) -> Dict[str, Optional[str]]:
    """key=value arguments, every key known and the required ones present."""
    args: Dict[str, Optional[str]] = dict(OPTIONAL)
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in (*REQUIRED, *OPTIONAL):
            raise ConfigError(f"argument {arg!r} is not understood: use key=value with key one of "
                              f"{', '.join((*REQUIRED, *OPTIONAL))}")
        args[key] = value
    for key in REQUIRED:
        if not args.get(key):
            raise ConfigError(f"{key} is not set: usage: python -m iqa.predict checkpoint=PATH inputs=FILE_OR_DIR "
                              f"[output=scores.csv]")
    if args["on_bad_image"] not in ("error", "skip"):
        raise ConfigError(f"on_bad_image={args['on_bad_image']!r} is out of range: must be one of error, skip")
    if args["trust_checkpoint"] not in ("true", "false"):
        raise ConfigError(f"trust_checkpoint={args['trust_checkpoint']!r} is out of range: must be true or false")
    return args


def _int(args: Dict, key: str, low: int) -> int:
    value = args[key]
    if not value.isdigit() or int(value) < low:
        raise ConfigError(f"{key}={value!r} is out of range: must be an integer >= {low}")
    return int(value)


def image_files(inputs: str) -> List[Path]:
    """The file itself, or every image file under the folder (recursively, sorted)."""
    path = Path(inputs).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"inputs={inputs} does not exist")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"inputs={inputs} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _decode(path: Path, short_side: Optional[int], patch: int):
    """The pixels, or why the file cannot be scored."""
    try:
        img = decode_image(path, short_side)
    except DECODE_ERRORS as e:
        return f"cannot be decoded ({type(e).__name__})"
    if min(img.shape[:2]) < patch:
        return f"is {img.shape[1]}x{img.shape[0]}, smaller than the {patch} px patch (short_side=N resizes inputs)"
    return img


def score_files(model, files: List[Path], short_side: Optional[int], loader_cfg, device, seed: int,
                skip: bool) -> List[Dict]:
    """[{'path', 'score'}] per scorable file, decoding CHUNK files at a time."""
    rows = []
    with ThreadPoolExecutor(4) as pool:
        for start in range(0, len(files), CHUNK):
            chunk = files[start:start + CHUNK]
            decoded = list(pool.map(lambda p: _decode(p, short_side, loader_cfg.patch_size), chunk))
            good = []
            for path, result in zip(chunk, decoded):
                if isinstance(result, str):
                    if not skip:
                        raise DataError(f"image {path} {result}: pass on_bad_image=skip to skip it")
                    print(f"warning: skipping {path}: it {result}", file=sys.stderr)
                else:
                    good.append((path, result))
            if not good:
                continue
            images = ImageSet(name="inputs", images=[img for _, img in good], mos=np.zeros(len(good), np.float32),
                              groups=np.arange(len(good)), names=[str(p) for p, _ in good])
            scores, _ = predict(model, data.test_loader(images, loader_cfg, seed), device)
            rows += [{"path": str(p), "score": f"{s:.6f}"} for (p, _), s in zip(good, scores)]
    return rows


def check_output(output: str) -> None:
    """DataError, before any scoring, when `output` cannot be written (its folder is a file, or is
    not writable, or it is a folder itself)."""
    if Path(output).expanduser().is_dir():
        raise DataError(f"output={output} is a folder: name the file to write, e.g. "
                        f"output={os.path.join(output, 'scores.csv')}")
    folder = Path(output).expanduser().resolve().parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise DataError(f"output={output} cannot be written: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"output={output} cannot be written: no permission to write in {existing}")


def run(argv: List[str]) -> List[Dict]:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return []
    args = parse_args(argv)
    if args["output"]:
        check_output(args["output"])
    state = checkpoint.load(args["checkpoint"])
    saved = saved_config(state, args["checkpoint"], trust=args["trust_checkpoint"] == "true")
    loader_cfg = OmegaConf.merge(OmegaConf.create(saved["loader"]),
                                  {"eval_batch_size": _int(args, "batch_size", 1), "num_workers": 0})
    data_cfg = OmegaConf.create(saved["data"])
    short_side = _int(args, "short_side", 0) if args["short_side"] is not None \
        else setting_values(data_cfg, data_cfg.name)["short_side"]
    device = resolve_device(args["device"])
    model = model_from_checkpoint(saved["model"], state["model"], loader_cfg.patch_size, args["checkpoint"])
    model = model.to(device)
    rows = score_files(model, image_files(args["inputs"]), short_side, loader_cfg, device, int(saved["seed"]),
                       skip=args["on_bad_image"] == "skip")
    if args["output"]:
        write_csv(args["output"], rows, ["path", "score"])
        print(f"wrote {len(rows)} scores to {args['output']}")
    else:
        out = csv.DictWriter(sys.stdout, ["path", "score"], lineterminator="\n")
        out.writeheader()
        out.writerows(rows)
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status 0, or 1 with one line naming the problem."""
    return exit_status(lambda: run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
