"""iqa-sweep: Hydra-configured experiments for no-reference image quality assessment."""

__version__ = "0.1.0"
