"""Gains of the low-pass filter kinds (ideal, gaussian, butterworth) on the ``rfft2`` bins, cached per size and
cutoffs (see :mod:`forgrad_viz.filters` for the formulas)."""

from __future__ import annotations

import functools
import math
from typing import Any

import torch

from forgrad_viz._utils import check_choice, check_positive_int
from forgrad_viz.filters.cutoffs import _IDEAL_TOLERANCE, CutoffLike, _check_size, _parse_cutoffs, _radius64

#: Filter kinds accepted by :func:`lowpass`, :func:`forgrad` and :func:`frequency_mask`.
KINDS = ("ideal", "gaussian", "butterworth")


@functools.lru_cache(maxsize=16)
def _cached_mask(
    height: int,
    width: int,
    cutoffs: tuple[float, ...],
    kind: str,
    order: int,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """(S, H, W//2+1) gains, computed in float64. Shared between calls: never write into the result."""
    radius = _radius64(height, width)[None]
    sigma = torch.tensor(cutoffs, dtype=torch.float64)[:, None, None]
    if kind == "ideal":
        gain = (radius <= sigma * (1.0 + _IDEAL_TOLERANCE)).to(torch.float64)
    elif kind == "gaussian":
        gain = torch.exp(-0.5 * math.log(2.0) * (radius / sigma) ** 2)
    else:
        gain = torch.rsqrt(1.0 + (radius / sigma) ** (2 * order))
    return gain.to(device=device, dtype=dtype)


def _mask(
    height: int,
    width: int,
    cutoffs: tuple[float, ...],
    kind: str,
    order: int,
    device: Any,
    dtype: torch.dtype,
) -> torch.Tensor:
    check_choice(kind, "kind", KINDS)
    check_positive_int(order, "order")
    return _cached_mask(height, width, cutoffs, kind, order, torch.device(device), dtype)


def frequency_mask(
    height: int,
    width: int,
    cutoff: CutoffLike,
    kind: str = "ideal",
    order: int = 2,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Gains of the low-pass filter on the ``rfft2`` bins of an ``height x width`` map.

    Parameters
    ----------
    height, width : int
        Map size (each >= 2).
    cutoff : float or 1-D sequence of S floats
        Cutoff(s) in cycles per image (see :mod:`forgrad_viz.filters`), each > 0.
    kind : {"ideal", "gaussian", "butterworth"}
        Filter shape; the smooth kinds have gain ``1 / sqrt(2)`` at the cutoff radius.
    order : int
        Butterworth order (>= 1); ignored by the other kinds.
    device, dtype
        Device and floating-point dtype of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(S, height, width // 2 + 1)`` (``S = 1`` for a single cutoff), gains in [0, 1], aligned with
        :func:`frequency_radius` and with ``torch.fft.rfft2`` output.

    Examples
    --------
    >>> frequency_mask(4, 4, 1.0)[0]
    tensor([[1., 1., 0.],
            [1., 0., 0.],
            [0., 0., 0.],
            [1., 0., 0.]])
    """
    height, width = _check_size(height, width)
    cutoffs, _ = _parse_cutoffs(cutoff)
    return _mask(height, width, cutoffs, kind, order, device or "cpu", dtype).clone()
