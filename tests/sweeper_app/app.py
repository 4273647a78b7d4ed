"""A plain Hydra app with none of the project's keys, for the sweeper's tests and benchmark.

Its value is a quadratic bowl (two objectives with `two_objectives=true`); it sleeps `sleep`
seconds, appends its start and end times to `timings` when given, raises with `error=true`,
reports `steps` intermediate values to its trial when `steps` > 0, and returns a dict of metrics
with `+as_dict=true`.
"""
import json
import time

import hydra
from omegaconf import DictConfig

from hydra_plugins.iqa_optuna_sweeper.reporting import current_trial


@hydra.main(version_base=None, config_path=".", config_name="app")
def main(cfg: DictConfig):
    start = time.time()
    if cfg.error:
        raise RuntimeError("the app was asked to fail (error=true)")
    trial = current_trial(steps_per_seed=cfg.steps)
    value = (cfg.x - 1) ** 2 + cfg.y ** 2 + 0.01 * cfg.get("seed", 0)
    for step in range(cfg.steps):
        if trial is not None:
            trial.report(value + cfg.steps - step, step)
    time.sleep(cfg.sleep)
    if cfg.timings:
        with open(cfg.timings, "a") as f:
            f.write(json.dumps({"start": start, "end": time.time(), "sleep": cfg.sleep}) + "\n")
    if cfg.get("as_dict"):  # a dict of metrics: hydra.sweeper.metric_names picks the objectives
        return {"value": value, "second": (cfg.x + 1) ** 2 + cfg.y ** 2, "x_plus_y": cfg.x + cfg.y}
    return (value, (cfg.x + 1) ** 2 + cfg.y ** 2) if cfg.two_objectives else value


def configure(cfg: DictConfig, trial) -> None:
    """custom_search_space: z near the suggested x, and a new key w."""
    x = trial.params["x"]
    trial.suggest_float("z", x - cfg.max_z_difference_from_x, x + cfg.max_z_difference_from_x)
    trial.suggest_float("+w", 0.0, 1.0)


if __name__ == "__main__":
    main()
