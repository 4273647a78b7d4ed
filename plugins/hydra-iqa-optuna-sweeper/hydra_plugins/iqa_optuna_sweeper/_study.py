"""`python -m hydra_plugins.iqa_optuna_sweeper --storage URL [--study NAME]`: what a study found, and its plots.

Lists the studies in a storage; for one study prints the trial table (number, state, params,
mean ± std over seeds, duration), the best trial with its run folders, the confirm runs on
fresh seeds and the parameter importances, and writes the study page's figures (`study_figures`:
history, parallel coordinates, slices, importances) into the study's latest sweep folder (or --out).
"""
from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import optuna
from optuna.trial import TrialState

from hydra_plugins.iqa_optuna_sweeper._headline import OPTIMISTIC, headline
from hydra_plugins.iqa_optuna_sweeper._search_space import as_override
from hydra_plugins.iqa_optuna_sweeper._storage import masked, open_storage
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError


def _shown(line: str) -> str:
    """One line of text from a study for a terminal: control characters in names and attributes
    (escape sequences, carriage returns, newlines, bidirectional overrides) shown escaped, never obeyed."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in line)


def _file_part(name: str) -> str:
    """A study name as part of a file name: `/` and other characters a file name cannot hold become `_`."""
    return re.sub(r"[^\w.+=-]", "_", name)


def list_studies(storage) -> List[str]:
    lines = ["| study | direction | trials | complete | pruned | fail | best |", "|---|---|---|---|---|---|---|"]
    for s in optuna.get_all_study_summaries(storage, include_best_trial=True):
        study = optuna.load_study(study_name=s.study_name, storage=storage)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        best = f"{s.best_trial.value:.4f} (trial {s.best_trial.number})" if s.best_trial else "n/a"
        lines.append(f"| {s.study_name} | {', '.join(d.name.lower() for d in s.directions)} | {len(states)} | "
                     f"{states.count(TrialState.COMPLETE)} | {states.count(TrialState.PRUNED)} | "
                     f"{states.count(TrialState.FAIL)} | {best} |")
    return lines


def _mean_std(trial: optuna.trial.FrozenTrial) -> str:
    mean, std = trial.user_attrs.get("mean"), trial.user_attrs.get("std")
    if isinstance(mean, (int, float)):  # anyone who can write to a study sets attributes
        seeds = trial.user_attrs.get("seeds_run")
        n = len(seeds) if isinstance(seeds, list) else 0
        raced = f" ({n} seed{'s' * (n != 1)}, raced)" if "race" in trial.user_attrs else ""
        return f"{mean:.4f}" + (f" ± {std:.4f}" if isinstance(std, (int, float)) else "") + raced
    return str(trial.user_attrs.get("fail_reason", ""))[:60] if trial.state == TrialState.FAIL else ""


def trial_table(study: optuna.Study) -> List[str]:
    lines = ["| trial | state | params | mean ± std | value | duration |", "|---|---|---|---|---|---|"]
    for t in study.get_trials(deepcopy=False):
        duration = f"{t.duration.total_seconds():.0f} s" if t.duration else ""
        value = ", ".join(f"{v:.4f}" for v in t.values) if t.values else ""
        params = " ".join(as_override(k, v) for k, v in t.params.items())
        lines.append(f"| {t.number} | {t.state.name} | {params} | {_mean_std(t)} | {value} | {duration} |")
    return lines


def best_and_importances(study: optuna.Study) -> List[str]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(study.directions) > 1:
        return [f"Pareto front: trials {[t.number for t in study.best_trials]}"] if complete else ["No COMPLETE trial yet."]
    if not complete:
        return ["No COMPLETE trial yet."]
    best = study.best_trial
    lines = [f"Best trial {best.number}: value {best.value:.4f}, params "
             + " ".join(as_override(k, v) for k, v in best.params.items())]
    folders = best.user_attrs.get("run_dirs")
    lines += [f"  seed {seed}: {folder}" for seed, folder in (folders if isinstance(folders, dict) else {}).items()]
    confirm = study.user_attrs.get("confirm")
    confirm = confirm if isinstance(confirm, dict) else None
    lines += headline(best, confirm if confirm and confirm.get("trial") == best.number else None,
                      bool(study.user_attrs.get("selected_on_test")))
    lines += confirm_lines(confirm)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study)
        lines.append("Parameter importances (fANOVA): "
                     + ", ".join(f"{k} {v:.2f}" for k, v in importances.items()))
    except (RuntimeError, ValueError) as e:
        lines.append(f"Parameter importances: n/a ({e})")
    return lines


def confirm_lines(confirm: Optional[dict]) -> List[str]:
    """The best configuration re-run on seeds the search never used (`confirm_seeds`)."""
    if not confirm:
        return []

    def pm(s: dict) -> str:
        return "n/a" if s.get("mean") is None else f"{s['mean']:.4f} ± {s['std'] or 0:.4f}"

    lines = [f"Confirmed trial {confirm['trial']} on seeds {confirm['seeds']}: value {pm(confirm)}"]
    lines += [f"  {name}: {pm(stats)}" for name, stats in confirm.get("metrics", {}).items()]
    lines += [f"  seed {seed} failed: {reason}" for seed, reason in confirm.get("failed", {}).items()]
    return lines


def write_plots(study: optuna.Study, out_dir: Path) -> List[str]:
    """The study page's figures (`study_figures`) as one PNG each; one not drawn yet (no complete
    trial, several objectives) is reported, not fatal."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hydra_plugins.iqa_optuna_sweeper.study_figures import figures, plain_text

    written = []
    with plain_text():
        for name, fig in figures(study).items():
            if isinstance(fig, str):
                written.append(f"{name}: not drawn ({fig})")
                continue
            path = out_dir / f"study_{_file_part(study.study_name)}_{name}.png"
            fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
            plt.close(fig)
            written.append(str(path))
    return written


