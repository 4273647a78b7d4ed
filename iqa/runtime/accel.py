"""Speed options of a run: autocast precision, fp16 grad scaling, channels-last, torch.compile.

One `Accel` built from `cfg.runtime` carries every choice, so the training loop and evaluation
apply the same ones; the fp32 default is a no-op on every path.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Optional

import torch
from torch import nn

from iqa.errors import ConfigError

log = logging.getLogger("iqa")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_device_support(precision: str, device: torch.device) -> None:
    """bf16 needs an Ampere or newer GPU on CUDA; raise ConfigError before any work is done."""
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"runtime.precision=bf16 is not supported by {torch.cuda.get_device_name(device)}: "
                          f"use fp16 or fp32")


class Accel:
    """Precision, memory format and compilation of one run, applied to model, inputs and steps.

    fp16 scales the loss with a GradScaler (its small range would flush gradients to zero);
    bf16 has fp32's range and needs none. Losses are computed in fp32 from the autocast output.
    """

    def __init__(self, device: torch.device, precision: str = "fp32", channels_last: bool = False,
                 compile: bool = False, strict: bool = True, compile_backend: str = "inductor"):
        check_device_support(precision, device)
        self.device, self.precision = device, precision
        self.dtype: Optional[torch.dtype] = DTYPES[precision]
        self.channels_last, self.compile, self.strict = channels_last, compile, strict
        self.compile_backend = compile_backend
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        if precision == "fp16" and device.type == "cpu":
            log.warning("runtime.precision=fp16 on CPU is emulated and many times slower than fp32; bf16 is fast on CPU")

    @classmethod
    def from_config(cls, runtime_cfg, device: torch.device, repro_level: str) -> "Accel":
        return cls(device, runtime_cfg.precision, runtime_cfg.channels_last, runtime_cfg.compile,
                   strict=repro_level == "strict")

    def prepare(self, model: nn.Module) -> nn.Module:
        """The module to call for forward passes (compiled when asked); it shares `model`'s parameters.

        Keep saving `model` itself: a compiled wrapper's state_dict keys carry an `_orig_mod.` prefix.
        """
        log.info("speed: precision %s%s, channels_last %s, compile %s", self.precision,
                 " with grad scaling" if self.scaler.is_enabled() else "", self.channels_last, self.compile)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if not self.compile:
            return model
        if self.strict and self.compile_backend == "inductor":
            import torch._inductor.config as inductor_config
            inductor_config.deterministic = True  # no timing-based kernel choices under repro=strict
        return torch.compile(model, backend=self.compile_backend)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """A normalised NCHW batch in the memory format the model was prepared for."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self):
        """The autocast context of forward passes (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def state_dict(self) -> dict:
        """What an exact resume needs: the fp16 loss scale and its growth counter (empty otherwise)."""
        return {"grad_scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: Optional[dict]) -> None:
        if state and state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and optimizer step, through the GradScaler when it is enabled (fp16)."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
