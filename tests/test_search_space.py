"""Each form of the sweeper's search-space grammar parses to the Optuna distribution
hydra-optuna-sweeper gives it; the sampler and pruner groups build Optuna's objects."""
import pytest
from hydra import compose, initialize
from hydra.utils import instantiate
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.iqa_optuna_sweeper._search_space import (as_override, from_config, from_overrides, grid_choices,
                                                            params_overrides)
from hydra_plugins.iqa_optuna_sweeper._storage import masked, scrub
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError


@pytest.mark.parametrize("expr,expected", [
    ("choice(concat, fpn, attention)", CategoricalDistribution(["concat", "fpn", "attention"])),
    ("concat,fpn", CategoricalDistribution(["concat", "fpn"])),
    ("choice(0.1, 0.3, true)", CategoricalDistribution([0.1, 0.3, True])),
    ("choice('a b', 1)", CategoricalDistribution(["a b", 1])),
    ("range(1, 3)", IntDistribution(1, 3)),  # stop included, as IntDistribution(low, high)
    ("range(8, 32, 8)", IntDistribution(8, 32, step=8)),
    ("range(0.5, 5.5, step=1)", FloatDistribution(0.5, 5.5, step=1.0)),
    ("interval(0, 1)", FloatDistribution(0.0, 1.0)),
    ("int(interval(1, 10))", IntDistribution(1, 10)),
    ("tag(log, interval(1e-5, 1e-2))", FloatDistribution(1e-5, 1e-2, log=True)),
    ("tag(log, int(interval(8, 256)))", IntDistribution(8, 256, log=True)),
])
def test_each_form_parses_to_its_distribution(expr, expected):
    space, fixed, deletes = from_overrides([f"model.x={expr}"])
    assert fixed == {} and deletes == []
    assert space["model.x"] == expected


def test_shuffled_range_is_categorical_over_its_values():
    (dist,) = from_overrides(["k=shuffle(range(1, 4))"])[0].values()
    assert isinstance(dist, CategoricalDistribution) and sorted(dist.choices) == [1, 2, 3]


def test_plain_values_are_fixed_and_deletes_are_kept_as_given():
    space, fixed, deletes = from_overrides(params_overrides({"a": "choice(1, 2)", "b": 5, "c": None})
                                           + ["d=small", "~z", "~w=10"])
    assert space == {"a": CategoricalDistribution([1, 2])}
    assert fixed == {"b": "5", "c": "null", "d": "small"}
    assert deletes == ["~z", "~w=10"]


@pytest.mark.parametrize("node,expected", [
    ({"type": "categorical", "choices": [1, 2, 3]}, CategoricalDistribution([1, 2, 3])),
    ({"type": "int", "low": 0, "high": 10}, IntDistribution(0, 10)),
    ({"type": "int", "low": 0, "high": 10, "step": 2}, IntDistribution(0, 10, step=2)),
    ({"type": "int", "low": 1, "high": 100, "log": True}, IntDistribution(1, 100, log=True)),
    ({"type": "float", "low": 0, "high": 1}, FloatDistribution(0, 1)),
    ({"type": "float", "low": 0, "high": 10, "step": 2}, FloatDistribution(0, 10, step=2)),
    ({"type": "float", "low": 1, "high": 100, "log": True}, FloatDistribution(1, 100, log=True)),
])
def test_deprecated_search_space_entries(node, expected):
    assert from_config(node) == expected


@pytest.mark.parametrize("expr,fragment", [
    ("range(5, 1)", "`low <= high` must hold"),
    ("tag(log, interval(0.0, 1))", "`low > 0` must hold for `log=True`"),
    ("glob(*)", "not part of the search-space grammar"),
    ("interval(0, ", "search space"),
])
def test_bad_forms_are_one_line_errors(expr, fragment):
    with pytest.raises(SweepConfigError, match=fragment.replace("(", r"\(")) as e:
        from_overrides([f"loss.alpha={expr}"])
    assert "\n" not in str(e.value)


def test_suggested_values_round_trip_as_overrides():
    for value in ["fpn", "a b", "it's", 0.25, 3, True]:
        space, fixed, _ = from_overrides([as_override("k", value)])
        assert not space
        assert from_overrides([f"k=choice({as_override('k', value).split('=', 1)[1]})"])[0]["k"].choices == (value,)


def test_grid_values_leave_out_a_ranges_stop():
    assert grid_choices("k", IntDistribution(1, 9, step=2)) == [1, 3, 5, 7]
    assert grid_choices("k", FloatDistribution(-1.0, 1.0, step=1.0)) == [-1.0, 0.0]
    assert grid_choices("k", CategoricalDistribution(["a", "b"])) == ["a", "b"]
    with pytest.raises(SweepConfigError, match="grid sampler"):
        grid_choices("k", FloatDistribution(0.0, 1.0))


def test_sampler_and_pruner_groups_take_options_without_plus():
    with initialize(version_base=None, config_path=None):
        cfg = compose(overrides=["hydra/sweeper=iqa_optuna", "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=3",
                                 "hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_warmup_steps=2"],
                      return_hydra_config=True)
    assert type(instantiate(cfg.hydra.sweeper.sampler)).__name__ == "RandomSampler"
    assert instantiate(cfg.hydra.sweeper.pruner)._n_warmup_steps == 2
    with initialize(version_base=None, config_path=None):
        cfg = compose(overrides=["hydra/sweeper=iqa_optuna"], return_hydra_config=True)
    tpe = instantiate(cfg.hydra.sweeper.sampler)
    assert type(tpe).__name__ == "TPESampler" and tpe._n_startup_trials == 10 and tpe._n_ei_candidates == 24
    assert cfg.hydra.sweeper.direction == "minimize" and cfg.hydra.sweeper.storage is None
    assert (cfg.hydra.sweeper.n_trials, cfg.hydra.sweeper.n_jobs, cfg.hydra.sweeper.max_failure_rate) == (20, 2, 0.0)


def test_motpe_is_refused_with_its_replacement():
    with initialize(version_base=None, config_path=None):
        cfg = compose(overrides=["hydra/sweeper=iqa_optuna", "hydra/sweeper/sampler=motpe"], return_hydra_config=True)
    with pytest.raises(Exception, match="The 'motpe' sampler was removed in Optuna 4.0"):
        instantiate(cfg.hydra.sweeper.sampler)


@pytest.mark.parametrize("url,shown", [
    ("postgresql://ann:s3cret@db.example/iqa", "postgresql://ann:***@db.example/iqa"),
    ("postgresql+psycopg://ann:s3cret@db/iqa", "postgresql+psycopg://ann:***@db/iqa"),
    ("postgresql://ann@db/iqa?password=s3cret&sslmode=require", "postgresql://ann@db/iqa?password=***&sslmode=require"),
    ("mysql://ann@db/iqa?passwd=s3cret", "mysql://ann@db/iqa?passwd=***"),
])
def test_storage_urls_are_printed_without_password(url, shown):
    assert masked(url) == shown
    assert scrub(f"connection to {url} failed: password s3cret refused\nmore", url) == \
        f"connection to {url.replace('s3cret', '***')} failed: password *** refused"
