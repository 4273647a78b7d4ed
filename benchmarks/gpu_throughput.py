"""GPU training throughput of swin_base: patches per second in fp32, bf16, bf16 + compile, with MFU.

Usage: python benchmarks/gpu_throughput.py [--batch 96] [--steps 10] [--repeats 3] [--variant ...]
Every variant trains its own copy of the same model (same seed) on the same device-resident
uint8 batch, alternating repeat by repeat:
- fp32: fp32 weights and activations (TF32 matmuls, as under repro=fast);
- bf16: bf16 autocast; bf16_compile: bf16 autocast and torch.compile;
- reference_style: the reference HyperIQA step: fp32, grouped-convolution target network, the
  batch normalised on the CPU and copied from pageable memory every step.
Model FLOPs utilisation = FLOPs of one train step (torch.utils.flop_counter, forward + backward)
x steps per second / the device's peak for the variant's math (bf16 or TF32 dense tensor-core
peak, from PEAK_TFLOPS or --peak-tflops). Without a CUDA device the script says so and exits with status 1,
unless --device cpu asks for a (slow, unrepresentative) check of the code path.
Writes benchmarks/results/gpu_throughput_<device type>.json.
"""
from __future__ import annotations

import argparse
import sys

from common import add_common_args, add_ratios, command, compose_config, machine, save, setup, time_interleaved

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from iqa.build import build  # noqa: E402
from iqa import models  # noqa: E402
from iqa.runtime.accel import Accel  # noqa: E402
from iqa.data.patches import normalize  # noqa: E402
from iqa.train.optim import build_optimizer  # noqa: E402
from reference import grouped_forward  # noqa: E402

# Dense tensor-core peaks in TFLOPS (vendor data sheets), matched against the device name in order.
PEAK_TFLOPS = [
    ("H100 PCIe", {"bf16": 756.0, "tf32": 378.0}),
    ("H100", {"bf16": 989.4, "tf32": 494.7}),   # SXM5
    ("H200", {"bf16": 989.4, "tf32": 494.7}),
    ("A100", {"bf16": 312.0, "tf32": 156.0}),
    ("L40S", {"bf16": 362.1, "tf32": 183.0}),
    ("L4", {"bf16": 121.0, "tf32": 60.0}),
    ("A10", {"bf16": 125.0, "tf32": 62.5}),
]
VARIANTS = {
    "fp32": {"options": {}, "math": "tf32"},
    "bf16": {"options": {"precision": "bf16"}, "math": "bf16"},
    "bf16_compile": {"options": {"precision": "bf16", "compile": True}, "math": "bf16"},
    "reference_style": {"options": {}, "math": "tf32"},
}


def device_peak(name: str, override) -> dict:
    """{'bf16': TFLOPS, 'tf32': TFLOPS} for the named device, or {} when unknown and not given."""
    if override:
        return {"bf16": override, "tf32": override}
    return next((peaks for key, peaks in PEAK_TFLOPS if key in name), {})


class Variant:
    """One variant's model, optimizer and train step on a fixed batch."""

    def __init__(self, name: str, cfg, x_uint8: torch.Tensor, mos: torch.Tensor, device: torch.device):
        torch.manual_seed(0)
        self.name, self.reference = name, name == "reference_style"
        self.model = models.build(cfg.model, cfg.loader.patch_size).to(device)
        self.accel = Accel(device, strict=False, **VARIANTS[name]["options"])
        self.net = self.accel.prepare(self.model)
        self.optimizer = build_optimizer(self.model, cfg.optim, cfg.trainer.lr_ratio)
        self.loss_fn = build(cfg.loss, "loss")
        self.x, self.mos, self.device = x_uint8, mos, device
        self.x_host = normalize(x_uint8.cpu())  # the reference's float batch, prepared on the CPU

    def inputs(self) -> torch.Tensor:
        if self.reference:
            return self.x_host.to(self.device)
        return self.accel.inputs(normalize(self.x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with self.accel.autocast():
            return (grouped_forward(self.model, x) if self.reference else self.net(x)).float()

    def step(self) -> None:
        self.accel.step(self.loss_fn(self.forward(self.inputs()), self.mos), self.optimizer)

    def flops(self) -> int:
        """FLOPs of one forward + backward pass on the batch (matmuls and convolutions)."""
        counter = FlopCounterMode(display=False)
        with counter:
            self.forward(self.inputs()).sum().backward()
        self.optimizer.zero_grad(set_to_none=True)
        return counter.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", nargs="*", default=["model=swin_base", "loader.patch_size=224"],
                    help="run-config overrides choosing the model")
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--steps", type=int, default=10, help="train steps per timed repeat")
    ap.add_argument("--variant", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, if not in PEAK_TFLOPS")
    add_common_args(ap, repeats=3)
    args = ap.parse_args()
    device = setup(args)
    if device.type != "cuda" and args.device == "auto":
        sys.exit("error: no CUDA device on this machine, nothing measured "
                 "(pass --device cpu to check the code path on the CPU)")
    cfg = compose_config(*args.set, "repro=fast")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    g = torch.Generator().manual_seed(0)
    p = cfg.loader.patch_size
    x = torch.randint(0, 256, (args.batch, 3, p, p), dtype=torch.uint8, generator=g).to(device)
    mos = (torch.rand(args.batch, generator=g) * 100).to(device)
    variants = {name: Variant(name, cfg, x, mos, device) for name in args.variant}
    flops = {name: v.flops() for name, v in variants.items()}
    peak_mb = {}
    for name, v in variants.items():  # one step each: warms up (compiles) and records peak memory
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        v.step()
        if device.type == "cuda":
            peak_mb[name] = round(torch.cuda.max_memory_allocated(device) / 2**20)

    def run(v: Variant):
        def steps() -> int:
            for _ in range(args.steps):
                v.step()
            return args.steps * args.batch
        return steps

    timings = add_ratios(time_interleaved({n: run(v) for n, v in variants.items()}, args.repeats, device),
                         args.variant[0])
    name = machine(device).get("device_name", "cpu")
    peaks = device_peak(name, args.peak_tflops)
    for n, t in timings.items():
        math_kind = VARIANTS[n]["math"]
        t["step_flops"] = flops[n]
        t["achieved_tflops"] = round(flops[n] / args.batch * t["items_per_s"] / 1e12, 2)
        t["peak_tflops"] = peaks.get(math_kind)
        t["mfu"] = round(t["achieved_tflops"] / peaks[math_kind], 4) if math_kind in peaks else None
        t["peak_memory_mb"] = peak_mb.get(n)
    result = {"command": command(), "machine": machine(device), "overrides": args.set, "batch": args.batch,
              "steps_per_repeat": args.steps, "baseline": args.variant[0], "patches_per_s": timings}
    save(f"gpu_throughput_{device.type}", result)
    for n, t in timings.items():
        print(f"{n}: {t['items_per_s']:.1f} patches/s ({t['speedup']:.2f}x), MFU {t['mfu']}")


if __name__ == "__main__":
    main()
