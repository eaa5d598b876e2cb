"""Validation of the maps to filter: real floating-point torch tensors or numpy arrays, at least 2 x 2 pixels,
finite; computed in float32 or float64 and given back in the caller's type and dtype."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

Maps = torch.Tensor | np.ndarray

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_SHAPES = {3: "(N, H, W)", 4: "(N, C, H, W)"}


def _check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise if ``tensor`` holds NaN or inf (one min/max pass: both propagate NaN)."""
    low, high = torch.aminmax(tensor)
    if not bool(torch.isfinite(low) & torch.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinite values")


def _to_tensor(
    maps: Any, name: str, ndims: Sequence[int] | None = None, check_finite: bool = True
) -> tuple[torch.Tensor, Callable]:
    """Validate real maps and return them as a float32/float64 tensor plus a function restoring the input type.

    The tensor may share memory with ``maps``: callers must never write into it. With ``check_finite=False``
    the caller must check finiteness itself.
    """
    if isinstance(maps, np.ndarray):
        if maps.dtype.kind != "f":
            raise TypeError(f"{name} must hold real floating-point values; got dtype {maps.dtype}")
        compute_dtype = np.float64 if maps.dtype.itemsize >= 8 else np.float32
        array = maps.astype(compute_dtype, copy=False)
        if not array.flags.writeable or not array.dtype.isnative:
            array = array.copy()
        compute = np.ascontiguousarray(array)
        tensor = torch.from_numpy(compute)
        out_dtype = maps.dtype

        def restore(result: torch.Tensor) -> np.ndarray:
            return result.detach().cpu().numpy().astype(out_dtype, copy=False)

    elif isinstance(maps, torch.Tensor):
        if maps.is_complex() or not maps.is_floating_point():
            raise TypeError(f"{name} must hold real floating-point values; got dtype {maps.dtype}")
        tensor = maps.detach()
        in_dtype = maps.dtype
        if in_dtype in _LOW_PRECISION:
            tensor = tensor.float()

        def restore(result: torch.Tensor) -> torch.Tensor:
            return result.to(in_dtype)

    else:
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray; got {type(maps).__name__}")
    shape = tuple(tensor.shape)
    if tensor.dim() < 2 or (ndims is not None and tensor.dim() not in ndims):
        expected = "(..., H, W)" if ndims is None else " or ".join(_SHAPES[d] for d in ndims)
        raise ValueError(f"{name} must have shape {expected}; got shape {shape}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty; got shape {shape}")
    if shape[-2] < 2 or shape[-1] < 2:
        raise ValueError(f"{name} must be at least 2 x 2 pixels (H, W >= 2); got shape {shape}")
    if check_finite:
        _check_finite(tensor, name)
    return tensor, restore
