"""iqa-sweep: Hydra-configured experiments for no-reference image quality assessment."""
from iqa.runtime.wait_policy import set_wait_policy

# Before any module of the package imports torch, which loads OpenMP (iqa/runtime/wait_policy.py).
set_wait_policy()

__version__ = "0.1.0"
