"""One self-contained HTML page of an Optuna study run by the iqa_optuna sweeper: the trial table
(params rounded; mean ± std, each seed's value and the trial value to 4 decimals), and the
figures of `study_figures` (the same set `python -m ... --out DIR` writes as files). Figures are
PNGs inlined as data URIs, so the file can be mailed or archived and opens in any browser
without a network.

Depends on optuna, matplotlib and the standard library only (the plugin does not import `iqa`).
Hydra imports every plugin module on each start, so optuna and matplotlib load inside the functions.
"""
from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

from hydra_plugins.iqa_optuna_sweeper import study_figures
from hydra_plugins.iqa_optuna_sweeper._headline import OPTIMISTIC, headline
from hydra_plugins.iqa_optuna_sweeper.study_figures import objective_name, readable, seed_values

# Below this many finished trials fANOVA importances say more about the sampler than about the parameters.
FEW_TRIALS = 20


def _number(value) -> str:
    """A parameter as a reader wants it: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def _mean_std(trial: FrozenTrial) -> str:
    """Mean ± std over seeds to 4 decimals: trials that differ in the third decimal stay apart."""
    if "mean" not in trial.user_attrs:
        return ""
    return f"{trial.user_attrs['mean']:.4f} ± {trial.user_attrs.get('std', 0.0):.4f}"


def _render(fig, tmp: io.BytesIO) -> None:
    """Draw `fig` as a PNG into an in-memory buffer (the page inlines it; nothing goes to disk)."""
    fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")


def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buffer = io.BytesIO()
    _render(fig, buffer)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _importances(figure, n_done: int) -> str:
    if isinstance(figure, str):
        return f"<p>Parameter importances: not computed ({html.escape(figure)}).</p>"
    caveat = ""
    if n_done < FEW_TRIALS:
        caveat = (f'<p class="caveat">Only {n_done} finished trials: with fewer than about {FEW_TRIALS}, '
                  "importances are rough and may change with the next trials.</p>")
    return f'{caveat}<img alt="parameter importances" src="{_png(figure)}">'


def _table(trials: Sequence[FrozenTrial], names: List[str], seeds: List[str],
           best: Optional[FrozenTrial]) -> str:
    head = ["trial", "state", *names, "mean ± std", *[f"seed {s}" for s in seeds], "value", "duration"]
    rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for t in trials:
        per_seed = seed_values(t)
        cells = [str(t.number), t.state.name, *[_number(t.params[n]) if n in t.params else "" for n in names],
                 _mean_std(t) or html.escape(str(t.user_attrs.get("fail_reason", ""))[:80]),
                 *[f"{per_seed[s]:.4f}" if s in per_seed else "" for s in seeds],
                 f"{t.value:.4f}" if t.value is not None else "",
                 f"{t.duration.total_seconds():.0f} s" if t.duration else ""]
        cls = ' class="best"' if best is not None and t.number == best.number else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "<table>" + "\n".join(rows) + "</table>"


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee}tr.best{background:#fff3c4;font-weight:bold}.caveat{color:#8a4b00}img{max-width:100%}"""


def write_study_page(study: optuna.Study, path) -> Path:
    """Write the study's page to `path` (parents created); returns the path."""
    import matplotlib
    matplotlib.use("Agg")

    with study_figures.plain_text():
        page = _page(study)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_with(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path


def _page(study: optuna.Study) -> str:
    """The page's HTML: every string from the study (names, values, attributes) escaped."""
    from optuna.trial import TrialState

    if len(study.directions) > 1:
        raise ValueError("the page covers single-objective studies; this one has several objectives")
    trials = [readable(t) for t in study.get_trials(deepcopy=False)]
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    names = list(dict.fromkeys(n for t in trials for n in t.params))
    seeds = list(dict.fromkeys(s for t in trials for s in seed_values(t)))
    objective = objective_name(study)
    best = next(t for t in trials if t.number == study.best_trial.number) if done else None
    title = f"Study {study.study_name}"
    on_test = bool(study.user_attrs.get("selected_on_test"))
    parts = [f"<h1>{html.escape(title)}</h1>",
             *([f'<p class="caveat"><strong>The objective {html.escape(objective)} is measured on the test set '
                f"({OPTIMISTIC}).</strong></p>"] if on_test else []),
             f"<p>{study.direction.name.lower()} {html.escape(objective)} (mean over seeds "
             f"{html.escape(', '.join(seeds) or str(study.user_attrs.get('seeds', '?')))}); {len(trials)} trials, "
             f"{len(done)} complete. Sweep folder: <code>{html.escape(str(study.user_attrs.get('sweep_dir', '')))}</code></p>"]
    if best is not None:
        params = ", ".join(f"{html.escape(k)}={_number(v)}" for k, v in best.params.items())
        parts.append(f'<h2 id="best">Best trial {best.number}</h2><p>{html.escape(objective)} {_mean_std(best)} '
                     f"(value {best.value:.4f}); {params}</p>")
        confirm = study.user_attrs.get("confirm")
        confirm = confirm if isinstance(confirm, dict) and confirm.get("trial") == best.number else None
        lines = headline(best, confirm, on_test)
        parts.append('<p class="headline">' + "<br>".join(html.escape(line) for line in lines) + "</p>")
        folders = best.user_attrs.get("run_dirs") or {}
        if folders:
            parts.append("<ul>" + "".join(f"<li>seed {html.escape(str(s))}: <code>{html.escape(str(f))}</code></li>"
                                          for s, f in folders.items()) + "</ul>")
    else:
        parts.append('<h2 id="best">No complete trial yet</h2>')
    parts += ["<h2>Trials</h2>", _table(trials, names, seeds, best)]
    if done:
        figures = study_figures.figures(study)
        parts += ["<h2>Optimisation history</h2>",
                  f'<img alt="optimisation history" src="{_png(figures["optimization_history"])}">']
        if names:
            parts += ["<h2>Parallel coordinates</h2>",
                      f'<img alt="parallel coordinates" src="{_png(figures["parallel_coordinate"])}">',
                      "<h2>Slices</h2>", f'<img alt="slices" src="{_png(figures["slice"])}">',
                      "<h2>Parameter importances</h2>", _importances(figures["param_importances"], len(done))]
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    return page


def _replace_with(path: Path, write) -> None:
    """`write(tmp)` to a temporary file beside `path`, then rename it over `path`: a reader never
    sees half a page (iqa.atomic's rule, restated because the plugin does not import iqa)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
