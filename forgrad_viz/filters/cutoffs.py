"""Cutoff units (cycles per image; see :mod:`forgrad_viz.filters`): the radius of each ``rfft2`` bin, parsing and
conversions of cutoffs, the largest useful cutoff and default cutoffs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from forgrad_viz._utils import check_positive_int
from forgrad_viz.filters.padding import check_padding, padded_size

CutoffLike = float | Sequence[float] | np.ndarray | torch.Tensor

#: Relative tolerance of the ideal filter: a bin at radius ``r`` is kept when ``r <= cutoff * (1 + tolerance)``.
_IDEAL_TOLERANCE = 1e-9


def _parse_cutoffs(cutoff: Any, name: str = "cutoff") -> tuple[tuple[float, ...], bool]:
    """Cutoffs as a tuple of floats and whether a sequence (rather than one number) was given."""
    if isinstance(cutoff, (bool, np.bool_, str, bytes)):
        raise TypeError(
            f"{name} must be a positive number or a 1-D sequence of them; got {type(cutoff).__name__}"
        )
    if isinstance(cutoff, torch.Tensor):
        cutoff = cutoff.detach().cpu().numpy()
    try:
        values = np.asarray(cutoff)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a positive number or a 1-D sequence of them") from error
    if values.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be a positive number or a 1-D sequence of real numbers; got dtype {values.dtype}"
        )
    if values.ndim > 1:
        raise ValueError(f"{name} must be a number or a 1-D sequence; got an array of shape {values.shape}")
    if values.ndim == 1 and values.size == 0:
        raise ValueError(f"{name} must not be an empty sequence")
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite (no NaN or inf); got {values.tolist()}")
    if np.any(values <= 0):
        raise ValueError(f"{name} must be > 0 (cycles per image); got {values.tolist()}")
    return tuple(float(v) for v in np.atleast_1d(values)), values.ndim == 1


def _check_size(height: Any, width: Any) -> tuple[int, int]:
    check_positive_int(height, "height", minimum=2)
    check_positive_int(width, "width", minimum=2)
    return height, width


def _radius64(height: int, width: int) -> torch.Tensor:
    """(H, W//2+1) float64 radius grid in cycles per image, on the CPU."""
    side = min(height, width)
    ky = torch.fft.fftfreq(height, d=1.0 / height, dtype=torch.float64)
    kx = torch.fft.rfftfreq(width, d=1.0 / width, dtype=torch.float64)
    return torch.hypot((ky * side / height)[:, None], (kx * side / width)[None, :])


def frequency_radius(
    height: int, width: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Radius in cycles per image of each bin of an ``rfft2`` spectrum of an ``height x width`` map.

    Parameters
    ----------
    height, width : int
        Map size (each >= 2).
    device : torch.device or str, optional
        Device of the result (CPU by default).
    dtype : torch.dtype
        Floating-point dtype of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(height, width // 2 + 1)``; entry ``[i, j]`` is ``sqrt((ky/H)^2 + (kx/W)^2) * min(H, W)`` with
        ``ky = fftfreq(H)[i] * H`` and ``kx = j``.

    Examples
    --------
    >>> frequency_radius(4, 4)[1]
    tensor([1.0000, 1.4142, 2.2361])
    """
    height, width = _check_size(height, width)
    return _radius64(height, width).to(device=device, dtype=dtype)


def max_cutoff(height: int, width: int, padding: str | None = None) -> float:
    """The largest bin radius of an ``height x width`` map: a cutoff at or above it removes nothing.

    With ``padding`` (see :mod:`~forgrad_viz.filters.padding`) it is the largest radius of the padded map, in
    cycles per original image: the same on even sizes, slightly larger on odd ones (a padded map of ``2H`` rows
    reaches 0.5 cycle per pixel, an odd map of ``H`` rows only ``(H - 1) / (2H)``).

    Examples
    --------
    >>> round(max_cutoff(224, 224), 2)
    158.39
    >>> round(max_cutoff(299, 299), 2), round(max_cutoff(299, 299, padding="reflect"), 2)
    (210.72, 211.42)
    """
    height, width = _check_size(height, width)
    padded = padded_size(height, width, check_padding(padding))
    return float(_radius64(*padded).max()) * min(height, width) / min(padded)


def cutoff_to_nyquist(cutoff: CutoffLike, height: int, width: int) -> float | np.ndarray:
    """Convert cutoffs in cycles per image to fractions of the Nyquist frequency of the shorter side.

    Nyquist along the shorter side is ``min(H, W) / 2`` cycles per image, so ``fraction = cutoff / (min(H, W)/2)``.
    A number gives a float, a sequence a numpy array.

    Examples
    --------
    >>> cutoff_to_nyquist(56, 224, 224)
    0.5
    """
    values, is_sequence = _parse_cutoffs(cutoff)
    height, width = _check_size(height, width)
    fractions = np.asarray(values) / (min(height, width) / 2)
    return fractions if is_sequence else float(fractions[0])


def nyquist_to_cutoff(fraction: CutoffLike, height: int, width: int) -> float | np.ndarray:
    """Convert fractions of the Nyquist frequency of the shorter side to cutoffs in cycles per image.

    The inverse of :func:`cutoff_to_nyquist`: ``cutoff = fraction * min(H, W) / 2``.

    Examples
    --------
    >>> nyquist_to_cutoff(0.5, 299, 299)
    74.75
    """
    values, is_sequence = _parse_cutoffs(fraction, name="fraction")
    height, width = _check_size(height, width)
    cutoffs = np.asarray(values) * (min(height, width) / 2)
    return cutoffs if is_sequence else float(cutoffs[0])


def default_cutoffs(height: int, width: int, n: int = 24) -> np.ndarray:
    """Log-spaced cutoffs from 1 cycle per image to :func:`max_cutoff`, one per distinct ideal filter.

    The ``n`` values ``geomspace(1, max_cutoff(height, width), n)`` are taken in order and a value is dropped
    when its ideal mask keeps the same bins as the previous one (on a fine grid near 1 cycle per image there are
    few bins: at 224 x 224, 1 and 1.25 keep the same 5). So every cutoff returned is a different ideal filter,
    the smallest of the grid's values that give it; the first is 1 (the mean and the lowest frequencies: an
    almost constant map; below it only the mean survives) and the last :func:`max_cutoff` (which removes
    nothing). At most ``n`` values: with the default ``n=24``, 22 at 224 x 224, 240 x 240 and 260 x 260,
    23 at 299 x 299, 20 at 64 x 64.

    Parameters
    ----------
    height, width : int
        Map size (each >= 2).
    n : int
        Number of log-spaced values before duplicates are dropped (>= 2).

    Returns
    -------
    numpy.ndarray
        Ascending cutoffs in cycles per image, shape ``(m,)`` with ``2 <= m <= n``.

    Examples
    --------
    >>> default_cutoffs(64, 64, n=3).round(2)
    array([ 1.  ,  6.73, 45.25])
    >>> len(default_cutoffs(224, 224))
    22
    """
    height, width = _check_size(height, width)
    check_positive_int(n, "n", minimum=2)
    cutoffs = np.geomspace(1.0, max_cutoff(height, width), n)
    radii = np.sort(_radius64(height, width).numpy().reshape(-1))
    # An ideal mask keeps the bins with radius <= cutoff (masks._IDEAL_TOLERANCE): nested sets, equal iff the
    # number of bins kept is equal.
    kept = np.searchsorted(radii, cutoffs * (1.0 + _IDEAL_TOLERANCE), side="right")
    return cutoffs[np.r_[True, kept[1:] != kept[:-1]]]
