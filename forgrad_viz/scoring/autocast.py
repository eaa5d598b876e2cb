"""Reduced-precision scoring in PyTorch: the model under ``torch.autocast``, logits returned as fp32."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from forgrad_viz.scoring.base import ScoringModel

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); elsewhere bf16 is emulated and slower than
    fp32 (measured on an AVX2 EPYC: EfficientNet-Lite0 about 19x slower per image at batch 8)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


class AutocastModel(ScoringModel):
    """``model(x)`` under ``torch.autocast(device, dtype)``, logits cast back to fp32.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> AutocastModel(net, "bf16")(torch.rand(3, 1, 2, 2)).dtype
    torch.float32
    """

    def __init__(self, model: nn.Module, precision: str) -> None:
        super().__init__(model, precision, "torch")
        self.dtype = _DTYPES[precision]
        self._warned = False

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        device = inputs.device.type
        if device == "cpu" and self.dtype is torch.bfloat16 and not self._warned and not native_cpu_bf16():
            warnings.warn(
                "precision='bf16' on a CPU without native bf16 (no AVX-512 BF16 or AMX): it is emulated and "
                "slower than fp32 here; backend='onnxruntime' (fp32) is the fast choice on this CPU",
                RuntimeWarning,
                stacklevel=2,
            )
            self._warned = True
        with torch.autocast(device, dtype=self.dtype):
            return self.model(inputs).float()
