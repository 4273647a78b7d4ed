"""Start-up: run.py's --help and --cfg job against a bare Hydra app; a job's time to its first training step.

Usage: python benchmarks/startup.py [--repeats 5] [--before REV] [--out benchmarks/results/startup.json]

In one process run, alternating repeat by repeat:
  bare        a Hydra app with no code of its own (`@hydra.main` around `pass`), the same installed
              plugins (Hydra imports every plugin module on start): `--help` and `--cfg job`
  help, cfg   `python run.py --help`, `python run.py --cfg job`
  first step  a tiny `python run.py` job, from process start to its `speed:` log line, written
              when data, model, optimizer and loaders are built and training begins
With --before REV the same commands also run on that revision of this repository (checked out
into a temporary folder), so before and after are measured side by side. Each figure is the
median over the repeats; ratios are against the bare app of the same run.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/ first, not the checkout
    sys.path.insert(0, str(ROOT))

from revisions import checkout_of, env_for as _env  # noqa: E402
from iqa.atomic import write_json  # noqa: E402

BARE_APP = '''import hydra


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg) -> None:
    pass


if __name__ == "__main__":
    main()
'''
# A job with next to no data, so that what is timed is start-up, not training.
JOB = ["experiment=quick", "data.n_refs=3", "data.image_size=64", "data.cross=[]", "loader.patch_size=32",
       "loader.batch_size=8", "loader.eval_batch_size=8", "loader.test_patch_num=1", "runtime.progress=false",
       "trainer.epochs=1"]


def timed(args: List[str], cwd: Path, env: Dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def to_first_step(checkout: Path, folder: Path) -> float:
    """Seconds from process start to the job's `speed:` log line (the log's clock has milliseconds)."""
    t0 = time.time()
    subprocess.run([sys.executable, "run.py", *JOB, f"hydra.run.dir={folder}"], cwd=checkout, env=_env(checkout),
                   check=True, capture_output=True, text=True)
    line = next(l for l in (folder / "run.log").read_text().splitlines() if "- speed: " in l)
    stamp = dt.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp() - t0


def median(xs: List[float]) -> float:
    return round(statistics.median(xs), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before", help="a git revision to time beside the working tree (e.g. main)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/startup.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "bare.py").write_text(BARE_APP)
        checkouts = {"now": ROOT}
        if args.before:
            checkouts["before"] = checkout_of(args.before, Path(tempfile.mkdtemp(dir=tmp)))
        env = _env(ROOT)
        samples: Dict[str, List[float]] = {}
        timed(["run.py", *JOB, f"hydra.run.dir={tmp}/warmup"], ROOT, env)  # dataset cache, file-system caches
        for r in range(args.repeats):
            samples.setdefault("bare --help", []).append(timed([str(tmp / "bare.py"), "--help"], tmp, env))
            samples.setdefault("bare --cfg job", []).append(timed([str(tmp / "bare.py"), "--cfg", "job"], tmp, env))
            for name, checkout in checkouts.items():
                e = _env(checkout)
                samples.setdefault(f"{name}: run.py --help", []).append(timed(["run.py", "--help"], checkout, e))
                samples.setdefault(f"{name}: run.py --cfg job", []).append(
                    timed(["run.py", *JOB, "--cfg", "job"], checkout, e))
                samples.setdefault(f"{name}: job to first training step", []).append(
                    to_first_step(checkout, tmp / f"{name}-{r}"))
            print(f"repeat {r + 1}/{args.repeats} done", flush=True)
    medians = {k: median(v) for k, v in samples.items()}
    ratios: Dict[str, Optional[float]] = {}
    for name in checkouts:
        ratios[f"{name}: --help vs bare --help"] = round(medians[f"{name}: run.py --help"] / medians["bare --help"], 2)
        ratios[f"{name}: --cfg job vs bare --cfg job"] = round(
            medians[f"{name}: run.py --cfg job"] / medians["bare --cfg job"], 2)
    if args.before:
        ratios["first training step: before / now"] = round(
            medians["before: job to first training step"] / medians["now: job to first training step"], 2)
    write_json(args.out, {
        "command": " ".join(["python", *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_1_5_15min": os.getloadavg(),
                    "note": "shared CPU cores: compare the ratios of this one run"},
        "before": args.before, "job_overrides": JOB, "repeats": args.repeats,
        "median_s": medians, "ratios": ratios, "samples_s": {k: [round(x, 3) for x in v] for k, v in samples.items()},
        "targets": {"--help vs bare": 2.0, "--cfg job vs bare": 3.0},
    })
    print(f"wrote {args.out}")
    for k, v in {**medians, **ratios}.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
