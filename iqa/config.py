"""Structured config schema and value checks.

The dataclasses are registered with Hydra's ConfigStore so an unknown key or a wrong type fails
when the config is composed; `validate` checks the ranges no type can express. Each default is
defined once: typed groups (trainer, loader, runtime, data, model) take theirs from the dataclasses
here and their yaml files set only what differs; `_target_` groups (loss, optim, scheduler,
model/fusion, the datasets) are whatever their yaml says.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from iqa.config_keys import check_known_keys
from iqa.errors import ConfigError
from iqa.targets import check_targets


@dataclass
class ModelConfig:
    """HyperIQA on a timm backbone; `fusion` is a `_target_` node of the `model/fusion` group, called
    with the backbone stages' channel counts."""

    name: str = MISSING
    backbone: str = MISSING
    # keyword arguments of timm.create_model, e.g. Swin's img_size: ${loader.patch_size}
    backbone_args: Dict[str, Any] = field(default_factory=dict)
    pretrained: bool = False
    weights: Optional[str] = None
    fusion: Any = MISSING
    stages: int = 4
    lda_out: int = 16
    hyper_in: int = 112
    target_sizes: List[int] = field(default_factory=lambda: [224, 112, 56, 28, 14])
    dropout: float = 0.0
    drop_path_rate: float = 0.0


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
    how it is split, and the cross-dataset test sets. Every dataset is a `_target_` node in
    `sets` (conf/datasets.yaml), so a new one is a yaml entry and a reader of its own."""

    name: str = "synthetic"
    split: str = "random"
    on_bad_image: str = "error"
    cache_dir: Optional[str] = None
    n_refs: int = 40
    image_size: int = 96
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    split_seed: int = 0
    split_file: Optional[str] = None
    split_column: Optional[str] = None
    cross: List[str] = field(default_factory=list)
    sets: Dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainerConfig:
    """The fit loop: how long, what picks the best epoch, learning-rate ratio, checkpoints, resume."""

    epochs: int = 10
    patience: int = 3
    early_stopping: bool = True
    # the metric that picks the best epoch and stops early: a validation metric (docs/protocol.md)
    monitor: str = "val_srcc"
    # the hypernetwork and target heads learn at optim's lr times this; the backbone at optim's lr
    lr_ratio: float = 10.0
    save_checkpoints: bool = True
    # batches.json records the first N training batches (0: none); compare runs with python -m iqa.consistency
    fingerprint_batches: int = 5
    # continue the run in hydra.run.dir (or from checkpoint=PATH) from its checkpoints/last.pt
    resume: bool = False
    # train at most this many epochs in this process, then save last.pt and stop (null: no limit)
    epochs_per_session: Optional[int] = None
    # keep last.pt (optimizer, scheduler, random state) once the run has finished; by default only
    # best.pt's weights stay (docs/reproducibility.md, "Disk")
    keep_resume_state: bool = False


@dataclass
class LoaderConfig:
    """Batches and patches: random training crops, deterministic evaluation crops."""

    batch_size: int = 32
    eval_batch_size: int = 16
    patch_size: int = 64
    train_patch_num: int = 4
    test_patch_num: int = 5
    test_crops: str = "grid"
    flip: bool = True
    color_jitter: float = 0.0
    num_workers: int = 0


@dataclass
class RuntimeConfig:
    """Where and how fast a job runs (docs/speed.md); none of it changes what a CPU run computes."""

    device: str = "auto"
    # fp32 | bf16 | fp16 autocast (fp16 adds grad scaling), NHWC, torch.compile
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    # with device=auto, parallel jobs share each GPU at most this many at a time (docs/launchers.md)
    jobs_per_gpu: int = 1
    # torch CPU threads per job; 0 keeps the default (all cores; a joblib worker gets its share).
    # CPU results are bitwise reproducible for the same seed and the same thread count.
    cpu_threads: int = 0
    progress: Optional[bool] = None


@dataclass
class ReproConfig:
    level: str = "strict"


@dataclass
class Config:
    """The whole run. `loss`, `optim` (`_partial_`) and `scheduler` (`_partial_`) are `_target_`
    nodes of their config groups: any class with that call signature plugs in."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: Any = MISSING
    optim: Any = MISSING
    scheduler: Any = MISSING
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    repro: ReproConfig = field(default_factory=ReproConfig)
    # one `_target_` node per chosen logger (conf/logger: csv, tensorboard, mlflow, wandb)
    logger: Dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    # the metric returned to sweepers (and the Optuna objective): val_{srcc,plcc,krcc}; a test_* or
    # cross_<set>_* objective selects on a test set, and every table then says so (docs/protocol.md)
    objective: str = "val_srcc"
    mode: str = "train"
    checkpoint: Optional[str] = None
    # mode=eval rebuilds the checkpoint's own model; its fusion `_target_` is called only when it is
    # one of the project's or this config's model.fusion. true calls any target the file names,
    # which can run any code: only for a checkpoint from someone you trust.
    trust_checkpoint: bool = False


