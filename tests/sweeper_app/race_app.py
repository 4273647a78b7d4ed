"""A plain Hydra app for adaptive seeds: its value is `x` plus a fixed offset per seed, so which
trial is close to which, and how far, is known exactly.

`noise` scales the seed offsets; each job appends `{"x", "seed"}` to `calls` when given; the job
of seed `interrupt_seed` with `x == interrupt_x` stops the sweep as Ctrl-C does, once (it creates
`interrupt_marker`); `steps` > 0 reports that many intermediate values (value + steps - step).
"""
import json
import os

import hydra
from omegaconf import DictConfig

from hydra_plugins.iqa_optuna_sweeper.reporting import current_trial

OFFSETS = {1: 0.5, 2: -1.0, 3: 0.8, 4: -0.3, 5: 0.0}  # seed -> offset, in units of `noise`


@hydra.main(version_base=None, config_path=".", config_name="race_app")
def main(cfg: DictConfig) -> float:
    if cfg.calls:
        with open(cfg.calls, "a") as f:
            f.write(json.dumps({"x": cfg.x, "seed": cfg.seed}) + "\n")
    if cfg.seed == cfg.interrupt_seed and cfg.x == cfg.interrupt_x and not os.path.exists(cfg.interrupt_marker):
        open(cfg.interrupt_marker, "w").close()
        raise KeyboardInterrupt
    value = cfg.x + cfg.noise * OFFSETS[cfg.seed]
    trial = current_trial(steps_per_seed=cfg.steps)
    for step in range(cfg.steps):
        if trial is not None:
            trial.report(value + cfg.steps - step, step)
    return value


if __name__ == "__main__":
    main()
