"""Localisation on ground-truth masks: the share of the positive attribution mass inside the object."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from forgrad_viz.metrics._inputs import check_map_values

__all__ = ["localisation"]


def localisation(maps: Any, masks: Any) -> np.ndarray:
    """Share of the positive attribution mass inside the ground-truth mask (energy-based pointing game).

    Parameters
    ----------
    maps : torch.Tensor or numpy.ndarray
        (N, H, W) maps, or (N, C, H, W) reduced by the channel mean; negative values count as 0.
    masks : torch.Tensor or numpy.ndarray
        (N, H, W) bool, True on the object.

    Returns
    -------
    numpy.ndarray
        (N,) float64 in [0, 1]: ``sum(max(map, 0) * mask) / sum(max(map, 0))``. A map without positive mass
        scores 0, with a warning (never NaN).

    Examples
    --------
    >>> maps = torch.tensor([[[1.0, 3.0], [0.0, -2.0]]])
    >>> masks = torch.tensor([[[False, True], [True, True]]])
    >>> localisation(maps, masks)
    array([0.75])
    """
    maps = check_map_values(maps)
    if isinstance(masks, np.ndarray):
        masks = torch.from_numpy(masks)
    if not isinstance(masks, torch.Tensor) or masks.dtype != torch.bool:
        raise TypeError("masks must be a boolean tensor or array of shape (N, H, W)")
    if masks.dim() != 3 or maps.dim() not in (3, 4) or maps.shape[0] != masks.shape[0]:
        raise ValueError(
            f"maps must have shape (N, H, W) or (N, C, H, W) and masks (N, H, W) with the same N, H, W; got "
            f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)}"
        )
    if tuple(maps.shape[-2:]) != tuple(masks.shape[-2:]):
        raise ValueError(
            f"maps and masks must have the same H, W; got maps {tuple(maps.shape)} and masks "
            f"{tuple(masks.shape)}"
        )
    maps = maps.to(torch.float64)
    maps = maps.mean(dim=1) if maps.dim() == 4 else maps
    positive = maps.clamp(min=0.0)
    total = positive.flatten(1).sum(dim=1)
    inside = (positive * masks.to(positive.device)).flatten(1).sum(dim=1)
    empty = total <= 0
    if bool(empty.any()):
        warnings.warn(
            f"{int(empty.sum())} map(s) have no positive attribution mass; their localisation is 0",
            UserWarning,
            stacklevel=2,
        )
    return torch.where(empty, torch.zeros_like(inside), inside / torch.where(empty, 1.0, total)).cpu().numpy()
