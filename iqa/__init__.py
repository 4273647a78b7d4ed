"""iqa-sweep: Hydra-configured experiments for no-reference image quality assessment."""
import os

# OpenMP threads that wait by sleeping, not spinning: on a machine shared with other jobs a
# spinning thread burns the time slice its preempted partner needs, and epochs took 15 to 40 times
# longer than the run's fair share (docs/benchmarks.md, "Under load"). OpenMP reads this when torch
# is first imported, which is why it is set here, before any module of the package imports torch.
# A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

__version__ = "0.1.0"
