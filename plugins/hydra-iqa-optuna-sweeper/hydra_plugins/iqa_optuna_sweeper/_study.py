"""`python -m hydra_plugins.iqa_optuna_sweeper --storage URL [--study NAME]`: what a study found, and its plots.

Lists the studies in a storage; for one study prints the trial table (number, state, params,
mean ± std over seeds, duration), the best trial with its run folders, the confirm runs on
fresh seeds and the parameter importances, and writes optimisation-history, parallel-coordinate,
slice and importance plots into the study's latest sweep folder (or --out).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import optuna
from optuna.trial import TrialState

from hydra_plugins.iqa_optuna_sweeper._search_space import as_override
from hydra_plugins.iqa_optuna_sweeper._storage import masked, open_storage
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError

PLOTS = ("optimization_history", "parallel_coordinate", "slice", "param_importances")


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
    if "mean" in trial.user_attrs:
        n = len(trial.user_attrs.get("seeds_run", []))
        raced = f" ({n} seed{'s' * (n != 1)}, raced)" if "race" in trial.user_attrs else ""
        return f"{trial.user_attrs['mean']:.4f} ± {trial.user_attrs['std']:.4f}{raced}"
    return trial.user_attrs.get("fail_reason", "")[:60] if trial.state == TrialState.FAIL else ""


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
    lines += [f"  seed {seed}: {folder}" for seed, folder in best.user_attrs.get("run_dirs", {}).items()]
    lines += confirm_lines(study.user_attrs.get("confirm"))
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
    """One PNG per plot; a plot Optuna cannot draw yet (too few trials) is reported, not fatal."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    written = []
    for name in PLOTS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = getattr(vis, f"plot_{name}")(study)
            fig = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
            path = out_dir / f"study_{study.study_name}_{name}.png"
            fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
            plt.close(fig)
            written.append(str(path))
        except (RuntimeError, ValueError, ZeroDivisionError) as e:
            written.append(f"{name}: not drawn ({e})")
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
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def show(args: argparse.Namespace) -> None:
    """List the storage's studies and, for the chosen one, its trials, best trial, importances and plots."""
    storage = open_storage(args.storage, create=False)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    print(f"Studies in {masked(storage.url)}:\n" + "\n".join(list_studies(storage)))
    name = args.study or (names[0] if len(names) == 1 else None)
    if name is None:
        return
    if name not in names:
        raise SweepConfigError(f"no study named {name!r} in {masked(storage.url)}: one of {', '.join(names) or 'none'}")
    study = optuna.load_study(study_name=name, storage=storage)
    directions = ", ".join(d.name.lower() for d in study.directions)
    print(f"\nStudy {name} ({directions}, seeds {study.user_attrs.get('seeds') or 'none'}):\n"
          + "\n".join(trial_table(study)))
    print("\n" + "\n".join(best_and_importances(study)))
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
        print("\nPlots:\n" + "\n".join(f"  {p}" for p in written))


if __name__ == "__main__":
    sys.exit(main())
