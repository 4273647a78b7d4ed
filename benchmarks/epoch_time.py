"""Epoch time (train epoch + evaluation of test and cross sets) of run configs, variant against variant.

Usage: python benchmarks/epoch_time.py [--group speed fusion] [--variant fp32 bf16 ...] [--repeats 2] [--device auto]
Groups, each timed in one process with its variants' epochs alternating:
- speed: the default run (`python run.py`) under each speed option (runtime.precision,
  channels_last, compile) or thread count; baseline fp32 on one thread.
- fusion: swin_tiny at 224 px with each `model.fusion` (none, concat, fpn, attention), fp32;
  baseline none. On a CPU the epoch is a reduced one (84 synthetic images of 256 px, one patch per
  image), since a Swin-T epoch over the default data takes hours there; on CUDA the default data.
Every variant gets its own model from the same seed and its own loaders over the same decoded
data, and runs epochs exactly as `iqa.train.fit.run` does. The first epoch of each is a warm-up (with
compile=true it includes compilation, reported as `first_epoch_s`). `items` are the epoch's
training patches.
Writes benchmarks/results/epoch_time_<device type>.json.
"""
from __future__ import annotations

import argparse
import os

from common import Stopwatch, add_common_args, add_ratios, command, compose_config, machine, save, setup, summarize

import torch  # noqa: E402

from iqa import data, models  # noqa: E402
from iqa.build import build  # noqa: E402
from iqa.runtime.accel import Accel  # noqa: E402
from iqa.evaluation.evaluate import eval_loaders, evaluate_all  # noqa: E402
from iqa.train.optim import build_optimizer  # noqa: E402
from iqa.train.epoch import train_epoch  # noqa: E402

SPEED = {
    "fp32": {},
    "fp32_all_cores": {"threads": os.cpu_count()},
    "channels_last": {"channels_last": True},
    "bf16": {"precision": "bf16"},
    "bf16_channels_last": {"precision": "bf16", "channels_last": True},
    "fp16": {"precision": "fp16"},
    "compile": {"compile": True},
    "bf16_channels_last_compile": {"precision": "bf16", "channels_last": True, "compile": True},
}
DEFAULT_SPEED = ["fp32", "fp32_all_cores", "channels_last", "bf16", "bf16_channels_last"]
FUSIONS = ["none", "concat", "fpn", "attention"]
SWIN_CPU = ["data.image_size=256", "data.n_refs=4", "loader.train_patch_num=1", "loader.test_patch_num=1",
            "loader.batch_size=16", "loader.eval_batch_size=8"]


def group_variants(group: str, selected, device: torch.device):
    """(base overrides, {variant: (overrides, Accel options)}) of a group; the first variant is the baseline."""
    if group == "speed":
        names = selected or DEFAULT_SPEED + (["fp16"] if device.type == "cuda" else [])
        return [], {n: ([], SPEED[n]) for n in names}
    base = ["model=swin_tiny", "loader.patch_size=224", *(SWIN_CPU if device.type == "cpu" else [])]
    return base, {f: ([f"model/fusion={f}"], {}) for f in FUSIONS}


class Trial:
    """One variant's model, optimizer and loaders, able to run an epoch like `iqa.train.fit.run`."""

    def __init__(self, cfg, bundle, options: dict, device: torch.device):
        options = dict(options)
        self.base_threads = torch.get_num_threads()
        self.threads = options.pop("threads", self.base_threads)
        torch.manual_seed(cfg.seed)
        self.model = models.build(cfg.model, cfg.loader.patch_size).to(device)
        self.accel = Accel(device, strict=False, **options)
        self.net = self.accel.prepare(self.model)
        self.optimizer = build_optimizer(self.model, cfg.optim, cfg.trainer.lr_ratio)
        self.loss_fn = build(cfg.loss, "loss")
        self.train_loader = data.train_loader(bundle.train, cfg.loader, cfg.seed)
        self.loaders = eval_loaders(bundle, cfg.loader, cfg.seed)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.device, self.epoch, self.wall, self.cpu, self.srcc = device, 0, [], [], None

    def run_epoch(self) -> None:
        self.epoch += 1
        torch.set_num_threads(self.threads)
        with Stopwatch(self.device) as watch:
            train_epoch(self.net, self.train_loader, self.loss_fn, self.optimizer, self.device, self.epoch, False,
                        accel=self.accel)
            results = evaluate_all(self.net, self.loaders, self.device, self.accel)
        torch.set_num_threads(self.base_threads)
        self.wall.append(watch.wall_s)
        self.cpu.append(watch.cpu_s)
        self.srcc = float(results["test"]["srcc"])


def run_group(base, variants: dict, repeats: int, device: torch.device) -> dict:
    cfgs = {n: compose_config(*base, *over, "repro=fast", "runtime.progress=false") for n, (over, _) in variants.items()}
    cfg = next(iter(cfgs.values()))
    bundle = data.build(cfg.data, cfg.loader)
    patches = len(bundle.train) * cfg.loader.train_patch_num // cfg.loader.batch_size * cfg.loader.batch_size
    trials = {n: Trial(cfgs[n], bundle, opts, device) for n, (_, opts) in variants.items()}
    for _ in range(1 + repeats):
        for trial in trials.values():
            trial.run_epoch()
    timings = {name: {**summarize(t.wall[1:], t.cpu[1:], patches), "first_epoch_s": round(t.wall[0], 3),
                      "threads": t.threads, "parameters": t.params, "test_srcc_last_epoch": round(t.srcc, 4)}
               for name, t in trials.items()}
    return {"overrides": list(base), "model": cfg.model.name, "train_images": len(bundle.train),
            "eval_images": len(bundle.test) + sum(len(s) for s in bundle.cross.values()),
            "train_patches": patches, "batch_size": cfg.loader.batch_size, "patch_size": cfg.loader.patch_size,
            "baseline": next(iter(variants)), "epoch_s": add_ratios(timings, next(iter(variants)))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", nargs="+", choices=["speed", "fusion"], default=["speed", "fusion"])
    ap.add_argument("--variant", nargs="+", choices=list(SPEED), default=None,
                    help=f"speed variants, the first is the baseline; default {' '.join(DEFAULT_SPEED)} (plus fp16 on CUDA)")
    add_common_args(ap, repeats=2)
    args = ap.parse_args()
    device = setup(args)
    groups = {}
    for group in args.group:
        base, variants = group_variants(group, args.variant, device)
        groups[group] = run_group(base, variants, args.repeats, device)
        print(f"{group}: " + ", ".join(f"{k} {v['median_s']:.2f} s ({v['speedup_paired']:.2f}x)"
                                       for k, v in groups[group]["epoch_s"].items()), flush=True)
    save(f"epoch_time_{device.type}", {"command": command(), "machine": machine(device), "groups": groups})


if __name__ == "__main__":
    main()