def main(argv: Optional[List[str]] = None, prog: str = "python -m hydra_plugins.iqa_optuna_sweeper",
         default_storage: Optional[str] = None) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("--storage", default=default_storage, required=default_storage is None,
                    help="SQLAlchemy URL of an existing storage" + (f" (default {default_storage})" if default_storage else ""))
    ap.add_argument("--study", help="study name (default: the only study in the storage)")
    ap.add_argument("--out", type=Path, help="folder for the plots (default: the study's latest sweep folder)")
    ap.add_argument("--no-plots", action="store_true", help="do not write the PNG plots")
    ap.add_argument("--html", type=Path, metavar="PATH",
                    help="also write one self-contained HTML page of the study (table, history, importances)")
    args = ap.parse_args(argv)
    try:
        show(args)
    except SweepConfigError as e:
        print(f"error: {_shown(str(e))}", file=sys.stderr)
        return 1
    return 0


def show(args: argparse.Namespace) -> None:
    """List the storage's studies and, for the chosen one, its trials, best trial, importances and plots."""
    storage = open_storage(args.storage, create=False)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    print(f"Studies in {masked(storage.url)}:\n" + "\n".join(map(_shown, list_studies(storage))))
    name = args.study or (names[0] if len(names) == 1 else None)
    if name is None:
        return
    if name not in names:
        raise SweepConfigError(f"no study named {name!r} in {masked(storage.url)}: one of {', '.join(names) or 'none'}")
    study = optuna.load_study(study_name=name, storage=storage)
    directions = ", ".join(d.name.lower() for d in study.directions)
    objective = study.user_attrs.get("objective")
    if objective:
        directions += f" {objective}" + (f", {OPTIMISTIC}" if study.user_attrs.get("selected_on_test") else "")
    print("\n" + _shown(f"Study {name} ({directions}, seeds {study.user_attrs.get('seeds') or 'none'}):") + "\n"
          + "\n".join(map(_shown, trial_table(study))))
    print("\n" + "\n".join(map(_shown, best_and_importances(study))))
    if args.html:
        from .study_page import write_study_page
        try:
            print(f"\nStudy page: {write_study_page(study, args.html)}")
        except (OSError, ValueError) as e:
            raise SweepConfigError(f"cannot write the study page {args.html}: {getattr(e, 'strerror', None) or e}") from None
    if not args.no_plots:
        out = args.out or Path(study.user_attrs.get("sweep_dir", "."))
        try:
            out.mkdir(parents=True, exist_ok=True)
            written = write_plots(study, out)
        except OSError as e:
            raise SweepConfigError(f"cannot write the plots into {out}: {e.strerror or e} "
                                   "(give --out DIR, or --no-plots)") from None
        print("\nPlots:\n" + "\n".join(_shown(f"  {p}") for p in written))


if __name__ == "__main__":
    sys.exit(main())
