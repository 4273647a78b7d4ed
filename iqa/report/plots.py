"""Run-folder figures: metric curves per epoch and prediction-vs-MOS scatter."""
from __future__ import annotations

from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from iqa.atomic import replace_with  # noqa: E402


def _save(fig, path) -> None:
    replace_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def curves(history: List[Dict], path, best_epoch: int) -> None:
    """SRCC and PLCC of the validation and test splits and each cross set, one line per metric and set."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    epochs = [row["epoch"] for row in history]
    for ax, metric in zip(axes, ("srcc", "plcc")):
        for key in history[0]:
            if key.endswith(f"_{metric}") and key.startswith(("val_", "test_", "cross_")):
                ax.plot(epochs, [row[key] for row in history], marker="o", label=key[: -len(metric) - 1])
        if metric == "srcc" and "train_srcc" in history[0]:
            ax.plot(epochs, [row["train_srcc"] for row in history], ls="--", color="gray", label="train")
        ax.axvline(best_epoch, color="k", lw=0.8, ls=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.upper())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)


def scatter(pred, mos, path, title: str) -> None:
    """Predicted score against MOS for the test split at the best epoch."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(mos, pred, s=8, alpha=0.6)
    ax.set_xlabel("MOS")
    ax.set_ylabel("prediction")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    _save(fig, path)
