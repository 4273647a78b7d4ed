"""Evaluation throughput in images per second: batched deterministic crops vs one crop per forward pass.

Usage: python benchmarks/eval_throughput.py [--case default paper] [--images 40] [--repeats 3] [--device auto]
All variants score the same decoded test images with the same weights and crops: ours sends
every crop of `trainer.eval_batch_size` images through one forward pass (`iqa.evaluate.predict`),
in fp32 and in bf16 autocast with channels-last; the reference test loop sends one crop at a time
at batch size 1 through the grouped-convolution target network
(`iqa.reference.predict_one_crop_per_pass`). The script records how far the scores differ, then
times the variants alternately. Writes benchmarks/results/eval_throughput_<device type>.json.
"""
from __future__ import annotations

import argparse
import copy

import numpy as np
from common import add_common_args, command, add_ratios, compose_config, machine, save, setup, time_interleaved

import torch  # noqa: E402

from iqa import data, models  # noqa: E402
from iqa.accel import Accel  # noqa: E402
from iqa.evaluate import predict  # noqa: E402
from iqa.reference import predict_one_crop_per_pass  # noqa: E402

CASES = {
    "default": [],
    # the paper's network and crop count; images large enough for 224 px crops
    "paper": ["model=hyperiqa_resnet50", "trainer.patch_size=224", "trainer.test_patch_num=25",
              "trainer.eval_batch_size=2", "data.image_size=256", "data.n_refs=5"],
}


def run_case(name: str, overrides, n_images: int, repeats: int, device: torch.device) -> dict:
    cfg = compose_config(*overrides, "repro=fast", "trainer.progress=false")
    bundle = data.build(cfg.data, cfg.trainer)
    images = bundle.test.subset(np.arange(min(n_images, len(bundle.test))), "bench")
    loader = data.test_loader(images, cfg.trainer, cfg.seed)
    torch.manual_seed(0)
    model = models.build(cfg.model, cfg.trainer.patch_size).to(device)
    fast = Accel(device, "bf16", channels_last=True, strict=False)
    fast_model = fast.prepare(copy.deepcopy(model))
    scores = {"reference": predict_one_crop_per_pass(model, loader.dataset, device)[0],
              "batched": predict(model, loader, device)[0],
              "batched_bf16": predict(fast_model, loader, device, fast)[0]}
    variants = {
        "one_crop_per_pass": lambda: len(predict_one_crop_per_pass(model, loader.dataset, device)[0]),
        "batched_crops": lambda: len(predict(model, loader, device)[0]),
        "batched_crops_bf16_channels_last": lambda: len(predict(fast_model, loader, device, fast)[0]),
    }
    timings = add_ratios(time_interleaved(variants, repeats, device), "one_crop_per_pass")
    diff = lambda key: float(np.abs(scores[key] - scores["reference"]).max())  # noqa: E731
    return {"overrides": list(overrides), "model": cfg.model.name, "patch_size": cfg.trainer.patch_size,
            "crops_per_image": cfg.trainer.test_patch_num, "images_per_pass": cfg.trainer.eval_batch_size,
            "images": len(images), "max_abs_score_diff": {"batched": diff("batched"), "batched_bf16": diff("batched_bf16")},
            "timings": timings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", nargs="+", choices=sorted(CASES), default=["default", "paper"])
    ap.add_argument("--images", type=int, default=40, help="test images per case (the paper case uses at most 4)")
    add_common_args(ap, repeats=3)
    args = ap.parse_args()
    device = setup(args)
    cases = {}
    for name in args.case:
        n = args.images if name == "default" or device.type == "cuda" else min(args.images, 4)
        cases[name] = run_case(name, CASES[name], n, args.repeats, device)
        t = cases[name]["timings"]
        print(f"{name}: " + ", ".join(f"{k} {v['items_per_s']:.1f} img/s ({v['speedup']:.1f}x)" for k, v in t.items()),
              flush=True)
    result = {"command": command(),
              "machine": machine(device), "baseline": "one_crop_per_pass (the reference test loop)",
              "target": "batched_crops >= 10x one_crop_per_pass", "cases": cases}
    save(f"eval_throughput_{device.type}", result)


if __name__ == "__main__":
    main()
