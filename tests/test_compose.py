"""Every option of every config group composes against the structured schema and validates."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from iqa.config import register_configs, validate

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and not p.name.startswith("hydra"))
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml"))]

register_configs()


def _compose(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_the_issue_groups_exist():
    assert {"model", "loss", "optim", "scheduler", "data", "trainer", "repro", "experiment"} <= set(GROUPS)


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_validates(group, option):
    cfg = _compose(f"{group}={option}")
    validate(cfg)
    if group != "experiment":
        assert cfg[group].get("name", option) == option or group in ("trainer", "repro")


def test_seed_is_a_top_level_integer():
    assert _compose("seed=7").seed == 7
    with pytest.raises(ConfigCompositionException):
        _compose("seed=abc")


def test_unknown_key_fails_at_composition():
    with pytest.raises(ConfigCompositionException):
        _compose("loss.alpah=0.3")
