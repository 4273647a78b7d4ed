"""Mutation testing of the modules that decide the numbers a user reads, each with its own fast tests.

    python benchmarks/mutation.py                       # every module (long: see docs/testing.md)
    python benchmarks/mutation.py splits search_space   # some of them
    python benchmarks/mutation.py --list                # the modules and their tests

mutmut (the `mutation` extra) makes small changes to a module one at a time (a flipped comparison,
a constant off by one, a dropped `not`) and runs, for each, the module's tests that reach the
changed function; a change no test fails on is a survivor: a wrong number the tests would let
through. Each module is staged with the tests in .mutation/<name>, so the checkout itself is never
modified. Results: benchmarks/results/mutation_<name>.json and a table with every survivor's diff.
Survivors judged equivalent (no input can tell them from the original) are listed in
benchmarks/mutation_equivalent.json, each with its diff line and why; the score leaves them out.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "hydra-iqa-optuna-sweeper"
RESULTS = ROOT / "benchmarks" / "results"
EQUIVALENT = ROOT / "benchmarks" / "mutation_equivalent.json"
# What a staged copy needs besides the mutated packages: the configs and the tests' helpers.
STAGED = ("conf", "tests", "sweeps", "run.py")


@dataclass(frozen=True)
class Target:
    """Files mutated together, the test files run against them, which of their functions count
    (mutmut's names: `module.x_function`, `module.xǁClassǁmethod`), and tests left out (too slow
    to run for each mutant)."""

    files: Tuple[str, ...]
    tests: Tuple[str, ...]
    functions: Tuple[str, ...] = ("*",)
    deselect: Tuple[str, ...] = ()


TARGETS: Dict[str, Target] = {
    "metrics": Target(("iqa/evaluation/metrics.py",), ("tests/test_metrics.py", "tests/test_metrics_reference.py",
                                                       "tests/test_selection_flags.py")),
    "splits": Target(("iqa/data/splits.py",), ("tests/test_split_sizes.py", "tests/test_split_files.py")),
    "summary": Target(("iqa/report/summary.py",), ("tests/test_comparisons.py", "tests/test_comparison_units.py",
                                                    "tests/test_selection_flags.py"),
                      deselect=("tests/test_comparisons.py::test_aggregate_takes_a_baseline_and_refuses_an_unknown_one",)),
    "early_stopping": Target(("iqa/train/state.py", "iqa/train/callbacks.py"),
                             ("tests/test_early_stopping.py", "tests/test_repro_units.py"),
                             ("iqa.train.state.*", "iqa.train.callbacks.xǁEarlyStoppingǁ*")),
    "search_space": Target(("hydra_plugins/iqa_optuna_sweeper/_search_space.py",),
                           ("tests/test_search_space.py", "tests/test_search_space_parsing.py")),
    "sweeper_impl": Target(("hydra_plugins/iqa_optuna_sweeper/_impl.py",),
                           ("tests/test_sweeper_plugin.py", "tests/test_search_space_parsing.py")),
}
CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}


def module_of(path: str) -> str:
    return path[:-len(".py")].replace("/", ".")


def stage(name: str, target: Target, workdir: Path) -> Path:
    """A fresh copy of the packages, configs and tests with a mutmut section for `target`."""
    folder = workdir / name
    shutil.rmtree(folder, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(ROOT / "iqa", folder / "iqa", ignore=ignore)
    shutil.copytree(PLUGIN / "hydra_plugins", folder / "hydra_plugins", ignore=ignore)
    for part in STAGED:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, folder / part, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, folder / part)
    lines = ["[tool.mutmut]",
             'source_paths = ["iqa", "hydra_plugins"]',
             f"only_mutate = {json.dumps(list(target.files))}",
             f"also_copy = {json.dumps([p for p in STAGED if p != 'tests'])}",
             f"pytest_add_cli_args_test_selection = {json.dumps(list(target.tests))}",
             "pytest_add_cli_args = " + json.dumps(["-p", "no:cacheprovider", "-m", "not slow", "-q",
                                                    *(a for t in target.deselect for a in ("--deselect", t))]),
             # mutmut stops a mutant after 2 x multiplier x (its tests' time + constant) CPU seconds:
             # enough for a slow shared machine, short for a mutant that loops forever.
             "timeout_multiplier = 2.0",
             "timeout_constant = 5.0",
             "",
             "[tool.pytest.ini_options]",
             'testpaths = ["tests"]',
             'markers = ["slow: end-to-end runs that take tens of seconds"]',
             ""]
    (folder / "pyproject.toml").write_text("\n".join(lines))
    # mutmut fills mutants/ after Python started: it must exist by then for PYTHONPATH to reach it.
    (folder / "mutants").mkdir()
    return folder


def environment(folder: Path) -> dict:
    """The staged copy imports its own (mutated) `iqa` and sweeper, never the checkout's, also in the
    processes the tests start (they inherit the mutant under test), with one thread."""
    env = dict(os.environ, PYTHONPATH=str(folder / "mutants"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               HYDRA_FULL_ERROR="0")
    return env


def mutmut(folder: Path, *args: str, timeout: float = None) -> subprocess.CompletedProcess:
    exe = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or "mutmut"
    return subprocess.run(["nice", "-n", "10", exe, *args], cwd=folder, env=environment(folder),
                          capture_output=True, text=True, timeout=timeout)


def patterns_of(target: Target) -> List[str]:
    """mutmut name patterns of the counted mutants (`*`: every function of the target's files)."""
    return [q for f in target.functions for q in ([module_of(p) + ".*" for p in target.files] if f == "*" else [f])]


def statuses(folder: Path, target: Target) -> Dict[str, str]:
    """mutant name -> mutmut's status, for the mutants of `target.functions`."""
    from mutmut.stats import status_by_exit_code  # mutmut's own meaning of its exit codes
    out = {}
    for path in target.files:
        meta = json.loads((folder / "mutants" / (path + ".meta")).read_text())
        for key, code in meta["exit_code_by_key"].items():
            if any(fnmatch.fnmatch(key, pattern) for pattern in patterns_of(target)):
                out[key] = status_by_exit_code[code]
    return out


def _clean(text: str) -> str:
    """mutmut's output without its spinner frames."""
    return re.sub("[\u2800-\u28ff] [^\u2800-\u28ff\n]*", "", text)


def changed_line(diff: str) -> str:
    """The mutated line(s) of a mutmut diff, stripped: what the equivalence list matches on."""
    return " | ".join(line[1:].strip() for line in diff.splitlines() if line.startswith("+") and
                      not line.startswith("+++"))


def run_target(name: str, target: Target, workdir: Path, timeout: float) -> dict:
    folder = stage(name, target, workdir)
    patterns = patterns_of(target)
    t0 = time.perf_counter()
    try:
        proc = mutmut(folder, "run", "--max-children", "1", *patterns, timeout=timeout)
    except subprocess.TimeoutExpired:
        sys.exit(f"error: mutmut ran past --timeout={timeout:g} s on {name}; the mutants done so far are in {folder}")
    wall = time.perf_counter() - t0
    metas = [folder / "mutants" / (p + ".meta") for p in target.files]
    if proc.returncode != 0 or not all(m.exists() for m in metas):
        sys.exit(f"error: mutmut stopped on {name} (exit status {proc.returncode}); its last output:\n"
                 f"{_clean(proc.stdout)[-3000:]}\n{proc.stderr[-3000:]}")
    status = statuses(folder, target)
    if "not checked" in status.values():
        sys.exit(f"error: mutmut left {sum(v == 'not checked' for v in status.values())} mutants of {name} unchecked; "
                 f"its last output:\n{_clean(proc.stdout)[-3000:]}")
    equivalent = json.loads(EQUIVALENT.read_text()).get(name, {}) if EQUIVALENT.exists() else {}
    survivors, judged = [], []
    for key in sorted(k for k, s in status.items() if s not in CAUGHT):
        diff = mutmut(folder, "show", key).stdout.strip()
        entry = {"mutant": key, "status": status[key], "diff": diff}
        known = equivalent.get(key)
        if known and known["line"] == changed_line(diff):
            judged.append({**entry, "why": known["why"]})
        else:
            survivors.append(entry)
    caught = sum(s in CAUGHT for s in status.values())
    scored = len(status) - len(judged)
    result = {"module": name, "files": list(target.files), "tests": list(target.tests),
              "functions": list(target.functions), "mutants": len(status), "caught": caught,
              "equivalent": len(judged), "survived": len(survivors),
              "score": round(caught / scored, 4) if scored else None, "wall_s": round(wall, 1),
              "mutmut_exit": proc.returncode, "survivors": survivors, "equivalent_survivors": judged}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"mutation_{name}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return result


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help=f"some of: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".mutation", help="where the staged copies go")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds one module may take")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests, run nothing")
    parser.add_argument("--show", action="store_true", help="print every survivor's diff")
    args = parser.parse_args(argv)
    names = args.modules or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r} (choose from {', '.join(TARGETS)})")
    if args.list:
        for name in names:
            t = TARGETS[name]
            left_out = f" (without {', '.join(t.deselect)})" if t.deselect else ""
            print(f"{name}: {', '.join(t.files)} ({', '.join(t.functions)}) <- {', '.join(t.tests)}{left_out}")
        return 0
    try:
        import mutmut  # noqa: F401
    except ImportError:
        sys.exit('error: mutmut is not installed: pip install -e ".[mutation]"')
    rows = []
    for name in names:
        print(f"{name}: mutating {', '.join(TARGETS[name].files)} ...", flush=True)
        r = run_target(name, TARGETS[name], args.workdir, args.timeout)
        rows.append(r)
        score = "n/a" if r["score"] is None else f"{100 * r['score']:.1f}%"
        print(f"{name}: {r['caught']}/{r['mutants'] - r['equivalent']} caught ({score}), {r['equivalent']} "
              f"equivalent, {r['survived']} survived, {r['wall_s']:.0f} s", flush=True)
        for s in r["survivors"]:
            print(f"  survived: {s['mutant']} ({s['status']}): {changed_line(s['diff'])}")
            if args.show:
                print(re.sub(r"(?m)^", "    ", s["diff"]))
    print("\n| module | mutants | caught | equivalent | survived | score |\n|---|---|---|---|---|---|")
    for r in rows:
        score = "n/a" if r["score"] is None else f"{100 * r['score']:.1f}%"
        print(f"| {r['module']} | {r['mutants']} | {r['caught']} | {r['equivalent']} | {r['survived']} | {score} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
