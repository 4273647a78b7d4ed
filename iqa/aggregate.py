"""`python -m iqa.aggregate SWEEP_DIR`: rebuild a sweep's tables from its run folders.

Works on partial or interrupted sweeps; runs without metrics are listed with their reason.
`--baseline A` compares every row with the configuration whose overrides include A (default: the
best row); `--compare A B` runs the paired test between the two configurations A and B.
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import List, Optional

from iqa.cli import exit_status
from iqa.report.summary import DETECT_DELTA, Summary, summarize, verdict


def compare(summary: Summary, a: str, b: str) -> str:
    """One line: the paired test of configuration `a` against `b` on the summary's metric, over the
    unit the table uses (seeds on one split, splits when there are several)."""
    test = summary.test(*(summary.pick(w, "--compare") for w in (a, b)))
    units = "shared replicates" if test["unit"] == "seed" else "shared split seeds"
    wilcoxon = "n/a" if math.isnan(test["p_wilcoxon"]) else f"{test['p_wilcoxon']:.3g}"
    return (f"{a} vs {b} on {summary.metric}: mean difference {test['delta']:+.4f} "
            f"(95% CI [{test['ci_low']:+.4f}, {test['ci_high']:+.4f}]) over {test['n_paired']} {units}, "
            f"paired t p={test['p_ttest']:.3g}, Wilcoxon p={wilcoxon}: {verdict(test)}; unit: {test['unit_text']}")


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m iqa.aggregate", description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dir", help="a multirun folder (outputs/multirun/DATE/TIME)")
    ap.add_argument("--baseline", help="the row every other row is compared with, as its distinguishing "
                                       "overrides, e.g. loss.alpha=0.0 (default: the best row on the objective)")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"),
                    help="two configurations, each as its distinguishing overrides, e.g. loss.alpha=0.1")
    ap.add_argument("--metric", help="metric of the comparisons (default: the test counterpart of the runs' "
                                     "objective, e.g. test_srcc for val_srcc)")
    ap.add_argument("--detect-delta", type=float, default=DETECT_DELTA,
                    help=f"difference whose needed number of replicates is shown (default {DETECT_DELTA})")
    ap.add_argument("--quiet", action="store_true", help="write the files without printing the table")
    args = ap.parse_args(argv)
    return exit_status(lambda: rebuild(args))


def rebuild(args: argparse.Namespace) -> None:
    """Write the sweep's summary tables, print them unless quiet, and the comparison if asked."""
    summary = summarize(args.sweep_dir, args.baseline, args.metric, args.detect_delta)
    text = summary.write()
    if not args.quiet:
        print(text)
    if args.compare:
        print(compare(summary, *args.compare))
    print(f"wrote {summary.sweep_dir / 'summary.csv'} and summary.md", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
