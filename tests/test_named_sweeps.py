"""Every file in sweeps/ composes on top of conf/ and states a search the sweeper accepts."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from optuna.distributions import CategoricalDistribution, FloatDistribution

from hydra_plugins.iqa_optuna_sweeper._search_space import from_overrides, params_overrides
from iqa.config import register_configs, validate

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))
register_configs()


def _compose(name):
    with initialize_config_dir(config_dir=str(ROOT / "sweeps"), version_base="1.3"):
        return compose(name, overrides=[f"hydra.searchpath=[file://{ROOT}/conf]"], return_hydra_config=True)


@pytest.mark.parametrize("name", SWEEPS)
def test_named_sweep_composes(name):
    cfg = _compose(name)
    validate(cfg)
    assert cfg.hydra.sweeper.params, name
    if cfg.hydra.sweeper._target_.endswith("IQAOptunaSweeper"):
        space, _, _ = from_overrides(params_overrides(cfg.hydra.sweeper.params))
        assert space and "seed" not in space and list(cfg.hydra.sweeper.seeds)
        assert cfg.hydra.sweeper.direction == "maximize" and cfg.hydra.sweeper.storage.startswith("sqlite:///")


def test_ranking_fusion_searches_what_the_issue_asks():
    cfg = _compose("ranking_fusion")
    space, fixed, _ = from_overrides(params_overrides(cfg.hydra.sweeper.params))
    assert space == {"loss.alpha": FloatDistribution(0.0, 1.0), "loss.margin": FloatDistribution(0.05, 1.0),
                     "model/fusion": CategoricalDistribution(["concat", "fpn", "attention"])}
    fusions = {p.stem for p in (ROOT / "conf" / "model" / "fusion").glob("*.yaml")}
    assert set(space["model/fusion"].choices) <= fusions and not fixed
    assert list(cfg.hydra.sweeper.seeds) == [42, 43, 44] and cfg.loss._target_.endswith("RankingLoss")
    assert cfg.hydra.sweeper.pruner._target_ == "optuna.pruners.MedianPruner" and cfg.hydra.sweeper.sampler.seed == 0