def register_configs() -> None:
    """Make the schema available as `config_schema` for conf/config.yaml's defaults list."""
    ConfigStore.instance().store(name="config_schema", node=Config)


TEST_CROPS = ("grid", "center", "random")
REPRO_LEVELS = ("strict", "fast")
PRECISIONS = ("fp32", "bf16", "fp16")
MODES = ("train", "eval")
METRICS = ("srcc", "plcc", "krcc")
SPLITS = ("random", "official")
ON_BAD_IMAGE = ("error", "skip")
RANKING_LOSS = "iqa.train.losses.RankingLoss"  # its alpha and margin are range-checked here
# The largest seed every consumer takes as it is (NumPy's legacy seeding, PYTHONHASHSEED for child processes).
MAX_SEED = 2**32 - 1
MIN_PATCH = 16  # the smallest loader.patch_size; an image with a shorter side fits no patch
SEED_RANGE = f"an integer in [0, {MAX_SEED}]"


def _check(ok: bool, key: str, allowed: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is out of range: must be {allowed}")


def _is_number(value: Any, integer: bool = False) -> bool:
    """A real number (an integer when `integer`), not a bool, string or list: keys of `_target_`
    nodes have no schema type, so a value of the wrong type reaches here."""
    kinds = (int,) if integer else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    """A config value as it reads in a message (a list, not a ListConfig)."""
    return OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value


def _one_of(key: str, value: Any, options: tuple) -> None:
    _check(value in options, key, "one of " + ", ".join(options), value)


def validate(cfg: Any) -> None:
    """Check that every key is known (also those added with `+`), every value in range and every
    `_target_` importable; raise ConfigError naming the first bad key and what it may be."""
    check_known_keys(cfg, Config)
    m, d, t, ld, rt = cfg.model, cfg.data, cfg.trainer, cfg.loader, cfg.runtime
    _check(m.stages >= 1, "model.stages", ">= 1", m.stages)
    _check(m.lda_out >= 1, "model.lda_out", ">= 1", m.lda_out)
    _check(m.hyper_in >= 1, "model.hyper_in", ">= 1", m.hyper_in)
    _check(len(m.target_sizes) >= 2 and all(v >= 1 for v in m.target_sizes),
           "model.target_sizes", "a list of at least 2 positive sizes", list(m.target_sizes))
    _check(m.target_sizes[0] > 3 * m.lda_out, "model.target_sizes[0]",
           f"> 3 * model.lda_out ({3 * m.lda_out})", m.target_sizes[0])
    _check(0.0 <= m.dropout < 1.0, "model.dropout", "in [0, 1)", m.dropout)
    _check(0.0 <= m.drop_path_rate < 1.0, "model.drop_path_rate", "in [0, 1)", m.drop_path_rate)
    for group in ("loss", "optim", "scheduler"):
        _check(isinstance(cfg[group], DictConfig) and "_target_" in cfg[group], group,
               f"a config node with a _target_ (pick one from conf/{group}/ or add your own yaml)", cfg[group])
    _check(isinstance(m.fusion, DictConfig) and "_target_" in m.fusion, "model.fusion",
           "a config node with a _target_ (pick one with model/fusion=NAME)", m.fusion)
    if cfg.loss._target_ == RANKING_LOSS:
        _check(_is_number(cfg.loss.alpha), "loss.alpha", "a number in [0, 1]", _plain(cfg.loss.alpha))
        _check(0.0 <= cfg.loss.alpha <= 1.0, "loss.alpha", "in [0, 1]", cfg.loss.alpha)
        _check(_is_number(cfg.loss.margin), "loss.margin", "a number >= 0", _plain(cfg.loss.margin))
        _check(cfg.loss.margin >= 0.0, "loss.margin", ">= 0", cfg.loss.margin)
    _check(t.lr_ratio > 0, "trainer.lr_ratio", "> 0", t.lr_ratio)
    _check(0.0 < d.test_fraction < 1.0, "data.test_fraction", "in (0, 1)", d.test_fraction)
    _check(0.0 <= d.val_fraction < 1.0, "data.val_fraction", "in [0, 1) (0: no validation part)", d.val_fraction)
    _check(not d.split_column or d.name == "csv", "data.split_column",
           "null unless data=csv (only a csv metadata file names its split in a column)", d.split_column)
    _check(not d.split_file or (d.split == "random" and not d.split_column), "data.split_file",
           "null with data.split=official or data.split_column (a run takes its split from one place)", d.split_file)
    _check(d.n_refs >= 2, "data.n_refs", ">= 2", d.n_refs)
    _check(0 <= d.split_seed <= MAX_SEED, "data.split_seed", SEED_RANGE, d.split_seed)
    _one_of("data.split", d.split, SPLITS)
    _one_of("data.on_bad_image", d.on_bad_image, ON_BAD_IMAGE)
    for key, node in [("data", d), *((f"data.sets.{n}", v) for n, v in d.sets.items())]:
        short_side = node.get("short_side")
        _check(short_side is None or _is_number(short_side, integer=True), f"{key}.short_side",
               "an integer >= 16, or 0 to keep sizes", _plain(short_side))
        _check(short_side in (None, 0) or short_side >= 16, f"{key}.short_side", ">= 16, or 0 to keep sizes",
               short_side)
    _check(len(set(d.cross)) == len(d.cross) and d.name not in d.cross, "data.cross",
           f"distinct names other than the training set {d.name!r}", list(d.cross))
    _check(t.epochs >= 1, "trainer.epochs", ">= 1", t.epochs)
    _check(t.patience >= 1, "trainer.patience", ">= 1", t.patience)
    _check(t.fingerprint_batches >= 0, "trainer.fingerprint_batches", ">= 0", t.fingerprint_batches)
    _check(t.epochs_per_session is None or t.epochs_per_session >= 1, "trainer.epochs_per_session",
           "null or >= 1", t.epochs_per_session)
    _check(t.epochs_per_session is None or t.save_checkpoints, "trainer.epochs_per_session",
           "null when trainer.save_checkpoints=false (a paused run resumes from checkpoints/last.pt)",
           t.epochs_per_session)
    _check(ld.batch_size >= 2, "loader.batch_size", ">= 2", ld.batch_size)
    _check(ld.eval_batch_size >= 1, "loader.eval_batch_size", ">= 1", ld.eval_batch_size)
    _check(ld.patch_size >= MIN_PATCH, "loader.patch_size", f">= {MIN_PATCH}", ld.patch_size)
    _check(ld.train_patch_num >= 1, "loader.train_patch_num", ">= 1", ld.train_patch_num)
    _check(ld.test_patch_num >= 1, "loader.test_patch_num", ">= 1", ld.test_patch_num)
    _one_of("loader.test_crops", ld.test_crops, TEST_CROPS)
    _check(0.0 <= ld.color_jitter < 1.0, "loader.color_jitter", "in [0, 1)", ld.color_jitter)
    _check(ld.num_workers >= 0, "loader.num_workers", ">= 0", ld.num_workers)
    _check(rt.device == "auto" or rt.device == "cpu" or rt.device.startswith("cuda"),
           "runtime.device", "auto, cpu, cuda or cuda:N", rt.device)
    _one_of("runtime.precision", rt.precision, PRECISIONS)
    _check(rt.jobs_per_gpu >= 1, "runtime.jobs_per_gpu", ">= 1", rt.jobs_per_gpu)
    _check(rt.cpu_threads >= 0, "runtime.cpu_threads", ">= 0 (0: the process's default)", rt.cpu_threads)
    has_val = d.val_fraction > 0 or d.split == "official" or bool(d.split_file or d.split_column)
    keys = metric_keys(d.cross, has_val=has_val)
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
    check_targets(cfg)


def metric_keys(cross: List[str], has_val: bool = False) -> List[str]:
    """Every metric name a run reports per epoch, usable as monitor or objective."""
    splits = ["val", "test"] if has_val else ["test"]
    keys = [f"{split}_{m}" for split in splits for m in METRICS]
    keys += [f"cross_{name}_{m}" for name in cross for m in METRICS]
    return keys
