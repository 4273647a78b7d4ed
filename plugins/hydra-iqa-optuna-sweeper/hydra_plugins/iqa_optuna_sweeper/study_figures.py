"""The figures of a single-objective study, one set for the study page and the PNG files of the
study inspector: optimisation history with each seed's value, parallel coordinates, slices with
mean ± std over seeds, and parameter importances. Axes carry the objective's name (the study's
metric name); trial numbers and integer parameters get integer ticks; every trial is drawn in a
colour visible on white.

A study is data that anyone who can write to its storage may have set: trials are drawn from
`readable` copies (attributes of the wrong type left out) and text is never read as mathtext.
Depends on optuna and matplotlib only (the plugin does not import `iqa`), both imported inside
the functions: Hydra imports every plugin module on each start.
"""
from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Dict, List, Union

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

COLORMAP = "viridis"  # no white end: every trial stays visible on a white background
NAMES = ("optimization_history", "parallel_coordinate", "slice", "param_importances")


def objective_name(study: optuna.Study) -> str:
    """The objective as the study names it (`set_metric_names`), else "objective"."""
    names = study.metric_names
    return str(names[0]) if names else str(study.user_attrs.get("objective", "objective"))


def label(value) -> str:
    """A parameter value for an axis: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def readable(trial: FrozenTrial) -> FrozenTrial:
    """The trial with the attributes the figures and the page compute with (`mean`, `std`,
    `seed_values`, `run_dirs`) kept only when they have their type."""
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
    out = copy.copy(trial)
    out.user_attrs = attrs
    return out


def seed_values(trial: FrozenTrial) -> Dict[str, float]:
    values = trial.user_attrs.get("seed_values") or {}
    return {str(k): float(v) for k, v in values.items() if v is not None}


def _is_number(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(integer=True))


def history(study: optuna.Study, done: List[FrozenTrial], objective: str):
    """Each trial's mean ± std over seeds, its seeds' values, and the best value so far."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for t in done:
        seeds = list(seed_values(t).values())
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
    _integer_ticks(ax.xaxis)
    ax.set_ylabel(objective)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _axis_values(done: List[FrozenTrial], name: str):
    """A parameter's values on a 0..1 axis, and its tick labels (categories by index, numbers by range)."""
    raw = [t.params.get(name) for t in done]
    if _is_number(raw):
        low, high = min(raw), max(raw)
        span = (high - low) or 1.0
        return [(v - low) / span for v in raw], [(0.0, label(low)), (1.0, label(high))]
    categories = sorted({str(v) for v in raw})
    step = 1.0 / max(1, len(categories) - 1)
    return [categories.index(str(v)) * step for v in raw], [(i * step, c) for i, c in enumerate(categories)]


def parallel(done: List[FrozenTrial], names: List[str], objective: str):
    """One line per trial through its parameters and its value, coloured by the value; every axis,
    the objective's included, labelled with its range."""
    import matplotlib.pyplot as plt
    from matplotlib import cm, colormaps, colors
    columns = [_axis_values(done, n) for n in names]
    values = [t.value for t in done]
    low, high = min(values), max(values)
    norm = colors.Normalize(low, high if high > low else low + 1e-9)
    fig, ax = plt.subplots(figsize=(max(5, 2.2 * (len(names) + 1)), 4))
    xs = list(range(len(names) + 1))
    for i, t in enumerate(done):
        ys = [col[0][i] for col in columns] + [norm(t.value)]
        ax.plot(xs, ys, color=colormaps[COLORMAP](norm(t.value)), lw=1.6, alpha=0.85)
    objective_ticks = [(norm(v), f"{v:.4f}") for v in sorted({low, (low + high) / 2, high})]
    for x, ticks in enumerate([ticks for _, ticks in columns] + [objective_ticks]):
        ax.axvline(x, color="k", lw=0.8)
        for y, text in ticks:
            ax.text(x + 0.03, y, text, fontsize=8, va="center")
    ax.set_xticks(xs, names + [objective], fontsize=9)
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=COLORMAP), ax=ax, label=f"trial value ({objective})")
    return fig


def slices(done: List[FrozenTrial], names: List[str], objective: str):
    """The objective (mean ± std over seeds) against each parameter."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names):
        trials = [t for t in done if name in t.params]
        xs = [t.params[name] for t in trials]
        numeric = _is_number(xs)
        categories = sorted({str(x) for x in xs})
        positions = xs if numeric else [categories.index(str(x)) for x in xs]
        ax.errorbar(positions, [t.user_attrs.get("mean", t.value) for t in trials],
                    yerr=[t.user_attrs.get("std", 0.0) for t in trials], fmt="o", capsize=3, color="tab:blue")
        if not numeric:
            ax.set_xticks(range(len(categories)), categories)
        elif all(isinstance(x, int) for x in xs):
            _integer_ticks(ax.xaxis)
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{objective} (mean ± std)")
    return fig


def importances(study: optuna.Study):
    """fANOVA importances as bars; raises what Optuna raises when it cannot compute them."""
    import matplotlib.pyplot as plt
    import optuna
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = optuna.importance.get_param_importances(study)
    names = list(found)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.4 * len(names)))
    ax.barh(names, [found[n] for n in names], color="tab:blue")
    ax.set_xlabel(f"importance for {objective_name(study)} (fANOVA, sums to 1)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def figures(study: optuna.Study) -> Dict[str, Union[object, str]]:
    """Every figure by its NAMES entry: a matplotlib Figure, or why it is not drawn. Call it (and
    save the figures) inside `plain_text()`."""
    from optuna.trial import TrialState

    if len(study.directions) > 1:
        return {name: "the figures cover single-objective studies" for name in NAMES}
    trials = [readable(t) for t in study.get_trials(deepcopy=False)]
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    names = list(dict.fromkeys(n for t in trials for n in t.params))
    objective = objective_name(study)
    if not done:
        return {name: "no COMPLETE trial yet" for name in NAMES}
    out: Dict[str, Union[object, str]] = {"optimization_history": history(study, done, objective)}
    if not names:
        return {**out, **{name: "no searched parameter" for name in NAMES[1:]}}
    out["parallel_coordinate"] = parallel(done, names, objective)
    out["slice"] = slices(done, names, objective)
    try:
        out["param_importances"] = importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError) as e:
        out["param_importances"] = str(e)
    return out


def plain_text():
    """A matplotlib context in which a `$...$` in a name is drawn as text, not parsed as mathtext."""
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False})
