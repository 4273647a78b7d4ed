"""Epoch time (train epoch + evaluation of test and cross sets) of a run config under each speed option.

Usage: python benchmarks/epoch_time.py [--case default] [--variant fp32 bf16 ...] [--repeats 2] [--device auto]
In one process, for every case (a run config) the data are decoded once and every variant
(a combination of trainer.precision / channels_last / compile, or a thread count) gets its own
model from the same seed; epochs of the variants alternate, exactly as `iqa.train.run` runs them. The first epoch of
each variant is a warm-up (with compile=true it includes compilation, reported as
`first_epoch_s`). Writes benchmarks/results/epoch_time_<device type>.json.
"""
from __future__ import annotations

import argparse
import os
import time

from common import add_common_args, add_ratios, command, compose_config, machine, save, setup, sync

import torch  # noqa: E402

from iqa import data, losses, models  # noqa: E402
from iqa.accel import Accel  # noqa: E402
from iqa.evaluate import eval_loaders, evaluate_all  # noqa: E402
from iqa.optim import build_optimizer  # noqa: E402
from iqa.train import train_epoch  # noqa: E402

CASES = {"default": []}
VARIANTS = {
    "fp32": {},
    "fp32_all_cores": {"threads": os.cpu_count()},
    "channels_last": {"channels_last": True},
    "bf16": {"precision": "bf16"},
    "bf16_channels_last": {"precision": "bf16", "channels_last": True},
    "fp16": {"precision": "fp16"},
    "compile": {"compile": True},
    "bf16_channels_last_compile": {"precision": "bf16", "channels_last": True, "compile": True},
}
DEFAULT_VARIANTS = ["fp32", "fp32_all_cores", "channels_last", "bf16", "bf16_channels_last"]


class Trial:
    """One variant's model, optimizer and loaders, able to run an epoch like `iqa.train.run`."""

    def __init__(self, cfg, bundle, options: dict, device: torch.device):
        torch.manual_seed(cfg.seed)
        options = dict(options)
        self.base_threads = torch.get_num_threads()
        self.threads = options.pop("threads", self.base_threads)
        self.model = models.build(cfg.model, cfg.trainer.patch_size).to(device)
        self.accel = Accel(device, strict=False, **options)
        self.net = self.accel.prepare(self.model)
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.loss_fn = losses.build(cfg.loss)
        self.train_loader = data.train_loader(bundle.train, cfg.trainer, cfg.seed)
        self.loaders = eval_loaders(bundle, cfg.trainer, cfg.seed)
        self.device, self.epoch, self.times, self.srcc = device, 0, [], None

    def run_epoch(self) -> float:
        self.epoch += 1
        torch.set_num_threads(self.threads)
        sync(self.device)
        t0 = time.perf_counter()
        train_epoch(self.net, self.train_loader, self.loss_fn, self.optimizer, self.device, self.epoch, False,
                    accel=self.accel)
        results = evaluate_all(self.net, self.loaders, self.device, self.accel)
        sync(self.device)
        self.times.append(time.perf_counter() - t0)
        torch.set_num_threads(self.base_threads)
        self.srcc = float(results["test"]["srcc"])
        return self.times[-1]


def run_case(overrides, variants, repeats: int, device: torch.device) -> dict:
    cfg = compose_config(*overrides, "repro=fast", "trainer.progress=false")
    bundle = data.build(cfg.data, cfg.trainer)
    patches = len(bundle.train) * cfg.trainer.train_patch_num // cfg.trainer.batch_size * cfg.trainer.batch_size
    trials = {name: Trial(cfg, bundle, VARIANTS[name], device) for name in variants}
    for _ in range(1 + repeats):
        for trial in trials.values():
            trial.run_epoch()
    timings = {}
    for name, t in trials.items():
        steady = sorted(t.times[1:])
        timings[name] = {"median_s": round(steady[len(steady) // 2], 3), "min_s": round(steady[0], 3),
                         "max_s": round(steady[-1], 3), "first_epoch_s": round(t.times[0], 3), "items": patches,
                         "items_per_s": round(patches / steady[len(steady) // 2], 1),
                         "test_srcc_last_epoch": round(t.srcc, 4)}
    return {"overrides": list(overrides), "model": cfg.model.name, "train_images": len(bundle.train),
            "eval_images": len(bundle.test) + sum(len(s) for s in bundle.cross.values()),
            "train_patches": patches, "batch_size": cfg.trainer.batch_size, "patch_size": cfg.trainer.patch_size,
            "epoch_s": add_ratios(timings, variants[0])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", nargs="+", choices=sorted(CASES), default=["default"])
    ap.add_argument("--variant", nargs="+", choices=list(VARIANTS), default=None,
                    help=f"the first is the baseline; default {' '.join(DEFAULT_VARIANTS)} (plus fp16 on CUDA)")
    add_common_args(ap, repeats=2)
    args = ap.parse_args()
    device = setup(args)
    variants = args.variant or DEFAULT_VARIANTS + (["fp16"] if device.type == "cuda" else [])
    cases = {}
    for name in args.case:
        cases[name] = run_case(CASES[name], variants, args.repeats, device)
        print(f"{name}: " + ", ".join(f"{k} {v['median_s']:.2f} s ({v['speedup']:.2f}x)"
                                      for k, v in cases[name]["epoch_s"].items()), flush=True)
    save(f"epoch_time_{device.type}", {"command": command(), "machine": machine(device),
                                       "baseline": variants[0], "cases": cases})


if __name__ == "__main__":
    main()
