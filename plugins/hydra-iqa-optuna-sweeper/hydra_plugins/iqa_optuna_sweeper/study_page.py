"""One self-contained HTML page of an Optuna study run by the iqa_optuna sweeper: the trial table
(params rounded, mean ± std and each seed's value), optimisation history with seed error bars,
parallel coordinates, slices and parameter importances. Figures are PNGs inlined as data URIs,
so the file can be mailed or archived and opens in any browser without a network.

Depends on optuna, matplotlib and the standard library only (the plugin does not import `iqa`).
Hydra imports every plugin module on each start, so optuna and matplotlib load inside the functions.
"""
from __future__ import annotations

import base64
import copy
import html
import io
import math
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

from hydra_plugins.iqa_optuna_sweeper._headline import OPTIMISTIC, headline

# Below this many finished trials fANOVA importances say more about the sampler than about the parameters.
FEW_TRIALS = 20
COLORMAP = "viridis"  # no white end: every trial stays visible on the page's white background


def _decimals(std: Optional[float]) -> int:
    """Decimal places that keep a spread's first significant digit (two when it is a 1)."""
    if std is None or not math.isfinite(std) or std <= 0:
        return 4
    exponent = math.floor(math.log10(std))
    return max(0, -exponent + (1 if std / 10 ** exponent < 2 else 0))


def _number(value) -> str:
    """A parameter as a reader wants it: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def _mean_std(trial: FrozenTrial) -> str:
    if "mean" not in trial.user_attrs:
        return ""
    places = _decimals(trial.user_attrs.get("std"))
    return f"{trial.user_attrs['mean']:.{places}f} ± {trial.user_attrs.get('std', 0.0):.{places}f}"


def _seed_values(trial: FrozenTrial) -> Dict[str, float]:
    values = trial.user_attrs.get("seed_values") or {}
    return {str(k): float(v) for k, v in values.items() if v is not None}


def _render(fig, tmp: io.BytesIO) -> None:
    """Draw `fig` as a PNG into an in-memory buffer (the page inlines it; nothing goes to disk)."""
    fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")


def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buffer = io.BytesIO()
    _render(fig, buffer)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _history(study: optuna.Study, done: List[FrozenTrial], objective: str) -> str:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for t in done:
        seeds = list(_seed_values(t).values())
        ax.scatter([t.number] * len(seeds), seeds, s=12, color="tab:gray", alpha=0.6, zorder=2,
                   label="seed value" if t is done[0] else None)
    means = [t.user_attrs.get("mean", t.value) for t in done]
    ax.errorbar([t.number for t in done], means, yerr=[t.user_attrs.get("std", 0.0) for t in done], fmt="o",
                color="tab:blue", capsize=3, zorder=3, label="mean ± std over seeds")
    best, best_so_far = [], None
    for t in done:
        better = best_so_far is None or (t.value > best_so_far if study.direction.name == "MAXIMIZE"
                                         else t.value < best_so_far)
        best_so_far = t.value if better else best_so_far
        best.append(best_so_far)
    ax.step([t.number for t in done], best, where="post", color="tab:red", label="best so far (trial value)")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def _axis_values(done: List[FrozenTrial], name: str):
    """A parameter's values on a 0..1 axis, and its tick labels (categories by index, numbers by range)."""
    raw = [t.params.get(name) for t in done]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
        low, high = min(raw), max(raw)
        span = (high - low) or 1.0
        return [(v - low) / span for v in raw], [(0.0, _number(float(low))), (1.0, _number(float(high)))]
    categories = sorted({str(v) for v in raw})
    step = 1.0 / max(1, len(categories) - 1)
    return [categories.index(str(v)) * step for v in raw], [(i * step, c) for i, c in enumerate(categories)]


def _parallel(done: List[FrozenTrial], names: List[str], objective: str) -> str:
    import matplotlib.pyplot as plt
    from matplotlib import cm, colormaps, colors
    columns = [_axis_values(done, n) for n in names]
    values = [t.value for t in done]
    norm = colors.Normalize(min(values), max(values) if max(values) > min(values) else min(values) + 1e-9)
    fig, ax = plt.subplots(figsize=(max(5, 2.2 * (len(names) + 1)), 4))
    xs = list(range(len(names) + 1))
    for i, t in enumerate(done):
        ys = [col[0][i] for col in columns] + [norm(t.value)]
        ax.plot(xs, ys, color=colormaps[COLORMAP](norm(t.value)), lw=1.6, alpha=0.85)
    for x, (_, ticks) in enumerate(columns):
        ax.axvline(x, color="k", lw=0.8)
        for y, text in ticks:
            ax.text(x + 0.03, y, text, fontsize=8, va="center")
    ax.axvline(len(names), color="k", lw=0.8)
    ax.set_xticks(xs, names + [objective], fontsize=9)
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=COLORMAP), ax=ax, label=f"trial value ({objective})")
    return _png(fig)


