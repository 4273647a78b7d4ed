"""Run-folder figures: loss and metric curves per epoch, prediction-vs-MOS scatter with the logistic fit."""
from __future__ import annotations

import textwrap
from typing import Dict, List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from iqa.atomic import replace_with  # noqa: E402
from iqa.evaluation.metrics import correlations, logistic_fit, logistic_scores  # noqa: E402


def _save(fig, path) -> None:
    replace_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def run_title(cfg) -> str:
    """The configuration a figure belongs to: model, fusion, loss, optimizer, data, seed."""
    def name(node) -> str:
        return str(node.get("_target_", "?")).rsplit(".", 1)[-1]
    loss = name(cfg.loss) + (f"(alpha={cfg.loss.alpha:g})" if "alpha" in cfg.loss else "")
    fusion = name(cfg.model.fusion) if cfg.model.get("fusion") else "none"
    return (f"{cfg.model.name} (fusion {fusion}), {loss}, {name(cfg.optim)} lr={cfg.optim.get('lr', '?')}, "
            f"data {cfg.data.name}, seed {cfg.seed}")


def legend_name(key: str) -> str:
    """val_srcc -> validation, test_plcc -> test, cross_spaq_srcc -> cross-set spaq."""
    scope = key.rsplit("_", 1)[0]
    if scope.startswith("cross_"):
        return f"cross-set {scope[len('cross_'):]}"
    return {"val": "validation", "train": "train (patches)"}.get(scope, scope)


def curves(history: List[Dict], path, best_epoch: int, title: str = "", monitor: Optional[str] = None) -> None:
    """Training loss, then SRCC and PLCC of every evaluated set per epoch; the best epoch marked and labelled."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharex=True)
    epochs = [row["epoch"] for row in history]
    axes[0].plot(epochs, [row["train_loss"] for row in history], marker="o", color="tab:red", label="train loss")
    axes[0].set_ylabel("training loss")
    for ax, metric in zip(axes[1:], ("srcc", "plcc")):
        for key in history[0]:
            if key.endswith(f"_{metric}") and key.startswith(("val_", "test_", "cross_")):
                ax.plot(epochs, [row[key] for row in history], marker="o", label=legend_name(key))
        if metric == "srcc" and "train_srcc" in history[0]:
            ax.plot(epochs, [row["train_srcc"] for row in history], ls="--", color="gray", label="train (patches)")
        ax.set_ylabel(metric.upper())
    chosen = f"best epoch {best_epoch}" + (f" (on {legend_name(monitor)} {monitor.rsplit('_', 1)[-1].upper()})"
                                           if monitor else "")
    for ax in axes:
        ax.axvline(best_epoch, color="k", lw=1, ls=":", label=chosen)
        ax.text(best_epoch, 1.0, f"best {best_epoch}", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(title or "training curves", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(*axes[1].get_legend_handles_labels(), loc="lower center", ncol=6, fontsize=8, frameon=False)
    _save(fig, path)


def scatter(pred, mos, path, title: str) -> None:
    """`scatter_figure` saved as a PNG."""
    _save(scatter_figure(pred, mos, title), path)


def scatter_figure(pred, mos, title: str):
    """MOS against the prediction with the fitted 4-parameter logistic curve; beside the plot (so it
    covers no point): n, SRCC, PLCC of the raw predictions and PLCC after the logistic fit."""
    pred, mos = np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6.6, 4.8))
    ax.scatter(pred, mos, s=10, alpha=0.6, label="image")
    mapped, failure = logistic_fit(pred, mos)
    if not failure:
        order = np.argsort(pred)
        ax.plot(pred[order], mapped[order], color="tab:red", lw=2, label="4-parameter logistic fit")
    scores = correlations(pred, mos)
    fitted, _ = logistic_scores(pred, mos)
    text = (f"n = {len(pred)}\nSRCC = {scores['srcc']:.3f}\nPLCC (raw) = {scores['plcc']:.3f}\n"
            + (f"PLCC (logistic fit)\n  = {fitted['plcc_logistic']:.3f}" if not failure
               else textwrap.fill(f"no logistic fit: {failure}", 22)))
    ax.text(1.03, 1.0, text, transform=ax.transAxes, va="top", ha="left", fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"})
    ax.set_xlabel("prediction")
    ax.set_ylabel("MOS")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 0.45), frameon=False)
    return fig
