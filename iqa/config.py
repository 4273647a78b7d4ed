"""Structured config schema and value checks.

The dataclasses are registered with Hydra's ConfigStore so an unknown key or a wrong type fails
when the config is composed; `validate` checks the ranges no type can express.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from iqa.errors import ConfigError


@dataclass
class ModelConfig:
    name: str = MISSING
    backbone: str = MISSING
    backbone_args: Dict[str, Any] = field(default_factory=dict)
    pretrained: bool = False
    weights: Optional[str] = None
    fusion: str = "none"
    stages: int = 4
    lda_out: int = 16
    hyper_in: int = 112
    target_sizes: List[int] = field(default_factory=lambda: [224, 112, 56, 28, 14])
    dropout: float = 0.0
    drop_path_rate: float = 0.0


@dataclass
class LossConfig:
    name: str = "l1"
    alpha: float = 0.0
    margin: float = 0.0


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 2e-5
    lr_ratio: float = 10.0
    weight_decay: float = 5e-4


@dataclass
class SchedulerConfig:
    name: str = "none"
    step_size: int = 6
    gamma: float = 0.1
    eta_min: float = 0.0


@dataclass
class DatasetConfig:
    """Where one real dataset lives and how its images are prepared (conf/datasets.yaml)."""

    root: Optional[str] = None
    metadata: Optional[str] = None
    images: Optional[str] = None
    label: Optional[str] = None
    short_side: Optional[int] = None


@dataclass
class DataConfig(DatasetConfig):
    """The training set `name` (its DatasetConfig fields, when set, override `sets[name]`),
    how it is split, and the cross-dataset test sets (each configured by `sets[<name>]`)."""

    name: str = "synthetic"
    split: str = "random"
    on_bad_image: str = "error"
    cache_dir: Optional[str] = None
    n_refs: int = 40
    image_size: int = 96
    test_fraction: float = 0.2
    split_seed: int = 0
    cross: List[str] = field(default_factory=lambda: ["synthetic_cross"])
    sets: Dict[str, DatasetConfig] = field(default_factory=dict)


@dataclass
class TrainerConfig:
    epochs: int = 10
    patience: int = 3
    early_stopping: bool = True
    monitor: str = "test_srcc"
    batch_size: int = 32
    eval_batch_size: int = 16
    patch_size: int = 64
    train_patch_num: int = 4
    test_patch_num: int = 5
    test_crops: str = "grid"
    flip: bool = True
    color_jitter: float = 0.0
    num_workers: int = 0
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    jobs_per_gpu: int = 1
    cpu_threads: int = 0
    progress: Optional[bool] = None
    save_checkpoints: bool = True
    fingerprint_batches: int = 5
    resume: bool = False
    epochs_per_session: Optional[int] = None


@dataclass
class ReproConfig:
    level: str = "strict"


@dataclass
class TrialConfig:
    """Set on each job by the iqa_optuna sweeper: the Optuna trial that receives its per-epoch objective."""
    study: Optional[str] = None
    number: Optional[int] = None
    seed_index: int = 0


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    repro: ReproConfig = field(default_factory=ReproConfig)
    trial: TrialConfig = field(default_factory=TrialConfig)
    seed: int = 42
    objective: str = "test_srcc"
    mode: str = "train"
    checkpoint: Optional[str] = None
    extras: Any = None


def register_configs() -> None:
    """Make the schema available as `config_schema` for conf/config.yaml's defaults list."""
    ConfigStore.instance().store(name="config_schema", node=Config)


FUSIONS = ("none", "concat", "fpn", "attention")
LOSSES = ("l1", "ranking")
OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("none", "cosine", "step")
TEST_CROPS = ("grid", "center", "random")
REPRO_LEVELS = ("strict", "fast")
PRECISIONS = ("fp32", "bf16", "fp16")
MODES = ("train", "eval")
METRICS = ("srcc", "plcc", "krcc")
SPLITS = ("random", "official")
ON_BAD_IMAGE = ("error", "skip")
# The largest seed every consumer takes as it is (NumPy's legacy seeding, PYTHONHASHSEED for child processes).
MAX_SEED = 2**32 - 1
SEED_RANGE = f"an integer in [0, {MAX_SEED}]"


