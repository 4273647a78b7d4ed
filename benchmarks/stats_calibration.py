"""Error rates of a sweep table's default comparison, measured on simulated sweeps.

Each simulated sweep is written as run folders (`.hydra/overrides.yaml` and `metrics.json`, as a
run writes them) for two configurations x S split seeds x 3 seeds and summarised by
`iqa.report.summary.summarize`, the function `python -m iqa.aggregate` uses. A run's test SRCC is

    level of its configuration + split effect (shared by configurations)
    + configuration x split interaction + seed noise.

Random re-splits of one dataset overlap in their training sets, so a configuration's interaction
terms are correlated across splits: each is sqrt(rho) h_c + sqrt(1 - rho) u_cs with h_c, u_cs
independent normal and rho = n_test / (n_train + n_test), the correlation Nadeau and Bengio derive
for overlapping training sets. The validation SRCC that ranks the rows is drawn independently of the
test noise, so the baseline is a fair coin under the null.

For each (split seeds, interaction sd) cell: the false-positive rate of "larger than run-to-run
noise" over null sweeps, the coverage of the 95% CI of the difference, and the power at a true
difference of `--delta`, for the table's test (`new`) and for the paired test over all (split, seed)
replicates the table used before (`old`). With one split seed the interaction cannot be told apart
from a difference, so that cell is judged against the difference on its split (level difference
plus the two interaction terms); its rate against the dataset-level null is reported beside it.

    python benchmarks/stats_calibration.py --sweeps 1000
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from iqa.report.summary import ALPHA, paired_test, summarize  # noqa: E402

CONFIGS = ("loss.alpha=0.0", "loss.alpha=0.3")
RESULTS = Path(__file__).resolve().parent / "results" / "stats_calibration.json"


def simulate(rng, splits: int, seeds: int, interaction: float, delta: float, args):
    """{(config, split_seed, seed): test value}, the per-split truth, and the level difference
    (second configuration minus first)."""
    rho = args.n_test / (args.n_train + args.n_test)
    levels = {CONFIGS[0]: 0.85, CONFIGS[1]: 0.85 + delta}
    split_effect = rng.normal(0, args.split_sd, splits)
    inter = {c: math.sqrt(rho) * rng.normal(0, interaction) + math.sqrt(1 - rho) * rng.normal(0, interaction, splits)
             for c in CONFIGS}
    values = {(c, s, k): levels[c] + split_effect[s] + inter[c][s] + rng.normal(0, args.seed_sd)
              for c in CONFIGS for s in range(splits) for k in range(seeds)}
    split_truth = [delta + inter[CONFIGS[1]][s] - inter[CONFIGS[0]][s] for s in range(splits)]
    return values, split_truth


def write_sweep(folder: Path, values, rng, args) -> None:
    for job, ((config, split_seed, k), test) in enumerate(values.items()):
        run = folder / str(job)
        (run / ".hydra").mkdir(parents=True)
        seed = 42 + k
        (run / ".hydra" / "overrides.yaml").write_text(f"- {config}\n- seed={seed}\n- data.split_seed={split_seed}\n")
        metrics = {"best_epoch": 3, "val_srcc": 0.9 + rng.normal(0, 0.003), "test_srcc": test, "cross": {},
                   "objective": "val_srcc", "monitor": "val_srcc", "selected_on_test": False, "seed": seed,
                   "split_seed": split_seed, "n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test}
        (run / "metrics.json").write_text(json.dumps(metrics))


def one_sweep(rng, tmp: Path, splits: int, seeds: int, interaction: float, delta: float, args):
    """(new p, new CI, old p, old CI, per-split truth and level truth of the compared row minus baseline)."""
    values, split_truth = simulate(rng, splits, seeds, interaction, delta, args)
    folder = Path(tempfile.mkdtemp(dir=tmp))
    write_sweep(folder, values, rng, args)
    summary = summarize(folder)
    row = next(r for r in summary.rows if r["vs_baseline"] != "baseline")
    base = next(r for r in summary.rows if r["vs_baseline"] == "baseline")
    sign = 1.0 if row["overrides"].startswith(CONFIGS[1]) else -1.0  # truth is CONFIGS[1] minus CONFIGS[0]
    old = paired_test(*(summary.values(summary.pick(r["overrides"])) for r in (row, base)))
    shutil.rmtree(folder)
    truth = sign * delta
    local = sign * float(np.mean(split_truth))
    return ((row["vs_baseline_p_holm"], row["vs_baseline_ci_low"], row["vs_baseline_ci_high"]),
            (old["p_ttest"], old["ci_low"], old["ci_high"]), truth, local)


def rates(results, one_split: bool):
    """Rejection rate and coverage for each test, judged against the dataset-level truth, or the
    per-split truth for one split seed."""
    out = {}
    for i, name in enumerate(("new", "old")):
        p = np.array([r[i][0] for r in results])
        lo = np.array([r[i][1] for r in results])
        hi = np.array([r[i][2] for r in results])
        truth = np.array([r[3] if one_split else r[2] for r in results])
        out[name] = {"reject": float(np.mean(p < ALPHA)), "coverage": float(np.mean((lo <= truth) & (truth <= hi))),
                     "excludes_truth": float(np.mean((truth < lo) | (hi < truth)))}
        if one_split:
            out[name]["reject_dataset_null"] = float(np.mean(p < ALPHA))
    return out


def cell(rng, tmp, splits, interaction, args):
    null = [one_sweep(rng, tmp, splits, args.seeds, interaction, 0.0, args) for _ in range(args.sweeps)]
    power = [one_sweep(rng, tmp, splits, args.seeds, interaction, args.delta, args) for _ in range(args.power_sweeps)]
    one = splits == 1
    n, p = rates(null, one), rates(power, one)
    out = {"split_seeds": splits, "seeds": args.seeds, "interaction_sd": interaction}
    for name in ("new", "old"):
        # One split: a false positive is a CI that excludes the difference on that split.
        fpr = n[name]["excludes_truth"] if one else n[name]["reject"]
        out[name] = {"false_positive_rate": fpr, "coverage": n[name]["coverage"], "power": p[name]["reject"]}
        if one:
            out[name]["rate_vs_dataset_null"] = n[name]["reject"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeps", type=int, default=200, help="null sweeps per cell (1000 gives a 0.05 rate ±0.014)")
    ap.add_argument("--power-sweeps", type=int, default=None, help="sweeps at --delta per cell (default: --sweeps / 2)")
    ap.add_argument("--splits", type=int, nargs="+", default=[1, 2, 5, 10])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--interaction", type=float, nargs="+", default=[0.0, 0.002, 0.004],
                    help="sd of the configuration x split interaction")
    ap.add_argument("--seed-sd", type=float, default=0.002)
    ap.add_argument("--split-sd", type=float, default=0.01, help="sd of the split effect shared by configurations")
    ap.add_argument("--delta", type=float, default=0.01, help="true difference of the power sweeps")
    ap.add_argument("--n-train", type=int, default=7046, help="recorded sizes (KonIQ-10k's default random split)")
    ap.add_argument("--n-val", type=int, default=1012)
    ap.add_argument("--n-test", type=int, default=2015)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    args.power_sweeps = args.power_sweeps or max(1, args.sweeps // 2)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        for splits in args.splits:
            for interaction in args.interaction:
                cells.append(cell(rng, Path(tmp), splits, interaction, args))
                c = cells[-1]
                print(f"{splits:>2} splits, interaction {interaction:.3f}: new FPR {c['new']['false_positive_rate']:.3f} "
                      f"cover {c['new']['coverage']:.3f} power {c['new']['power']:.3f} | old FPR "
                      f"{c['old']['false_positive_rate']:.3f} cover {c['old']['coverage']:.3f} power "
                      f"{c['old']['power']:.3f}", flush=True)
                write(args, cells, start, argv)
    return 0


def write(args, cells, start, argv) -> None:
    """The results so far (written after every cell, so a long run leaves what it measured)."""
    result = {"command": "python benchmarks/stats_calibration.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "sweeps": args.sweeps, "power_sweeps": args.power_sweeps, "seed_sd": args.seed_sd,
              "split_sd": args.split_sd, "delta": args.delta,
              "sizes": {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test},
              "rho": args.n_test / (args.n_train + args.n_test), "wall_s": round(time.perf_counter() - start, 1),
              "cells": cells}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
