"""A run folder and the name of every file in it: the one place that spells them."""
from __future__ import annotations

from pathlib import Path


class RunFolder:
    """The files one job writes (training or `mode=eval`) under its Hydra output folder."""

    def __init__(self, path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    @property
    def metrics(self) -> Path:
        """The run's result: written last, so its presence means the run finished."""
        return self.path / "metrics.json"

    @property
    def lock(self) -> Path:
        """Locked by the process that uses the folder (iqa.run_lock); names it (pid and host)."""
        return self.path / ".lock"

    @property
    def error(self) -> Path:
        """Why a run ended without metrics (a user error or a pruned trial)."""
        return self.path / "error.json"

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def batches(self) -> Path:
        """Fingerprints of the first training batches (python -m iqa.consistency)."""
        return self.path / "batches.json"

    @property
    def split(self) -> Path:
        """Every image of the training dataset and its part (image,part), read back by data.split_file."""
        return self.path / "split.csv"

    @property
    def predictions(self) -> Path:
        """Every evaluated image of the selected epoch (set,image,mos,pred)."""
        return self.path / "predictions.csv"

    @property
    def curves(self) -> Path:
        return self.path / "curves.png"

    @property
    def scatter(self) -> Path:
        return self.path / "scatter.png"

    @property
    def tracking(self) -> Path:
        """The ids of the run in MLflow / W&B, so a resumed run continues the same tracked run."""
        return self.path / "tracking.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def overrides(self) -> Path:
        """Hydra's record of the job's command-line overrides."""
        return self.path / ".hydra" / "overrides.yaml"

    @property
    def config(self) -> Path:
        """Hydra's record of the job's composed config."""
        return self.path / ".hydra" / "config.yaml"