def _check(ok: bool, key: str, allowed: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is out of range: must be {allowed}")


def _one_of(key: str, value: Any, options: tuple) -> None:
    _check(value in options, key, "one of " + ", ".join(options), value)


def validate(cfg: Any) -> None:
    """Check value ranges; raise ConfigError naming the first bad key and its allowed range."""
    m, lo, o, s, d, t = cfg.model, cfg.loss, cfg.optim, cfg.scheduler, cfg.data, cfg.trainer
    _one_of("model.fusion", m.fusion, FUSIONS)
    _check(m.stages >= 1, "model.stages", ">= 1", m.stages)
    _check(m.lda_out >= 1, "model.lda_out", ">= 1", m.lda_out)
    _check(m.hyper_in >= 1, "model.hyper_in", ">= 1", m.hyper_in)
    _check(len(m.target_sizes) >= 2 and all(v >= 1 for v in m.target_sizes),
           "model.target_sizes", "a list of at least 2 positive sizes", list(m.target_sizes))
    _check(m.target_sizes[0] > 3 * m.lda_out, "model.target_sizes[0]",
           f"> 3 * model.lda_out ({3 * m.lda_out})", m.target_sizes[0])
    _check(0.0 <= m.dropout < 1.0, "model.dropout", "in [0, 1)", m.dropout)
    _check(0.0 <= m.drop_path_rate < 1.0, "model.drop_path_rate", "in [0, 1)", m.drop_path_rate)
    _one_of("loss.name", lo.name, LOSSES)
    _check(0.0 <= lo.alpha <= 1.0, "loss.alpha", "in [0, 1]", lo.alpha)
    _check(lo.name != "l1" or lo.alpha == 0, "loss.alpha", "0 with loss=l1 (loss=ranking mixes in the ranking term)",
           lo.alpha)
    _check(lo.margin >= 0.0, "loss.margin", ">= 0", lo.margin)
    _one_of("optim.name", o.name, OPTIMIZERS)
    _check(o.lr > 0, "optim.lr", "> 0", o.lr)
    _check(o.lr_ratio > 0, "optim.lr_ratio", "> 0", o.lr_ratio)
    _check(o.weight_decay >= 0, "optim.weight_decay", ">= 0", o.weight_decay)
    _one_of("scheduler.name", s.name, SCHEDULERS)
    _check(s.step_size >= 1, "scheduler.step_size", ">= 1", s.step_size)
    _check(0 < s.gamma <= 1, "scheduler.gamma", "in (0, 1]", s.gamma)
    _check(s.eta_min >= 0, "scheduler.eta_min", ">= 0", s.eta_min)
    _check(0.0 < d.test_fraction < 1.0, "data.test_fraction", "in (0, 1)", d.test_fraction)
    _check(d.n_refs >= 2, "data.n_refs", ">= 2", d.n_refs)
    _check(0 <= d.split_seed <= MAX_SEED, "data.split_seed", SEED_RANGE, d.split_seed)
    _one_of("data.split", d.split, SPLITS)
    _one_of("data.on_bad_image", d.on_bad_image, ON_BAD_IMAGE)
    for key, node in [("data", d), *((f"data.sets.{n}", v) for n, v in d.sets.items())]:
        _check(node.short_side in (None, 0) or node.short_side >= 16, f"{key}.short_side",
               ">= 16, or 0 to keep sizes", node.short_side)
    _check(len(set(d.cross)) == len(d.cross) and d.name not in d.cross, "data.cross",
           f"distinct names other than the training set {d.name!r}", list(d.cross))
    _check(t.epochs >= 1, "trainer.epochs", ">= 1", t.epochs)
    _check(t.patience >= 1, "trainer.patience", ">= 1", t.patience)
    _check(t.batch_size >= 2, "trainer.batch_size", ">= 2", t.batch_size)
    _check(t.eval_batch_size >= 1, "trainer.eval_batch_size", ">= 1", t.eval_batch_size)
    _check(t.patch_size >= 16, "trainer.patch_size", ">= 16", t.patch_size)
    _check(t.train_patch_num >= 1, "trainer.train_patch_num", ">= 1", t.train_patch_num)
    _check(t.test_patch_num >= 1, "trainer.test_patch_num", ">= 1", t.test_patch_num)
    _one_of("trainer.test_crops", t.test_crops, TEST_CROPS)
    _check(0.0 <= t.color_jitter < 1.0, "trainer.color_jitter", "in [0, 1)", t.color_jitter)
    _check(t.num_workers >= 0, "trainer.num_workers", ">= 0", t.num_workers)
    _check(t.fingerprint_batches >= 0, "trainer.fingerprint_batches", ">= 0", t.fingerprint_batches)
    _check(t.epochs_per_session is None or t.epochs_per_session >= 1, "trainer.epochs_per_session",
           "null or >= 1", t.epochs_per_session)
    _check(t.epochs_per_session is None or t.save_checkpoints, "trainer.epochs_per_session",
           "null when trainer.save_checkpoints=false (a paused run resumes from checkpoints/last.pt)",
           t.epochs_per_session)
    _check(t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda"),
           "trainer.device", "auto, cpu, cuda or cuda:N", t.device)
    _one_of("trainer.precision", t.precision, PRECISIONS)
    _check(t.jobs_per_gpu >= 1, "trainer.jobs_per_gpu", ">= 1", t.jobs_per_gpu)
    _check(t.cpu_threads >= 0, "trainer.cpu_threads", ">= 0 (0: the process's default)", t.cpu_threads)
    keys = metric_keys(d.cross, has_val=d.split == "official")
    _check(t.monitor in keys, "trainer.monitor", "one of " + ", ".join(keys), t.monitor)
    _check(cfg.objective in keys, "objective", "one of " + ", ".join(keys), cfg.objective)
    _one_of("repro.level", cfg.repro.level, REPRO_LEVELS)
    _one_of("mode", cfg.mode, MODES)
    _check(cfg.mode != "eval" or bool(cfg.checkpoint or m.weights), "checkpoint",
           "a checkpoint path (or model.weights=PATH) when mode=eval", cfg.checkpoint)
    _check(not cfg.checkpoint or cfg.mode == "eval" or t.resume, "checkpoint",
           "null in mode=train unless trainer.resume=true (it names the last.pt to continue from)", cfg.checkpoint)
    _check(not t.resume or cfg.mode == "train", "trainer.resume", "false when mode=eval", t.resume)
    _check(0 <= cfg.seed <= MAX_SEED, "seed", SEED_RANGE, cfg.seed)


def metric_keys(cross: List[str], has_val: bool = False) -> List[str]:
    """Every metric name a run reports per epoch, usable as monitor or objective."""
    splits = ["val", "test"] if has_val else ["test"]
    keys = [f"{split}_{m}" for split in splits for m in METRICS]
    keys += [f"cross_{name}_{m}" for name in cross for m in METRICS]
    return keys
