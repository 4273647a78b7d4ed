"""`python -m iqa.aggregate SWEEP_DIR`: rebuild a sweep's mean ± std tables from its run folders.

Works on partial or interrupted sweeps; runs without metrics are listed with their reason.
`--compare A B` runs the paired test between the configurations whose overrides include A and B.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from iqa.cli import exit_status
from iqa.errors import IQAError
from iqa.report.summary import Summary, metric_values, paired_test, summarize, verdict


def _pick(summary: Summary, wanted: str):
    """The one configuration whose overrides include every `key=value` in `wanted`."""
    need = set(wanted.split())
    hits = [g for g in summary.groups if need <= set(g)]
    if len(hits) != 1:
        labels = "; ".join(" ".join(g) for g in summary.groups)
        raise IQAError(f"--compare '{wanted}' matches {len(hits)} configurations (need exactly 1) among: {labels}")
    return hits[0]


def compare(summary: Summary, a: str, b: str, metric: Optional[str]) -> str:
    metric = metric or summary.objective
    groups = [summary.groups[_pick(summary, w)] for w in (a, b)]
    known = metric_values(groups[0][0].metrics)
    if metric not in known:
        raise IQAError(f"--metric {metric} is not a run metric: one of {', '.join(known)}")
    values = [{r.seed: metric_values(r.metrics)[metric] for r in runs} for runs in groups]
    test = paired_test(*values)
    return (f"{a} vs {b} on {metric}: mean difference {test['delta']:+.4f} over {test['n_paired']} shared seeds, "
            f"paired t p={test['p_ttest']:.3g}, Wilcoxon p={test['p_wilcoxon']:.3g}: {verdict(test)}")


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m iqa.aggregate", description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dir", help="a multirun folder (outputs/multirun/DATE/TIME)")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"),
                    help="two configurations, each as its distinguishing overrides, e.g. loss.alpha=0.1")
    ap.add_argument("--metric", help="metric for --compare (default: the runs' objective)")
    ap.add_argument("--quiet", action="store_true", help="write the files without printing the table")
    args = ap.parse_args(argv)
    return exit_status(lambda: rebuild(args))


def rebuild(args: argparse.Namespace) -> None:
    """Write the sweep's summary tables, print them unless quiet, and the comparison if asked."""
    summary = summarize(args.sweep_dir)
    text = summary.write()
    if not args.quiet:
        print(text)
    if args.compare:
        print(compare(summary, *args.compare, args.metric))
    print(f"wrote {summary.sweep_dir / 'summary.csv'} and summary.md", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
