"""The search space the sweeper builds from the config as Hydra hands it over (a DictConfig from
YAML): a mixed interval stays a float search, log scale wins over a step in the deprecated
`search_space` block, and a YAML list under `params:` is a choice of its items."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra.core.override_parser.overrides_parser import OverridesParser

from hydra_plugins.iqa_optuna_sweeper._search_space import (as_override, from_config, from_overrides, grid_choices,
                                                            params_overrides)
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError

APP = Path(__file__).resolve().parent / "sweeper_app" / "app.py"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def sweeper_space(tmp_path, sweeper_yaml: str, arguments=()):
    """(searched, fixed) as the sweeper Hydra instantiates from `hydra.sweeper` YAML computes them."""
    (tmp_path / "app.yaml").write_text("defaults:\n  - override hydra/sweeper: iqa_optuna\n  - _self_\n"
                                       "hydra:\n  sweeper:\n" + "".join(f"    {line}\n" for line in
                                                                       sweeper_yaml.strip().splitlines()))
    with initialize_config_dir(version_base=None, config_dir=str(tmp_path)):
        cfg = compose("app", return_hydra_config=True)
    space, fixed, _ = instantiate(cfg.hydra.sweeper, _recursive_=False).impl._space(list(arguments))
    return space, fixed


def sampled(dist, n=30):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return [study.ask({"k": dist}).params["k"] for _ in range(n)]


@pytest.mark.parametrize("expr,expected", [
    ("interval(1, 2.5)", FloatDistribution(1.0, 2.5)),
    ("interval(1, 3)", FloatDistribution(1.0, 3.0)),  # Hydra's interval is a float range unless int(...)
    ("range(1, 2.5, 0.5)", FloatDistribution(1.0, 2.5, step=0.5)),
    ("range(1, 3, 0.5)", FloatDistribution(1.0, 3.0, step=0.5)),
])
def test_a_mixed_int_and_float_expression_is_a_float_search(expr, expected):
    (dist,) = from_overrides([f"k={expr}"])[0].values()
    assert dist == expected
    values = sampled(dist)
    assert all(expected.low <= v <= expected.high for v in values)
    if expected.step is None:
        assert any(v != math.floor(v) for v in values)  # not only whole numbers
    else:
        assert any(v != math.floor(v) for v in values) == (expected.step != 1.0)


def test_int_interval_is_an_int_search_with_its_bounds():
    (dist,) = from_overrides(["k=int(interval(2, 9))"])[0].values()
    assert dist == IntDistribution(2, 9) and set(sampled(dist, 60)) == set(range(2, 10))


@pytest.mark.parametrize("node,expected", [
    ({"type": "int", "low": 1, "high": 64, "step": 4, "log": True}, IntDistribution(1, 64, log=True)),
    ({"type": "float", "low": 1e-4, "high": 1e-1, "step": 0.01, "log": True}, FloatDistribution(1e-4, 1e-1, log=True)),
    ({"type": "int", "low": 2, "high": 10, "step": 4}, IntDistribution(2, 10, step=4)),
    ({"type": "float", "low": 0.0, "high": 1.0, "step": 0.25, "log": False}, FloatDistribution(0.0, 1.0, step=0.25)),
    ({"type": "float", "low": 0.5, "high": 2.0}, FloatDistribution(0.5, 2.0)),
    ({"type": "int", "low": 3, "high": 5, "log": False}, IntDistribution(3, 5)),
])
def test_deprecated_search_space_log_scale_wins_over_a_step(tmp_path, node, expected):
    """As in hydra-optuna-sweeper: Optuna has no log scale with a step, so the step is left out."""
    assert from_config(node) == expected
    yaml = "search_space:\n  k:\n" + "".join(f"    {k}: {str(v).lower() if isinstance(v, bool) else v}\n"
                                              for k, v in node.items())
    assert sweeper_space(tmp_path, yaml) == ({"k": expected}, {})


def test_deprecated_search_space_categorical_and_bad_type(tmp_path):
    assert sweeper_space(tmp_path, "search_space:\n  k:\n    type: categorical\n    choices: [a, 2, true]") == (
        {"k": CategoricalDistribution(["a", 2, True])}, {})
    with pytest.raises(SweepConfigError, match=r"^search_space: type 'integer' must be one of int, float, categorical$"):
        from_config({"type": "integer", "low": 0, "high": 1})
    assert from_config({"type": "DistributionType.int", "low": 0, "high": 2}) == IntDistribution(0, 2)


def test_a_yaml_list_under_params_is_a_choice_of_its_items(tmp_path):
    space, fixed = sweeper_space(tmp_path, """
params:
  model.fusion: [concat, fpn]
  optim.lr: [1.0e-4, 3.0e-4]
  loader.batch_size: [8, 16]
  model.pretrained: [true, false]
  model.note: ["a b", "it's", "x,y"]
  model.maybe: [null, 3]
  model.only: [fpn]
  loss.alpha: interval(0, 1)
  trainer.epochs: 4
