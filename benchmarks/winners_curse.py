"""The winner's curse of an Optuna study, measured: with no true difference between configurations,
how far the winner's value on the search seeds and on fresh confirm seeds lies from the truth (0).

Each study is a real multirun of tests/sweeper_app/noise_app.py under hydra/sweeper=iqa_optuna:
`--trials` TPE trials over x in [0, 1], each on `--seeds` seeds, then the winner and the baseline
x=0.5 re-run on as many fresh confirm seeds. Every job's value is a normal draw with sd `--sd`
(the seed-to-seed spread) fixed by (study, seed, x): every configuration's true value is 0. The
search value's bias is the mean over studies of the winner's mean on the search seeds; the confirm
value's bias the mean of its confirm mean. For reference, the search bias expected under these
assumptions is E[max of `trials` draws of N(0, sd^2 / seeds)] (scipy, numerical integration);
the coverage of the 95% t interval of winner - baseline, whose true value is 0, is reported too.

    python benchmarks/winners_curse.py                 # 8 studies, a few minutes
    python benchmarks/winners_curse.py --studies 40    # -> benchmarks/results/winners_curse.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf
from scipy import integrate, stats

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "sweeper_app" / "noise_app.py"
RESULTS = ROOT / "benchmarks" / "results"


def study(folder: Path, replicate: int, trials: int, seeds: int, sd: float) -> dict:
    """One study: the winner's mean on the search seeds and on the confirm seeds, and the
    difference with the baseline on the confirm seeds."""
    search, confirm = list(range(seeds)), list(range(1000, 1000 + seeds))
    out = folder / f"study_{replicate}"
    subprocess.run([sys.executable, str(APP), "-m", f"hydra.sweep.dir={out}", f"replicate={replicate}",
                    f"noise_sd={sd}", "x=interval(0, 1)", "hydra.sweeper.direction=maximize",
                    f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.n_jobs=1",
                    f"hydra.sweeper.sampler.seed={replicate}",
                    f"hydra.sweeper.seeds={search}", f"hydra.sweeper.confirm_seeds={confirm}",
                    'hydra.sweeper.confirm_baseline=["x=0.5"]'],
                   check=True, capture_output=True, text=True, cwd=folder, env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    result = OmegaConf.to_container(OmegaConf.load(out / "optimization_results.yaml"))
    diff = result["confirm"]["baseline"]["difference"]
    return {"search": result["confirm"]["search"]["mean"], "confirm": result["confirm"]["mean"],
            "difference": diff["mean"], "ci_low": diff["ci_low"], "ci_high": diff["ci_high"]}


def expected_max(n: int, scale: float) -> float:
    """E[max of n independent N(0, scale^2)] by integrating x n phi(x) Phi(x)^(n-1)."""
    value, _ = integrate.quad(lambda x: x * n * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n - 1), -12, 12)
    return scale * value


def mean_se(xs) -> dict:
    return {"mean": statistics.fmean(xs), "se": statistics.stdev(xs) / math.sqrt(len(xs))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=8)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=3, help="search seeds per trial, and confirm seeds")
    ap.add_argument("--sd", type=float, default=0.004, help="seed-to-seed sd of a job's value")
    ap.add_argument("--out", type=Path, default=RESULTS / "winners_curse.json")
    args = ap.parse_args()
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [study(Path(tmp), r, args.trials, args.seeds, args.sd) for r in range(args.studies)]
    covered = [r["ci_low"] <= 0.0 <= r["ci_high"] for r in runs]
    summary = {
        "search_bias": mean_se([r["search"] for r in runs]),
        "confirm_bias": mean_se([r["confirm"] for r in runs]),
        "expected_search_bias": expected_max(args.trials, args.sd / math.sqrt(args.seeds)),
        "difference_ci_coverage": statistics.fmean(covered),
    }
    command = " ".join(["python", "benchmarks/winners_curse.py", *sys.argv[1:]])
    record = {"benchmark": "winners_curse", "command": command,
              "studies": args.studies, "trials": args.trials, "seeds": args.seeds, "sd": args.sd,
              "summary": summary, "per_study": runs, "wall_s": round(time.time() - start, 1),
              "python": platform.python_version(), "platform": platform.platform()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    s = summary
    print(f"{args.studies} studies of {args.trials} trials x {args.seeds} seeds, sd {args.sd}: search bias "
          f"{s['search_bias']['mean']:+.4f} ± {s['search_bias']['se']:.4f} "
          f"(expected {s['expected_search_bias']:+.4f}), "
          f"confirm bias {s['confirm_bias']['mean']:+.4f} ± {s['confirm_bias']['se']:.4f}, coverage of the "
          f"difference's 95% CI {s['difference_ci_coverage']:.2f} -> {args.out}")


if __name__ == "__main__":
    main()
