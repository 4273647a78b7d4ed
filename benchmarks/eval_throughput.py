"""Evaluation throughput in images per second: batched deterministic crops vs the reference test loop.

Usage: python benchmarks/eval_throughput.py [--case default paper] [--images 24] [--repeats 3] [--device auto]

Writes KonIQ-sized JPEGs (1024x768) as a `csv` dataset and scores them with the same weights and
crop positions four ways, timed alternately in one process:
- reference_loop: the reference HyperIQA test loop: every crop is decoded from its JPEG (PIL open,
  resize to the cached size, crop, to tensor, normalise) and goes alone through the model, whose
  target network is the grouped convolution (`iqa.reference`);
- one_crop_per_pass: the same loop over the decode-once cache (the model part of the reference loop);
- batched_crops: the project's evaluation (`iqa.evaluation.evaluate.predict`): every crop of
  `loader.eval_batch_size` images in one forward pass, crops sliced from the cache;
- batched_crops_bf16_channels_last: the same under bf16 autocast with channels-last.
The cache is built before timing, as a run finds it built by the runs before. The script records
how far the scores differ. Writes benchmarks/results/eval_throughput_<device type>.json.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
from common import add_common_args, add_ratios, command, compose_config, jpeg_dataset_config, machine, save, setup
from common import time_interleaved, write_jpegs

import torch  # noqa: E402
import torchvision.transforms.v2.functional as TF  # noqa: E402
from PIL import Image  # noqa: E402

from iqa import data, models  # noqa: E402
from iqa.runtime.accel import Accel  # noqa: E402
from iqa.data.patches import IMAGENET_MEAN, IMAGENET_STD, crop_offsets  # noqa: E402
from iqa.evaluation.evaluate import predict  # noqa: E402
from reference import grouped_forward, predict_one_crop_per_pass  # noqa: E402

CASES = {
    "default": [],
    # the paper's network and crop count
    "paper": ["model=hyperiqa_resnet50", "loader.patch_size=224", "loader.test_patch_num=25",
              "loader.eval_batch_size=2"],
}


@torch.no_grad()
def reference_loop(model, paths, size_hw, loader_cfg, device: torch.device) -> np.ndarray:
    """Per-image scores the reference way: each crop decoded from its file and scored alone."""
    model.eval()
    p, scores = loader_cfg.patch_size, []
    for i, path in enumerate(paths):
        offsets = crop_offsets(*size_hw, p, loader_cfg.test_patch_num, loader_cfg.test_crops, 0, i)
        crop_scores = []
        for top, left in offsets:
            with open(path, "rb") as f:
                img = Image.open(f).convert("RGB").resize(size_hw[::-1], Image.BILINEAR)
            x = TF.normalize(TF.to_dtype(TF.to_image(img.crop((left, top, left + p, top + p))), torch.float32,
                                         scale=True), list(IMAGENET_MEAN), list(IMAGENET_STD))
            crop_scores.append(grouped_forward(model, x.unsqueeze(0).to(device)).item())
        scores.append(float(np.mean(crop_scores)))
    return np.asarray(scores, dtype=np.float32)


def run_case(overrides, folder: Path, paths, repeats: int, device: torch.device) -> dict:
    cfg = compose_config(*overrides, "repro=fast", "runtime.progress=false")
    images = data.load_dataset("csv", jpeg_dataset_config(folder))
    loader = data.test_loader(images, cfg.loader, cfg.seed)
    size_hw = images.images[0].shape[:2]
    torch.manual_seed(0)
    model = models.build(cfg.model, cfg.loader.patch_size).to(device)
    fast = Accel(device, "bf16", channels_last=True, strict=False)
    fast_model = fast.prepare(copy.deepcopy(model))
    variants = {
        "reference_loop": lambda: reference_loop(model, paths, size_hw, cfg.loader, device),
        "one_crop_per_pass": lambda: predict_one_crop_per_pass(model, loader.dataset, device)[0],
        "batched_crops": lambda: predict(model, loader, device)[0],
        "batched_crops_bf16_channels_last": lambda: predict(fast_model, loader, device, fast)[0],
    }
    scores = {name: fn() for name, fn in variants.items()}
    timings = add_ratios(time_interleaved({k: (lambda fn=fn: len(fn())) for k, fn in variants.items()},
                                          repeats, device), "reference_loop")
    base = scores["batched_crops"]
    return {"overrides": list(overrides), "model": cfg.model.name, "patch_size": cfg.loader.patch_size,
            "crops_per_image": cfg.loader.test_patch_num, "images_per_pass": cfg.loader.eval_batch_size,
            "images": len(images), "cached_size_hw": list(size_hw),
            "max_abs_score_diff_vs_batched": {k: float(np.abs(v - base).max()) for k, v in scores.items()},
            "timings": timings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", nargs="+", choices=sorted(CASES), default=["default", "paper"])
    ap.add_argument("--images", type=int, default=24, help="test images (the paper case on CPU uses at most 4)")
    add_common_args(ap, repeats=3)
    args = ap.parse_args()
    device = setup(args)
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.case:
            n = args.images if name == "default" or device.type == "cuda" else min(args.images, 4)
            folder = Path(tmp) / name
            folder.mkdir()
            cases[name] = run_case(CASES[name], folder, write_jpegs(folder, n), args.repeats, device)
            t = cases[name]["timings"]
            print(f"{name}: " + ", ".join(f"{k} {v['items_per_s']:.1f} img/s ({v['speedup_cpu_time']:.1f}x)"
                                          for k, v in t.items()), flush=True)
    result = {"command": command(), "machine": machine(device),
              "baseline": "reference_loop (the reference test loop: decode per crop, one crop per pass)",
              "target": "batched_crops >= 10x reference_loop", "cases": cases}
    save(f"eval_throughput_{device.type}", result)


if __name__ == "__main__":
    main()
