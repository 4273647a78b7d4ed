"""A Hydra app with a known objective plus seed noise, for `benchmarks/adaptive_seeds.py`.

`true_value(x, y)` is a smooth bowl whose values span what a search over a loss weight spans in
validation SRCC (0.82 to 0.90, best at x=0.3, y=0.7); each (x, y, seed) adds Gaussian noise of
standard deviation `noise`, drawn from a generator seeded by the three, so a job repeated gives
the same value, and two seeds of one configuration differ as two trainings would.
"""
import hashlib
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

BEST = (0.3, 0.7)  # absolute config path: the benchmark also calls main() in its own process


def true_value(x: float, y: float) -> float:
    return 0.90 - 0.08 * ((x - BEST[0]) ** 2 + (y - BEST[1]) ** 2)


def noisy_value(x: float, y: float, seed: int, noise: float, repeat: int) -> float:
    key = hashlib.sha256(f"{x!r}:{y!r}:{seed}:{repeat}".encode()).digest()
    return true_value(x, y) + noise * float(np.random.default_rng(list(key[:16])).standard_normal())


@hydra.main(version_base=None, config_path=str(Path(__file__).parent), config_name="app")
def main(cfg: DictConfig) -> float:
    return noisy_value(cfg.x, cfg.y, cfg.seed, cfg.noise, cfg.repeat)


if __name__ == "__main__":
    main()
