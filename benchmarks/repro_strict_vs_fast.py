"""Training-step time under repro=strict vs repro=fast, as a ratio measured in one process.

    python benchmarks/repro_strict_vs_fast.py [--model small] [--patch 64] [--batch 16] [--steps 10]
        [--repeats 7] [--threads 1] [--device cpu|cuda] [--out FILE]

The two levels run in adjacent pairs (strict-fast, fast-strict, ...) so machine load hits both
alike; the figure is the median of the paired ratios, with their range as a measure of the noise. It also says whether the two
levels produced bit-identical losses. One CPU thread by default: on a shared machine more
threads mostly measure contention. Writes JSON to stdout and to --out (default
benchmarks/results/repro_strict_vs_fast_<model>_<cpu|cuda>.json).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from iqa import models
from iqa.config import ModelConfig
from iqa.data.patches import normalize
from iqa.runtime.repro import seed_everything


def train_steps(level: str, args) -> tuple:
    """Seconds per step and the loss sequence of `args.steps` steps of a freshly seeded model."""
    seed_everything(0, level)
    model_cfg = OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(f"conf/model/{args.model}.yaml"))
    model = models.build(model_cfg, args.patch).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, 256, (args.batch, 3, args.patch, args.patch), dtype=torch.uint8, generator=g)
               for _ in range(4)]
    target = torch.linspace(0, 100, args.batch, device=args.device)
    losses = []
    for step in range(args.steps + 2):  # two warm-up steps, not timed
        if step == 2:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
        loss = torch.nn.functional.l1_loss(model(normalize(batches[step % 4].to(args.device))), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return (time.perf_counter() - start) / args.steps, losses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="small")
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    kind = "cpu" if args.device == "cpu" else "cuda"
    out = args.out or Path(__file__).parent / "results" / f"repro_strict_vs_fast_{args.model}_{kind}.json"
    torch.set_num_threads(args.threads)
    times = {"strict": [], "fast": []}
    losses = {}
    for r in range(args.repeats):
        for level in ("strict", "fast") if r % 2 == 0 else ("fast", "strict"):
            t, losses[level] = train_steps(level, args)
            times[level].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = [s / f for s, f in zip(times["strict"], times["fast"])]
    result = {
        "benchmark": "repro_strict_vs_fast",
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model": args.model, "patch": args.patch, "batch": args.batch, "steps": args.steps, "repeats": args.repeats,
        "strict_s_per_step": round(med["strict"], 5),
        "fast_s_per_step": round(med["fast"], 5),
        "strict_over_fast": round(statistics.median(ratios), 3),
        "paired_ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "losses_bit_identical": losses["strict"] == losses["fast"],
    }
    text = json.dumps(result, indent=2)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