def _slices(done: List[FrozenTrial], names: List[str], objective: str) -> str:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names):
        xs = [t.params[name] for t in done if name in t.params]
        trials = [t for t in done if name in t.params]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
        positions = xs if numeric else [sorted({str(x) for x in xs}).index(str(x)) for x in xs]
        ax.errorbar(positions, [t.user_attrs.get("mean", t.value) for t in trials],
                    yerr=[t.user_attrs.get("std", 0.0) for t in trials], fmt="o", capsize=3, color="tab:blue")
        if not numeric:
            ax.set_xticks(range(len(set(map(str, xs)))), sorted({str(x) for x in xs}))
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{objective} (mean ± std)")
    return _png(fig)


def _importances(study: optuna.Study, n_done: int) -> str:
    import matplotlib.pyplot as plt
    import optuna
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError) as e:
        return f"<p>Parameter importances: not computed ({html.escape(str(e))}).</p>"
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.4 * len(names)))
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance (fANOVA, sums to 1)")
    ax.grid(axis="x", alpha=0.3)
    caveat = ""
    if n_done < FEW_TRIALS:
        caveat = (f'<p class="caveat">Only {n_done} finished trials: with fewer than about {FEW_TRIALS}, '
                  "importances are rough and may change with the next trials.</p>")
    return f'{caveat}<img alt="parameter importances" src="{_png(fig)}">'


def _table(trials: Sequence[FrozenTrial], names: List[str], seeds: List[str],
           best: Optional[FrozenTrial]) -> str:
    head = ["trial", "state", *names, "mean ± std", *[f"seed {s}" for s in seeds], "value", "duration"]
    rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for t in trials:
        per_seed = _seed_values(t)
        places = _decimals(t.user_attrs.get("std"))
        cells = [str(t.number), t.state.name, *[_number(t.params[n]) if n in t.params else "" for n in names],
                 _mean_std(t) or html.escape(str(t.user_attrs.get("fail_reason", ""))[:80]),
                 *[f"{per_seed[s]:.{places}f}" if s in per_seed else "" for s in seeds],
                 f"{t.value:.{places}f}" if t.value is not None else "",
                 f"{t.duration.total_seconds():.0f} s" if t.duration else ""]
        cls = ' class="best"' if best is not None and t.number == best.number else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "<table>" + "\n".join(rows) + "</table>"


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee}tr.best{background:#fff3c4;font-weight:bold}.caveat{color:#8a4b00}img{max-width:100%}
.headline{font-size:16px;white-space:pre-wrap}"""


def write_study_page(study: optuna.Study, path) -> Path:
    """Write the study's page to `path` (parents created); returns the path."""
    import matplotlib
    from optuna.trial import TrialState
    matplotlib.use("Agg")

    with matplotlib.rc_context({"text.parse_math": False}):  # a name with `$...$` is text, not mathtext
        page = _page(study)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_with(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path


def _readable(trial: FrozenTrial) -> FrozenTrial:
    """The trial with the attributes the page computes with (`mean`, `std`, `seed_values`, `run_dirs`)
    kept only when they have their type: anyone who can write to a study can set any attribute."""
    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    attrs = dict(trial.user_attrs)
    for key in ("mean", "std"):
        if key in attrs and not number(attrs[key]):
            del attrs[key]
    if isinstance(attrs.get("seed_values"), dict):
        attrs["seed_values"] = {k: v for k, v in attrs["seed_values"].items() if number(v)}
    else:
        attrs.pop("seed_values", None)
    if not isinstance(attrs.get("run_dirs"), dict):
        attrs.pop("run_dirs", None)
    readable = copy.copy(trial)
    readable.user_attrs = attrs
    return readable


def _page(study: optuna.Study) -> str:
    """The page's HTML: every string from the study (names, values, attributes) escaped."""
    if len(study.directions) > 1:
        raise ValueError("the page covers single-objective studies; this one has several objectives")
    trials = [_readable(t) for t in study.get_trials(deepcopy=False)]
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    names = list(dict.fromkeys(n for t in trials for n in t.params))
    seeds = list(dict.fromkeys(s for t in trials for s in _seed_values(t)))
    objective = str(study.user_attrs.get("objective", "objective"))
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
        lines = headline(best, confirm if confirm and confirm.get("trial") == best.number else None, on_test)
        parts.append('<p class="headline">' + "<br>".join(html.escape(line) for line in lines) + "</p>")
        folders = best.user_attrs.get("run_dirs") or {}
        if folders:
            parts.append("<ul>" + "".join(f"<li>seed {html.escape(str(s))}: <code>{html.escape(str(f))}</code></li>"
                                          for s, f in folders.items()) + "</ul>")
    else:
        parts.append('<h2 id="best">No complete trial yet</h2>')
    parts += ["<h2>Trials</h2>", _table(trials, names, seeds, best)]
    if done:
        parts += ["<h2>Optimisation history</h2>",
                  f'<img alt="optimisation history" src="{_history(study, done, objective)}">']
        if names:
            parts += ["<h2>Parallel coordinates</h2>",
                      f'<img alt="parallel coordinates" src="{_parallel(done, names, objective)}">',
                      "<h2>Slices</h2>", f'<img alt="slices" src="{_slices(done, names, objective)}">',
                      "<h2>Parameter importances</h2>", _importances(study, len(done))]
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
