"""Train-step time and eval throughput of every `model.fusion` variant, as ratios to `none`.

Usage:
  python benchmarks/fusion_variants.py                      # CPU, tiny Swin (model=swin_micro), 64 px
  python benchmarks/fusion_variants.py --device cuda --dtype bfloat16 --models swin_tiny swin_base \\
      --patch 224 --batch 32 --out benchmarks/results/fusion_variants_gpu.json

Each step is a real Adam step on an L1 loss (the run's optimizer and parameter groups); eval is
`torch.no_grad()` forward passes in eval mode. The variants of one model are timed in turns
(round-robin over repeats) so that drift of a shared machine hits them alike; the baseline
(`none`) is measured in the same run; each ratio to it is the median over turns of the ratio
within a turn, with its range.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from common import FUSIONS, ROOT, compose_config, sync

import torch  # noqa: E402

from iqa import models  # noqa: E402
from iqa.atomic import write_json  # noqa: E402
from iqa.train.optim import build_optimizer  # noqa: E402


def build(model_name: str, fusion: str, patch: int, device: torch.device):
    """The configured model and its optimizer, exactly as a run builds them."""
    cfg = compose_config(f"model={model_name}", f"model/fusion={fusion}")
    model = models.build(cfg.model, patch).to(device)
    return model, build_optimizer(model, cfg.optim, cfg.trainer.lr_ratio)


def clock(device: torch.device):
    """The CPU time of this thread for a one-thread CPU run: unlike wall time it does not count
    the time other jobs on a shared machine hold the core. Wall time otherwise."""
    return time.thread_time if device.type == "cpu" and torch.get_num_threads() == 1 else time.perf_counter


def median_seconds(work, repeats: int, device: torch.device) -> float:
    """Median time of `repeats` calls of `work()`, queued GPU work included."""
    now, times = clock(device), []
    for _ in range(repeats):
        sync(device)
        t0 = now()
        work()
        sync(device)
        times.append(now() - t0)
    return statistics.median(times)


def time_train(model, optimizer, x, y, steps: int, autocast) -> float:
    """Seconds per optimizer step (forward, L1 loss, backward, Adam), median over `steps`."""
    def step() -> None:
        with autocast():
            loss = (model(x).float() - y).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.train()
    return median_seconds(step, steps, x.device)


@torch.no_grad()
def time_eval(model, x, batches: int, autocast) -> float:
    """Images scored per second in eval mode, median over `batches` batches."""
    def score() -> None:
        with autocast():
            model(x)
    model.eval()
    return x.shape[0] / median_seconds(score, batches, x.device)


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.machine()


def bench_model(model_name: str, args, device: torch.device) -> list:
    dtype = getattr(torch, args.dtype)
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype != torch.float32 else nullcontext
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, args.patch, args.patch, generator=g).to(device)
    y = (100 * torch.rand(args.batch, generator=g)).to(device)
    torch.manual_seed(0)
    built = {f: build(model_name, f, args.patch, device) for f in FUSIONS}
    for model, optimizer in built.values():  # warm-up: allocator, kernels, Adam state
        time_train(model, optimizer, x, y, args.warmup, autocast)
        time_eval(model, x, args.warmup, autocast)
    train = {f: [] for f in FUSIONS}
    evals = {f: [] for f in FUSIONS}
    for _ in range(args.repeats):
        for f, (model, optimizer) in built.items():
            train[f].append(time_train(model, optimizer, x, y, args.steps, autocast))
            evals[f].append(time_eval(model, x, args.steps, autocast))
    rows = []
    for f, (model, _) in built.items():
        step_ratios = [a / b for a, b in zip(train[f], train["none"])]  # paired within each turn
        eval_ratios = [a / b for a, b in zip(evals[f], evals["none"])]
        rows.append({"model": model_name, "fusion": f, "params": sum(p.numel() for p in model.parameters()),
                     "train_step_ms": round(1000 * statistics.median(train[f]), 2),
                     "train_step_ratio": round(statistics.median(step_ratios), 3),
                     "train_step_ratio_range": [round(min(step_ratios), 3), round(max(step_ratios), 3)],
                     "eval_images_per_s": round(statistics.median(evals[f]), 1),
                     "eval_ratio": round(statistics.median(eval_ratios), 3),
                     "eval_ratio_range": [round(min(eval_ratios), 3), round(max(eval_ratios), 3)]})
    return rows


def table(rows: list) -> str:
    def ratio(r, key):
        lo, hi = r[f"{key}_range"]
        return f"{r[key]:.2f} ({lo:.2f}-{hi:.2f})"

    lines = ["| model | fusion | parameters | train step (ms) | vs none | eval (images/s) | vs none |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['fusion']} | {r['params']:,} | {r['train_step_ms']} | "
              f"{ratio(r, 'train_step_ratio')} | {r['eval_images_per_s']} | {ratio(r, 'eval_ratio')} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["swin_micro"], help="conf/model options")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per turn")
    ap.add_argument("--repeats", type=int, default=10, help="round-robin turns over the variants")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default); with 1, "
                    "CPU figures are the thread's CPU time")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fusion_variants_cpu.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = [r for name in args.models for r in bench_model(name, args, device)]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    result = {
        "command": "python " + " ".join([f"benchmarks/{Path(__file__).name}", *sys.argv[1:]]),
        "device": f"{device.type}: {name}", "dtype": args.dtype, "patch": args.patch, "batch": args.batch,
        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "torch": torch.__version__,
        "clock": "thread CPU time" if clock(device) is time.thread_time else "wall time",
        "rows": rows,
    }
    write_json(args.out, result)
    print(table(rows))


if __name__ == "__main__":
    main()
