"""A plain Hydra app whose value is set per seed, for the sweeper's tests of a trial's value over
seeds and of confirm runs, and for the winner's-curse benchmark.

Value of a job: `by_seed[seed]` (0 past the list's end) + `slope` x `x` + `spread` x `x` x (seed mod 3
- 1) + `noise_sd` x a standard normal drawn from (replicate, seed, x): with slope 0 no configuration
is truly better than another, and `spread` makes x=1 vary over seeds 0, 1, 2 with std `spread`.
It writes `metrics.json` (`value`, and `test`, the value plus an independent draw of the same
noise), returns (value, 2 by_seed[seed] - x) with `two_objectives=true`, and raises
optuna.TrialPruned with `prune=true`.
"""
import hashlib
import json
import random

import hydra
from omegaconf import DictConfig
from optuna import TrialPruned


def draw(*key) -> float:
    """A standard normal fixed by `key`: the same job gives the same value on any machine."""
    return random.Random(hashlib.sha256(repr(key).encode()).digest()).gauss(0.0, 1.0)


@hydra.main(version_base=None, config_path=".", config_name="noise_app")
def main(cfg: DictConfig):
    if cfg.prune:
        raise TrialPruned("the app was asked to prune (prune=true)")
    base = cfg.by_seed[cfg.seed] if 0 <= cfg.seed < len(cfg.by_seed) else 0.0
    value = (base + cfg.slope * cfg.x + cfg.spread * cfg.x * (cfg.seed % 3 - 1)
             + cfg.noise_sd * draw("value", cfg.replicate, cfg.seed, round(cfg.x, 12)))
    test = value + cfg.noise_sd * draw("test", cfg.replicate, cfg.seed, round(cfg.x, 12))
    with open("metrics.json", "w") as f:
        json.dump({"value": value, "test": test}, f)
    return (value, 2 * base - cfg.x) if cfg.two_objectives else value


if __name__ == "__main__":
    main()
