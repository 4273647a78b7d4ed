"""Train step of hyperiqa_resnet50: batched-matmul target network vs the reference grouped convolution.

Usage: python benchmarks/target_net.py [--batch 8] [--repeats 5] [--device auto]
Both variants share one model (same weights); the script first checks they give the same
scores and gradients, then times full train steps (forward, L1 loss, backward, Adam step) and
the target network alone (forward + backward, at batch 8, 96 and --batch), alternating variants. Batch defaults to 8 on CPU
and 96 on CUDA. Writes benchmarks/results/target_net_<device type>.json.
"""
from __future__ import annotations

import argparse

from common import add_common_args, command, add_ratios, compose_config, machine, save, setup, time_interleaved

import torch  # noqa: E402  (after common, which puts the checkout on sys.path)

from iqa.build import build  # noqa: E402
from iqa import models  # noqa: E402
from iqa.models.hyperiqa import HyperIQA  # noqa: E402
from iqa.data.patches import normalize  # noqa: E402
from iqa.train.optim import build_optimizer  # noqa: E402
from reference import grouped_forward, grouped_target_net  # noqa: E402

FORWARDS = {"bmm": lambda model, x: model(x), "grouped_conv": grouped_forward}
TARGETS = {"bmm": HyperIQA.target_net, "grouped_conv": grouped_target_net}


def agreement(model, x) -> dict:
    """Largest score and gradient differences between the two target networks on one batch."""
    params = [p for p in model.parameters() if p.requires_grad]
    out = {}
    for name, fwd in FORWARDS.items():
        pred = fwd(model, x)
        out[name] = (pred.detach(), torch.autograd.grad(pred.sum(), params))
    (pa, ga), (pb, gb) = out["bmm"], out["grouped_conv"]
    return {"max_abs_score_diff": float((pa - pb).abs().max()),
            "max_abs_grad_diff": max(float((u - v).abs().max()) for u, v in zip(ga, gb))}


def target_inputs(model, x, n: int):
    """Target-network inputs of the first image of `x`, repeated n times as leaves needing gradients.

    Times the target network alone; every image having the same weights does not change the work.
    """
    with torch.no_grad():
        vec, weights, biases = model.hyper_params(x[:1])
    leaf = lambda t: t.repeat(n, *[1] * (t.dim() - 1)).requires_grad_(True)  # noqa: E731
    return leaf(vec), [leaf(w) for w in weights], [leaf(b) for b in biases]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=None, help="default: 8 on CPU, 96 on CUDA")
    add_common_args(ap, repeats=5)
    args = ap.parse_args()
    device = setup(args)
    batch = args.batch or (96 if device.type == "cuda" else 8)
    cfg = compose_config("model=hyperiqa_resnet50", "loader.patch_size=224", "repro=fast")
    torch.manual_seed(0)
    model = models.build(cfg.model, 224).to(device)
    optimizer = build_optimizer(model, cfg.optim, cfg.trainer.lr_ratio)
    loss_fn = build(cfg.loss, "loss")
    x = normalize(torch.randint(0, 256, (batch, 3, 224, 224), dtype=torch.uint8)).to(device)
    mos = torch.rand(batch, device=device) * 100

    model.eval()  # agreement without batch-norm statistics moving between the two passes
    agree = agreement(model, x)
    model.train()

    def train_step(fwd):
        def step() -> int:
            loss = loss_fn(fwd(model, x), mos)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return batch
        return step

    def target_only(fn, inputs, inner: int = 50):
        def steps() -> int:
            for _ in range(inner):
                fn(*inputs).sum().backward()
            return inner * len(inputs[0])
        return steps

    steps = add_ratios(time_interleaved({k: train_step(f) for k, f in FORWARDS.items()}, args.repeats, device),
                       "grouped_conv")
    targets = {}
    for n in sorted({batch, 8, 96}):
        inputs = target_inputs(model, x, n)
        targets[f"batch_{n}"] = add_ratios(time_interleaved({k: target_only(f, inputs) for k, f in TARGETS.items()},
                                                            args.repeats * 4, device), "grouped_conv")
    result = {"command": command(),
              "machine": machine(device), "model": "hyperiqa_resnet50", "patch_size": 224, "batch": batch,
              "agreement": agree, "train_step": steps, "target_net_fwd_bwd": targets,
              "baseline": "grouped_conv (the reference way)", "target": "bmm no slower than grouped_conv"}
    save(f"target_net_{device.type}", result)
    for label, t in (("train step", steps), *((f"target net alone, {b}", t) for b, t in targets.items())):
        print(f"{label}: " + ", ".join(f"{k} {v['median_s'] / v['items'] * 1e6:.1f} us/patch "
                                       f"({v['speedup_paired']:.2f}x paired)" for k, v in t.items()))
    print(f"agreement: {agree}")


if __name__ == "__main__":
    main()
