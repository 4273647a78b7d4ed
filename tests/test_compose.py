"""Every option of every config group composes against the structured schema, validates, and
builds the object it names; each default is defined once."""
import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from helpers import CONF, compose
from iqa.build import build
from iqa.config import Config, validate
from iqa.train.optim import build_optimizer, build_scheduler

GROUPS = sorted({str(f.parent.relative_to(CONF)) for f in CONF.rglob("*.yaml")
                 if f.parent != CONF and not str(f.parent.relative_to(CONF)).startswith("hydra")})
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml"))]


def test_groups_and_schema_nodes():
    assert {"model", "model/fusion", "loss", "optim", "scheduler", "data", "repro", "experiment"} <= set(GROUPS)
    cfg = compose()
    assert {"trainer", "loader", "runtime"} <= set(cfg) and cfg.trainer.epochs == 10 and cfg.loader.patch_size == 64


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_validates_and_builds(group, option):
    cfg = compose(f"{group}={option}")
    validate(cfg)
    model = torch.nn.ModuleDict({"backbone": torch.nn.Linear(2, 2), "head": torch.nn.Linear(2, 1)})
    optimizer = build_optimizer(model, cfg.optim, cfg.trainer.lr_ratio)
    assert isinstance(build_scheduler(optimizer, cfg.scheduler), torch.optim.lr_scheduler.LRScheduler)
    pred = torch.tensor([0.2, 0.8, 0.5])
    assert build(cfg.loss, "loss")(pred, torch.tensor([0.1, 0.9, 0.3])).ndim == 0
    fusion = build(cfg.model.fusion, "model.fusion", [4, 8])
    feats = [torch.randn(1, 4, 4, 4), torch.randn(1, 8, 2, 2)]
    assert fusion(feats).shape == (1, 8, 2, 2)


def test_typed_groups_set_only_what_differs_from_the_schema():
    """One source of defaults: a yaml of a typed group never repeats the schema's value."""
    schema = OmegaConf.structured(Config)
    for group in ("model", "data"):
        for path in (CONF / group).glob("*.yaml"):
            node = OmegaConf.load(path)
            for key, value in node.items():
                if key in ("defaults", "name") or OmegaConf.is_missing(schema[group], key):
                    continue
                assert OmegaConf.to_container(node)[key] != OmegaConf.to_container(schema[group])[key], \
                    f"{path.relative_to(CONF)}: {key} repeats the schema default"


def test_seed_is_a_top_level_integer():
    assert compose("seed=7").seed == 7
    with pytest.raises(ConfigCompositionException):
        compose("seed=abc")


@pytest.mark.parametrize("override", ["loss.alpah=0.3", "trainer.patch_size=32", "optim.lr_ratio=5"])
def test_unknown_or_moved_key_fails_at_composition(override):
    with pytest.raises(ConfigCompositionException):
        compose(override)
