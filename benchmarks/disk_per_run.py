"""Disk per run: bytes a finished run folder keeps against its model's fp32 weights.

Usage: python benchmarks/disk_per_run.py [--models small hyperiqa_resnet50] [--before REV]
                                         [--out benchmarks/results/disk_per_run.json]

Each model trains one short epoch on tiny synthetic data (the weights' size does not depend on
how long a run trains) as a real `python run.py` job, three ways: the default (a finished run
keeps best.pt's weights only), `trainer.keep_resume_state=true` (last.pt with optimizer,
scheduler and random state kept too) and, with --before, the same job on another revision of
this repository. fp32 weight bytes = 4 x the floating-point numbers of the model's state dict
(parameters and buffers). Target: a finished run folder at most 1.25 x those plus 20 MB.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/ first, not the checkout
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from revisions import checkout_of, env_for  # noqa: E402
from iqa.atomic import write_json  # noqa: E402

TINY = ["experiment=quick", "data.n_refs=3", "data.cross=[]", "loader.patch_size=64", "loader.batch_size=8",
        "loader.eval_batch_size=8", "loader.test_patch_num=1", "trainer.epochs=1", "runtime.progress=false"]
MB = 2**20


def folder_bytes(folder: Path) -> Dict[str, int]:
    files = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    checkpoints = {k: v for k, v in files.items() if k.startswith("checkpoints/")}
    return {"total": sum(files.values()), "checkpoints": checkpoints,
            "other_files": sum(v for k, v in files.items() if k not in checkpoints)}


def fp32_weight_bytes(checkpoint: Path) -> int:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    return sum(4 * t.numel() for t in state.values() if t.is_floating_point())


def run(checkout: Path, folder: Path, *overrides: str) -> Dict:
    subprocess.run([sys.executable, "run.py", *TINY, *overrides, f"hydra.run.dir={folder}"], cwd=checkout,
                   env={**env_for(checkout), "OMP_NUM_THREADS": "1"}, check=True, capture_output=True, text=True)
    return folder_bytes(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["small", "hyperiqa_resnet50"])
    ap.add_argument("--before", help="a git revision to measure beside the working tree (e.g. main)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/disk_per_run.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        before = checkout_of(args.before, Path(tempfile.mkdtemp(dir=tmp))) if args.before else None
        for model in args.models:
            row = {"model": model, "default": run(ROOT, tmp / f"{model}-default", f"model={model}")}
            weights = fp32_weight_bytes(tmp / f"{model}-default/checkpoints/best.pt")
            row["keep_resume_state"] = run(ROOT, tmp / f"{model}-keep", f"model={model}",
                                           "trainer.keep_resume_state=true")
            if before is not None:
                row["before"] = run(before, tmp / f"{model}-before", f"model={model}")
            row["fp32_weight_bytes"] = weights
            row["limit_bytes"] = int(1.25 * weights + 20e6)
            row["within_limit"] = row["default"]["total"] <= row["limit_bytes"]
            for way in ("default", "keep_resume_state", "before"):
                if way in row:
                    row[way]["vs_fp32_weights"] = round(row[way]["total"] / weights, 3)
            rows.append(row)
            print(f"{model}: fp32 weights {weights / MB:.1f} MB; finished run folder "
                  + ", ".join(f"{w} {row[w]['total'] / MB:.1f} MB ({row[w]['vs_fp32_weights']}x)"
                              for w in ("default", "keep_resume_state", "before") if w in row), flush=True)
    write_json(args.out, {
        "command": " ".join(["python", *sys.argv]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "cpus": os.cpu_count()},
        "job_overrides": TINY, "before": args.before,
        "target": "a finished run folder <= 1.25 x fp32 weight bytes + 20 MB",
        "rows": rows,
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
