"""Experiment trackers as callbacks of the fit loop, chosen by the `logger` config group.

`logger=csv` (the default) writes the run folder's history.csv; `logger=tensorboard`, `logger=mlflow`
and `logger=wandb` also send every epoch's numbers (epoch as step, tags grouped by part:
`val/srcc`, `test/plcc`, `cross/<set>/srcc`, `train/loss`, `lr/head`), the resolved config as flat
parameters (`loss.alpha`, `seed`), the final metrics.json numbers and the run folder's files to the
tool researchers compare runs in. Several at once: `'logger=[csv,mlflow]'`. The tools are the
optional extra `pip install -e ".[tracking]"`.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from pathlib import Path
from typing import Dict, List, Optional

from hydra.utils import get_class
from omegaconf import OmegaConf

from iqa.atomic import write_json
from iqa.build import build
from iqa.errors import ConfigError
from iqa.train.callbacks import Callback, History

log = logging.getLogger("iqa")
EXTRA = 'pip install -e ".[tracking]"'


def flatten(tree, prefix: str = "") -> Dict[str, object]:
    """{'loss': {'alpha': 0.3}} -> {'loss.alpha': 0.3}; lists and None become strings."""
    out: Dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out


def final_numbers(metrics: dict) -> Dict[str, float]:
    """metrics.json's numbers, flat (`test_srcc`, `cross.spaq.srcc`, `last.test_srcc`), booleans dropped."""
    return {k: float(v) for k, v in flatten(metrics).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def run_context(cfg) -> Dict[str, str]:
    """Tags that group a job with its sweep: sweep folder, job number, Optuna trial number, seed."""
    from hydra_plugins.iqa_optuna_sweeper.reporting import ENV
    tags = {"seed": str(cfg.seed)}
    if os.environ.get(ENV):  # "<trial number>:<seed index>:<seed>:<study name>", set by the iqa_optuna sweeper
        number, _, _, study = os.environ[ENV].split(":", 3)
        tags.update({"trial": number, "study": study})
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        tags["overrides"] = " ".join(hc.overrides.task)
        if hc.mode == RunMode.MULTIRUN:
            tags.update({"sweep_dir": str(Path(hc.sweep.dir).resolve()), "job_num": str(hc.job.num)})
    return tags


def run_name(cfg, tags: Dict[str, str]) -> str:
    """What a tracker lists the run as: its overrides (seed last), else model and seed."""
    overrides = [o for o in tags.get("overrides", "").split()
                 if not o.startswith(("seed=", "trial.", "hydra.", "logger"))]
    return " ".join(overrides + [f"seed={cfg.seed}"]) if overrides else f"{cfg.model.name} seed={cfg.seed}"


class CSVLogger(History):
    """history.csv in the run folder, one row per epoch (what every run wrote before trackers)."""


class TrackingLogger(Callback):
    """What every tracker shares: the run's id kept in the run folder (a resumed run continues the
    same tracked run), the flat config, the run folder's files as artifacts at the end."""

    package = ""  # the module the tracker needs, checked before the run starts
    tool = ""  # its key in the run folder's tracking.json

    def __init__(self) -> None:
        self.params: Dict[str, object] = {}
        self.tags: Dict[str, str] = {}

    def saved_id(self, fit) -> Optional[str]:
        path = fit.folder.tracking
        return json.loads(path.read_text()).get(self.tool) if path.is_file() else None

    def save_id(self, fit, run_id: str) -> None:
        path = fit.folder.tracking
        ids = json.loads(path.read_text()) if path.is_file() else {}
        write_json(path, {**ids, self.tool: run_id})

    def on_fit_start(self, fit) -> None:
        self.params = flatten(fit.resolved_config)
        self.tags = {**run_context(fit.cfg), "run_folder": str(fit.folder.path.resolve())}
        self.start(fit, self.saved_id(fit))

    def start(self, fit, run_id: Optional[str]) -> None:
        raise NotImplementedError

    @staticmethod
    def artifacts(fit) -> List[Path]:
        folder = fit.folder
        return [p for p in (folder.metrics, folder.history, folder.predictions, folder.curves, folder.scatter)
                if p.is_file()]


def scalar_tag(key: str, cross=()) -> str:
    """A history.csv column as a tracker's tag, grouped by part as trackers show sections:
    val_srcc -> val/srcc, cross_spaq_plcc_logistic -> cross/spaq/plcc_logistic, train_loss ->
    train/loss, lr_head -> lr/head, epoch_s -> time/epoch_s."""
    for name in sorted(cross, key=len, reverse=True):  # a set's name may hold underscores
        if key.startswith(f"cross_{name}_"):
            return f"cross/{name}/{key[len(f'cross_{name}_'):]}"
    if key == "epoch_s":
        return "time/epoch_s"
    part, sep, rest = key.partition("_")
    return f"{part}/{rest}" if sep and part in ("train", "val", "test", "lr") else key


def _numbers(row: Dict, cross=()) -> Dict[str, float]:
    """An epoch's numbers under their grouped tags (history.csv keeps its column names)."""
    return {scalar_tag(k, cross): float(v) for k, v in row.items() if k != "epoch" and isinstance(v, (int, float))}


def _cross(fit) -> List[str]:
    return [str(n) for n in fit.cfg.data.cross]


class TensorBoardLogger(TrackingLogger):
    """Event files in `<run folder>/tensorboard`: scalars per epoch, and at the end the config and the
    final metrics as HParams, so `tensorboard --logdir SWEEP_DIR` compares a multirun's runs."""

    package, tool = "tensorboard", "tensorboard"

    def __init__(self, subdir: str = "tensorboard") -> None:
        super().__init__()
        self.subdir = subdir
        self.writer = None

    def start(self, fit, run_id) -> None:
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(str(fit.folder.path / self.subdir))
        self.writer.add_text("run_folder", self.tags["run_folder"], 0)

    def on_epoch_end(self, fit, epoch, row) -> None:
        for key, value in _numbers(row, _cross(fit)).items():
            self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def on_fit_end(self, fit, metrics) -> None:
        hparams = {k: v for k, v in self.params.items() if not k.startswith("data.sets.")}
        final = {f"final/{k}": v for k, v in final_numbers(metrics).items()}
        self.writer.add_hparams(hparams, final, run_name="hparams", global_step=metrics["epochs_run"])
        self.writer.close()


class MLflowLogger(TrackingLogger):
    """An MLflow run per job in `experiment` at `tracking_uri` (default a SQLite store under outputs/,
    artifacts beside it); tags group a sweep's jobs (sweep_dir, job_num, trial, seed)."""

    package, tool = "mlflow", "mlflow"

    def __init__(self, tracking_uri: str = "sqlite:///outputs/mlflow.db", experiment: str = "iqa-sweep") -> None:
        super().__init__()
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.client, self.run_id = None, None

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = None
        if self.tracking_uri.startswith("sqlite:///"):  # artifacts next to the database, not in the cwd
            location = (Path(self.tracking_uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
        return self.client.create_experiment(self.experiment, artifact_location=location)

    def start(self, fit, run_id) -> None:
        from mlflow.entities import Param, RunTag
        from mlflow.tracking import MlflowClient
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        if run_id is not None:
            self.run_id = run_id
            self.client.update_run(run_id, status="RUNNING")
            log.info("mlflow: continuing run %s", run_id)
            return
        tags = {f"iqa.{k}": v for k, v in self.tags.items()}
        run = self.client.create_run(self._experiment_id(), tags=tags, run_name=run_name(fit.cfg, self.tags))
        self.run_id = run.info.run_id
        self.save_id(fit, self.run_id)
        params = [Param(k, str(v)[:6000]) for k, v in self.params.items()]
        for i in range(0, len(params), 100):
            self.client.log_batch(self.run_id, params=params[i:i + 100])
        self.client.log_batch(self.run_id, tags=[RunTag("mlflow.note.content", self.tags["run_folder"])])
        log.info("mlflow: run %s in %s", self.run_id, self.tracking_uri)

    def _log(self, numbers: Dict[str, float], step: int) -> None:
        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in numbers.items()])

    def on_epoch_end(self, fit, epoch, row) -> None:
        self._log(_numbers(row, _cross(fit)), epoch)

    def on_fit_end(self, fit, metrics) -> None:
        self._log({f"final/{k}": v for k, v in final_numbers(metrics).items()}, metrics["epochs_run"])
        for path in self.artifacts(fit):
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, "FINISHED")