""")
    assert space == {
        "model.fusion": CategoricalDistribution(["concat", "fpn"]),
        "optim.lr": CategoricalDistribution([1e-4, 3e-4]),
        "loader.batch_size": CategoricalDistribution([8, 16]),
        "model.pretrained": CategoricalDistribution([True, False]),
        "model.note": CategoricalDistribution(["a b", "it's", "x,y"]),
        "model.maybe": CategoricalDistribution([None, 3]),
        "model.only": CategoricalDistribution(["fpn"]),
        "loss.alpha": FloatDistribution(0.0, 1.0),
    }
    assert fixed == {"trainer.epochs": "4"}


def test_params_lists_from_python_are_choices_too():
    assert params_overrides({"a": ["x", "y z"], "b": (1, 2), "c": None, "d": "range(1, 3)"}) == [
        "a=x,'y z'", "b=1,2", "c=null", "d=range(1, 3)"]
    assert params_overrides({"one": [3]}) == ["one=choice(3)"]
    with pytest.raises(SweepConfigError, match=r"^search space: Error parsing override 'k=choice\(\)'"):
        from_overrides(params_overrides({"k": []}))
    assert params_overrides(None) == []


def test_a_command_line_value_takes_a_params_key_out_of_the_search(tmp_path):
    space, fixed = sweeper_space(tmp_path, "params:\n  a: [1, 2]\n  b: choice(x, y)", ["a=5", "c=choice(3, 4)"])
    assert space == {"b": CategoricalDistribution(["x", "y"]), "c": CategoricalDistribution([3, 4])}
    assert fixed == {"a": "5"}


def test_quoted_items_and_null_of_a_comma_list_are_their_values():
    space, fixed, _ = from_overrides(["k='a b',c", "n=null,3", "q=choice('x,y', z)"])
    assert space == {"k": CategoricalDistribution(["a b", "c"]), "n": CategoricalDistribution([None, 3]),
                     "q": CategoricalDistribution(["x,y", "z"])}
    with pytest.raises(SweepConfigError, match=r"^k: choice\(\.\.\.\) takes plain values"):
        from_overrides(["k=[1,2],[3]"])


@pytest.mark.slow
def test_a_sweep_searches_a_yaml_list_and_its_jobs_get_the_values(tmp_path):
    """A real multirun of tests/sweeper_app: the job computes (x - 1)^2 + y^2 from what it receives."""
    storage = f"sqlite:///{tmp_path}/o.db"
    proc = subprocess.run([sys.executable, str(APP), "-m", f"hydra.sweep.dir={tmp_path / 's'}", "hydra.sweeper.n_trials=6",
                           "hydra.sweeper.params.x=[0.5,3]",
                           "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=1", "y=0",
                           f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=s"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert len(trials) == 6 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert {t.params["x"] for t in trials} <= {0.5, 3} and all(set(t.params) == {"x"} for t in trials)
    assert all(t.value == pytest.approx((t.params["x"] - 1) ** 2) for t in trials)


GRAMMAR = "(choice, range, interval, int(interval), tag(log, interval))"


@pytest.mark.parametrize("override,message", [
    ("loss.alpha=glob(*)", f"loss.alpha: 'loss.alpha=glob(*)' is not part of the search-space grammar {GRAMMAR}"),
    ("k=[1,2],[3]", "k: choice(...) takes plain values (numbers, strings, booleans, null)"),
    ("k=range(5, 1, step=1)", "k: range(5, 1, step=1): "),  # then Optuna's own words
    ("k=tag(log, interval(0, 1))", "k: tag(log, interval(0, 1)): "),
    ("k=range(0.5, 2.5, 0)", "k: range(0.5, 2.5, 0): "),  # a zero step is no continuous range
])
def test_a_bad_expression_is_named_with_its_key_and_text(override, message):
    with pytest.raises(SweepConfigError) as e:
        from_overrides([override])
    if message.endswith(": "):
        assert str(e.value).startswith(message) and "must hold" in str(e.value)
    else:
        assert str(e.value) == message


@pytest.mark.parametrize("value,text", [(True, "k=true"), (False, "k=false"), (None, "k=null"), (3, "k=3"),
                                        ("fpn", "k=fpn"), ("a b", "k='a b'"), ("it's", "k='it\\'s'"),
                                        ("C:\\x y", "k='C:\\x y'"), ("a\\'b\\", "k='a\\\\\\'b\\\\'")])
def test_a_trials_value_is_written_as_the_override_a_user_would_type(value, text):
    """The text the study page and the trial table print for re-running a trial."""
    assert as_override("k", value) == text
    space, fixed, _ = from_overrides([text])
    assert not space and OverridesParser.create().parse_override(text).value() == value


@pytest.mark.parametrize("expr", ["range(0, 1, 0.1)", "range(0, 0.3, 0.1)", "range(0.5, 2.5, 0.5)", "range(1, 9, 2)",
                                  "range(-3, 3)"])
def test_the_grid_takes_the_values_hydra_gives_a_range(expr):
    override = OverridesParser.create().parse_override(f"k={expr}")
    (dist,) = from_overrides([f"k={expr}"])[0].values()
    assert grid_choices("k", dist) == pytest.approx(list(override.sweep_iterator()))


def test_the_grid_refuses_a_log_scale():
    for expr in ["tag(log, int(interval(1, 64)))", "tag(log, interval(1e-4, 1e-1))", "interval(0, 1)"]:
        (dist,) = from_overrides([f"k={expr}"])[0].values()
        with pytest.raises(SweepConfigError, match=r"^k: the grid sampler needs choice\(\.\.\.\) or range\(\.\.\.\)"):
            grid_choices("k", dist)
