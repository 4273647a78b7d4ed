"""`python -m iqa.consistency RUN_A RUN_B` | `--latest DIR`: did two runs see the same batches?

Compares the `batches.json` of two run folders field by field. Exit status 0: identical;
1: different (the first differing batch and field are printed); 2: a folder cannot be compared
(no batches.json, unreadable file, fewer than two runs under DIR).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Tuple

from iqa.run_folder import RunFolder

FILENAME = RunFolder(".").batches.name

IDENTICAL, DIFFERENT, UNUSABLE = 0, 1, 2


class Unusable(Exception):
    """A folder that holds no comparable fingerprints."""


def read(run: Path) -> dict:
    path = run / FILENAME
    if not run.is_dir():
        raise Unusable(f"{run} is not a folder")
    if not path.is_file():
        raise Unusable(f"{run} has no {FILENAME} (not a training run folder, or trained with "
                       f"trainer.fingerprint_batches=0)")
    try:
        data = json.loads(path.read_text())
        batches = data["batches"]
    except (ValueError, KeyError, TypeError) as e:
        raise Unusable(f"{path} cannot be read: {type(e).__name__}: {e}") from None
    if not isinstance(batches, list) or not all(isinstance(b, dict) for b in batches):
        raise Unusable(f"{path} cannot be read: 'batches' is not a list of batch records")
    return data


def _show(value, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _where(a, b) -> str:
    """' at position i' for the first differing element of two lists of equal length."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        return f" at position {i}: {_show(a[i])} vs {_show(b[i])}"
    return f": {_show(a)} vs {_show(b)}"


def first_difference(a: List[dict], b: List[dict]) -> Optional[str]:
    """None when the two batch lists are identical, else a sentence naming the first difference."""
    for i, (x, y) in enumerate(zip(a, b), start=1):
        for field in dict.fromkeys([*x, *y]):
            if x.get(field) != y.get(field):
                return (f"batch {i} (epoch {x.get('epoch')}, step {x.get('step')}) differs in "
                        f"'{field}'{_where(x.get(field), y.get(field))}")
    if len(a) != len(b):
        return f"the first {min(len(a), len(b))} batches match, but one run recorded {len(a)} and the other {len(b)}"
    return None


def compare(run_a: Path, run_b: Path) -> Tuple[int, str]:
    """(exit status, message) for two run folders."""
    a, b = read(run_a), read(run_b)
    diff = first_difference(a["batches"], b["batches"])
    runs = f"{run_a} (seed {a.get('seed')}) vs {run_b} (seed {b.get('seed')})"
    if diff is None:
        return IDENTICAL, f"identical: {len(a['batches'])} batches match\n  {runs}"
    return DIFFERENT, f"different: {diff}\n  {runs}"


def _started(run: Path) -> float:
    """When a run started: Hydra writes .hydra/config.yaml first; else when batches.json was written."""
    marker = run / ".hydra" / "config.yaml"
    return (marker if marker.is_file() else run / FILENAME).stat().st_mtime


def latest_two(root: Path) -> Tuple[Path, Path]:
    """The two most recently started run folders under `root` (older first)."""
    if not root.is_dir():
        raise Unusable(f"{root} is not a folder")
    runs = sorted((p.parent for p in root.rglob(FILENAME)), key=_started)
    if len(runs) < 2:
        raise Unusable(f"{root} holds {len(runs)} run folder(s) with {FILENAME}: need two to compare")
    return runs[-2], runs[-1]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iqa.consistency",
        description="Compare the batch fingerprints (batches.json) of two run folders. "
                    "Exit 0: identical, 1: different, 2: cannot compare.")
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN", help="two run folders")
    parser.add_argument("--latest", type=Path, metavar="DIR", help="compare the two newest runs under DIR")
    args = parser.parse_args(argv)
    if not (args.latest is None and len(args.runs) == 2 or args.latest is not None and not args.runs):
        parser.error("give two run folders, or --latest DIR")
    try:
        status, message = compare(*(latest_two(args.latest) if args.latest else args.runs))
    except Unusable as e:
        print(f"error: {e}", file=sys.stderr)
        return UNUSABLE
    print(message)
    return status


if __name__ == "__main__":
    sys.exit(main())