class WandbLogger(TrackingLogger):
    """A Weights & Biases run; `mode: offline` (the default) writes it under `<run folder>/wandb`
    without a network, for `wandb sync` later. Grouped by sweep folder, tagged with trial and seed."""

    package, tool = "wandb", "wandb"

    def __init__(self, project: str = "iqa-sweep", mode: str = "offline", entity: Optional[str] = None) -> None:
        super().__init__()
        self.project, self.mode, self.entity = project, mode, entity
        self.run = None

    def start(self, fit, run_id) -> None:
        import wandb
        self.run = wandb.init(project=self.project, entity=self.entity, mode=self.mode, dir=str(fit.folder.path),
                              id=run_id, resume="allow" if run_id else None, config=self.params,
                              name=run_name(fit.cfg, self.tags), group=self.tags.get("sweep_dir"),
                              tags=[f"{k}={self.tags[k]}" for k in ("seed", "trial", "job_num") if k in self.tags],
                              notes=self.tags["run_folder"], reinit="create_new",
                              settings=wandb.Settings(silent=True, console="off"))
        self.save_id(fit, self.run.id)

    def on_epoch_end(self, fit, epoch, row) -> None:
        self.run.log({**_numbers(row, _cross(fit)), "epoch": epoch}, step=epoch)

    def on_fit_end(self, fit, metrics) -> None:
        self.run.summary.update({f"final/{k}": v for k, v in final_numbers(metrics).items()})
        for path in self.artifacts(fit):
            self.run.save(str(path), base_path=str(fit.folder.path), policy="now")
        self.run.finish()


def build_loggers(cfg) -> List[Callback]:
    """The callbacks of `cfg.logger` (a node per chosen logger), in config order; a tracker whose
    package is missing stops the run before anything is built, naming the extra to install."""
    loggers = []
    for name, node in (OmegaConf.select(cfg, "logger", default=None) or {}).items():
        target = OmegaConf.select(node, "_target_", default=None)
        if target is None:
            raise ConfigError(f"logger.{name}: no _target_ (pick loggers with logger=csv or 'logger=[csv,mlflow]')")
        try:
            package = getattr(get_class(target), "package", "")
        except Exception:  # an unknown target: build() below names it
            package = ""
        if package and importlib.util.find_spec(package) is None:
            raise ConfigError(f"logger={name} needs the {package} package: {EXTRA}")
        loggers.append(build(node, f"logger.{name}"))
    return loggers
