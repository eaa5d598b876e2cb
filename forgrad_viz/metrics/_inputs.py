"""Validation of the metrics' inputs (internal): the compute device, attribution maps, the score, constant maps."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from forgrad_viz._utils import check_choice

_SCORES = ("probability", "logit")
_CONSTANT_MAP_WARNING = "map is constant; pixels ranked in index order"


def compute_device(model: nn.Module, images: torch.Tensor) -> torch.device:
    """The model's device, or the images' device for a model without parameters or buffers."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return images.device if tensor is None else tensor.device


def check_map_values(maps: Any, name: str = "maps") -> torch.Tensor:
    """A finite real tensor (numpy arrays are converted)."""
    if isinstance(maps, np.ndarray):
        maps = torch.from_numpy(maps)
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array; got {type(maps).__name__}")
    if maps.dtype == torch.bool or maps.is_complex():
        raise TypeError(f"{name} must hold real numbers; got dtype {maps.dtype}")
    if not bool(torch.isfinite(maps).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return maps


def image_maps(maps: Any, images: torch.Tensor, name: str = "maps") -> torch.Tensor:
    """Validate maps of shape (N, H, W) or (N, C, H, W) against images (N, C, H, W); return (N, H, W)."""
    maps = check_map_values(maps, name)
    n, _, h, w = images.shape
    if maps.dim() not in (3, 4) or maps.shape[0] != n or tuple(maps.shape[-2:]) != (h, w):
        raise ValueError(
            f"{name} must have shape (N, H, W) or (N, C, H, W) matching the images (N={n}, H={h}, W={w}); "
            f"got shape {tuple(maps.shape)}"
        )
    if not maps.is_floating_point():
        maps = maps.to(torch.float32)
    return maps.mean(dim=1) if maps.dim() == 4 else maps


def stacked_maps(maps: Any, images: torch.Tensor, device: torch.device, name: str = "maps") -> torch.Tensor:
    """Validate maps of shape (..., N, H, W) against images; return them on ``device`` (float)."""
    maps = check_map_values(maps, name)
    n, _, h, w = images.shape
    if maps.dim() < 3 or tuple(maps.shape[-3:]) != (n, h, w):
        raise ValueError(
            f"{name} must have shape (..., N, H, W) matching the images (N={n}, H={h}, W={w}); got shape "
            f"{tuple(maps.shape)} (reduce the channels of (N, C, H, W) maps first, or use deletion/insertion)"
        )
    dtype = maps.dtype if maps.is_floating_point() else torch.float32
    return maps.to(device=device, dtype=dtype)


def check_score(score: Any) -> str:
    """The score to report: "probability" or "logit"."""
    return check_choice(score, "score", _SCORES)


def warn_constant(maps: torch.Tensor, stacklevel: int = 3) -> None:
    """Warn once if any 2-D map (last two axes) is constant (``stacklevel`` points at the user's call)."""
    flat = maps.flatten(-2)
    constant = int((flat.amax(dim=-1) == flat.amin(dim=-1)).sum())
    if constant:
        warnings.warn(f"{_CONSTANT_MAP_WARNING} ({constant} map(s))", UserWarning, stacklevel=stacklevel)
