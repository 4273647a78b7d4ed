"""Each form of the iqa_optuna search-space grammar parses to the right Optuna distribution."""
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from iqa.errors import ConfigError
from iqa.optuna_setup import build_pruner, build_sampler, masked
from iqa.search_space import as_override, from_params, grid_choices, parse


@pytest.mark.parametrize("expr,expected", [
    ("choice(concat, fpn, attention)", CategoricalDistribution(["concat", "fpn", "attention"])),
    ("concat,fpn", CategoricalDistribution(["concat", "fpn"])),
    ("choice(0.1, 0.3, true)", CategoricalDistribution([0.1, 0.3, True])),
    ("range(1, 10, 2)", IntDistribution(1, 9, step=2)),
    ("range(8, 33, 8)", IntDistribution(8, 32, step=8)),
    ("range(0.05, 0.5, 0.15)", FloatDistribution(0.05, 0.35, step=0.15)),
    ("interval(0, 1)", FloatDistribution(0.0, 1.0)),
    ("int(interval(1, 10))", IntDistribution(1, 10)),
    ("tag(log, interval(1e-5, 1e-2))", FloatDistribution(1e-5, 1e-2, log=True)),
    ("tag(log, int(interval(8, 256)))", IntDistribution(8, 256, log=True)),
])
def test_each_form_parses_to_its_distribution(expr, expected):
    space, fixed = parse([f"model.x={expr}"])
    assert fixed == {}
    got = space["model.x"]
    assert type(got) is type(expected)
    assert got == expected or got.__dict__ == pytest.approx(expected.__dict__)


def test_plain_values_are_fixed_overrides_and_params_mapping_reads_yaml_types():
    space, fixed = parse(from_params({"loss.alpha": "interval(0, 1)", "trainer.epochs": 3, "data.cross": None})
                         + ["model=small"])
    assert list(space) == ["loss.alpha"]
    assert fixed == {"trainer.epochs": "3", "data.cross": "null", "model": "small"}


@pytest.mark.parametrize("expr,fragment", [
    ("range(5, 1)", "start < stop"),
    ("tag(log, interval(0, 1))", "positive lower bound"),
    ("interval(2, 1)", "low <= high"),
    ("glob(*)", "not part of the search-space grammar"),
    ("choice([1, 2], [3])", "plain values"),
    ("interval(0, ", "search space"),
])
def test_bad_forms_are_one_line_config_errors(expr, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")) as e:
        parse([f"loss.alpha={expr}"])
    assert "\n" not in str(e.value)


def test_suggested_values_round_trip_as_overrides():
    for value in ["fpn", "a b", "it's", 0.25, 3, True]:
        space, fixed = parse([as_override("k", value)])
        assert not space
        assert parse([f"k=choice({as_override('k', value).split('=', 1)[1]})"])[0]["k"].choices == (value,)


def test_grid_choices_enumerate_discrete_spaces_only():
    assert grid_choices("k", IntDistribution(1, 9, step=2)) == [1, 3, 5, 7, 9]
    assert grid_choices("k", FloatDistribution(0.05, 0.35, step=0.15)) == [0.05, 0.2, 0.35]
    with pytest.raises(ConfigError, match="grid sampler"):
        grid_choices("k", FloatDistribution(0.0, 1.0))


def test_samplers_and_pruners_by_name_with_their_options():
    assert type(build_sampler({"name": "random", "seed": 3})).__name__ == "RandomSampler"
    assert type(build_sampler({"name": "grid"}, {"k": [1, 2]})).__name__ == "GridSampler"
    assert build_pruner({"name": "median", "n_warmup_steps": 2})._n_warmup_steps == 2
    with pytest.raises(ConfigError, match="hydra.sweeper.sampler.name='sobol'"):
        build_sampler({"name": "sobol"})
    with pytest.raises(ConfigError, match="hydra.sweeper.pruner"):
        build_pruner({"name": "median", "warmup": 2})


def test_storage_urls_are_printed_without_password():
    assert masked("postgresql://ann:s3cret@db.example/iqa") == "postgresql://ann:***@db.example/iqa"
    assert "s3cret" not in masked("postgresql+psycopg://ann:s3cret@db/iqa")
