"""Radially averaged power spectra and high-frequency energy of 2-D maps.

Frequencies are in cycles per image, the unit of the filter cutoffs (see :mod:`forgrad_viz.filters`): the DFT bin
``(ky, kx)`` of an ``H x W`` map lies at radius ``r = sqrt((ky/H)^2 + (kx/W)^2) * min(H, W)``.

Power of a bin is ``|DFT|^2 / (H * W)``, so that (Parseval) the power summed over every bin of the full spectrum
equals the sum of the squared pixel values, and white noise of variance ``v`` has an expected power ``v`` in
every bin. The spectra are computed from ``rfft2`` with each column that stands for two bins of the full
spectrum (``kx`` and ``-kx``, which lie at the same radius) counted twice, so the results are those of the full
``fft2`` spectrum.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from forgrad_viz._utils import check_choice, check_positive_int
from forgrad_viz.filters.cutoffs import CutoffLike, _parse_cutoffs, _radius64
from forgrad_viz.filters.maps import Maps, _to_tensor
from forgrad_viz.filters.masks import _mask

__all__ = ["high_frequency_energy", "radial_bins", "radial_spectrum"]


@functools.lru_cache(maxsize=16)
def _bin_layout(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin index (round half up of the radius) and multiplicity of each ``rfft2`` bin, flattened, on the CPU."""
    bins = torch.floor(_radius64(height, width) + 0.5).long()
    weights = torch.full(bins.shape, 2.0, dtype=torch.float64)
    weights[:, 0] = 1.0
    if width % 2 == 0:
        weights[:, -1] = 1.0
    return bins.reshape(-1), weights.reshape(-1)


def _bin_counts(height: int, width: int, include_dc: bool) -> torch.Tensor:
    """Number of full-spectrum bins in each radius bin 0..K-1 (DC left out unless ``include_dc``)."""
    bins, weights = _bin_layout(height, width)
    weights = weights.clone()
    if not include_dc:
        weights[0] = 0.0
    return torch.zeros(int(bins.max()) + 1, dtype=torch.float64).index_add_(0, bins, weights)


def _bin_range(height: int, width: int, n_bins: int | None, include_dc: bool) -> slice:
    """The radius bins reported: from 0 (or 1 when bin 0 holds only the left-out DC) for ``n_bins`` bins."""
    counts = _bin_counts(height, width, include_dc)
    start = 0 if counts[0] > 0 else 1
    available = counts.numel() - start
    if n_bins is None:
        return slice(start, counts.numel())
    check_positive_int(n_bins, "n_bins")
    if n_bins > available:
        raise ValueError(f"n_bins must be at most {available} for {height} x {width} maps; got {n_bins}")
    return slice(start, start + n_bins)


def radial_bins(
    height: int, width: int, n_bins: int | None = None, include_dc: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Radius bins used by :func:`radial_spectrum` and how many DFT bins each holds.

    Bin ``k`` holds the bins of the full ``fft2`` spectrum whose radius ``r`` (cycles per image) lies in
    ``[k - 0.5, k + 0.5)``.

    Parameters
    ----------
    height, width : int
        Map size (each >= 2).
    n_bins : int, optional
        Number of radius bins, from the lowest; all the bins up to the corner radius by default.
    include_dc : bool
        Whether the DC bin (the map's mean) is counted in bin 0. Bin 0 is left out when it would be empty.

    Returns
    -------
    frequencies : numpy.ndarray
        ``(K,)`` bin centres in cycles per image.
    counts : numpy.ndarray
        ``(K,)`` int64 number of full-spectrum DFT bins in each radius bin.

    Examples
    --------
    >>> frequencies, counts = radial_bins(4, 4)
    >>> frequencies, counts
    (array([1., 2., 3.]), array([8, 6, 1]))
    """
    check_positive_int(height, "height", minimum=2)
    check_positive_int(width, "width", minimum=2)
    kept = _bin_range(height, width, n_bins, include_dc)
    counts = _bin_counts(height, width, include_dc)[kept]
    return np.arange(kept.start, kept.stop, dtype=np.float64), counts.numpy().astype(np.int64)


def _power(tensor: torch.Tensor) -> torch.Tensor:
    """(B, H * (W//2+1)) power ``|rfft2|^2 / (H W)`` of maps flattened to (B, H, W)."""
    height, width = tensor.shape[-2:]
    spectrum = torch.fft.rfft2(tensor.reshape(-1, height, width))
    power = spectrum.real.square() + spectrum.imag.square()
    return power.reshape(power.shape[0], -1) / (height * width)


def radial_spectrum(
    maps: Maps,
    n_bins: int | None = None,
    include_dc: bool = False,
    normalize: bool = False,
    reduce: str = "mean",
) -> tuple[np.ndarray, Maps]:
    """Radially averaged power spectrum of each 2-D map.

    Parameters
    ----------
    maps : torch.Tensor or numpy.ndarray
        Real floating-point maps ``(..., H, W)``, ``H, W >= 2``. Tensors stay on their device.
    n_bins : int, optional
        Number of radius bins (from the lowest); by default every bin up to the corner radius.
    include_dc : bool
        Count the DC bin (the map's mean) in bin 0. Left out by default.
    normalize : bool
        Divide each map's spectrum by its total power over the counted bins, so that ``power * counts`` sums to 1
        over the bins (a map with no such power gives zeros, never NaN).
    reduce : {"mean", "sum"}
        ``"mean"``: the mean power per DFT bin in each radius bin (the radially *averaged* spectrum; empty bins
        give 0). ``"sum"``: the total power in each radius bin. ``mean * counts == sum`` with the counts of
        :func:`radial_bins`.

    Returns
    -------
    frequencies : numpy.ndarray
        ``(K,)`` bin centres in cycles per image; bin ``k`` holds radii in ``[k - 0.5, k + 0.5)``.
    power : torch.Tensor or numpy.ndarray
        ``(..., K)``, same type, dtype and device as ``maps``. Power is ``|DFT|^2 / (H * W)`` (Parseval: the sum
        over all bins, DC included, is the sum of squared pixel values).

    Examples
    --------
    >>> x = torch.arange(16.0).reshape(4, 4) % 2  # a cosine of 2 cycles per image along x, plus its mean
    >>> frequencies, power = radial_spectrum(x, reduce="sum")
    >>> frequencies, power
    (array([1., 2., 3.]), tensor([0., 4., 0.]))
    """
    check_choice(reduce, "reduce", ("mean", "sum"))
    tensor, restore = _to_tensor(maps, "maps")
    *batch, height, width = tensor.shape
    kept = _bin_range(height, width, n_bins, include_dc)
    bins, weights = _bin_layout(height, width)
    weights = weights.to(device=tensor.device, dtype=tensor.dtype)
    if not include_dc:
        weights = weights.clone()
        weights[0] = 0.0
    power = _power(tensor) * weights
    sums = power.new_zeros((power.shape[0], int(bins.max()) + 1))
    sums.index_add_(1, bins.to(tensor.device), power)
    sums = sums[:, kept]
    if normalize:
        total = power.sum(dim=1, keepdim=True)
        sums = torch.where(total > 0, sums / torch.where(total > 0, total, 1.0), 0.0)
    if reduce == "mean":
        counts = _bin_counts(height, width, include_dc)[kept].to(device=tensor.device, dtype=tensor.dtype)
        sums = torch.where(counts > 0, sums / counts.clamp(min=1), 0.0)
    frequencies = np.arange(kept.start, kept.stop, dtype=np.float64)
    return frequencies, restore(sums.reshape(*batch, -1))


def high_frequency_energy(maps: Maps, cutoff: CutoffLike) -> Maps:
    """Fraction of each map's non-DC power at radii strictly above the cutoff.

    The complement of what the ideal low-pass filter of :func:`forgrad_viz.filters.lowpass` keeps, DC left out:
    ``1 - (power kept by the ideal mask, minus DC) / (non-DC power)``.

    Parameters
    ----------
    maps : torch.Tensor or numpy.ndarray
        Real floating-point maps ``(..., H, W)``, ``H, W >= 2``.
    cutoff : float or 1-D sequence of S floats
        Cutoff(s) in cycles per image (> 0), as for the ideal filter (a bin exactly on the cutoff counts as kept).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Fractions in [0, 1], shape ``(...,)`` for one cutoff or ``(S, ...)`` for S, same type and dtype as
        ``maps``. A map with no non-DC power (a constant map) gives 0, never NaN.

    Examples
    --------
    >>> x = torch.arange(16.0).reshape(4, 4) % 2  # all its non-DC power at radius 2
    >>> high_frequency_energy(x, [1.0, 2.0])
    tensor([1., 0.])
    """
    tensor, restore = _to_tensor(maps, "maps")
    cutoffs, is_sequence = _parse_cutoffs(cutoff)
    *batch, height, width = tensor.shape
    _, weights = _bin_layout(height, width)
    weights = weights.to(device=tensor.device, dtype=tensor.dtype).clone()
    weights[0] = 0.0
    removed = 1.0 - _mask(height, width, cutoffs, "ideal", 2, tensor.device, tensor.dtype).reshape(
        len(cutoffs), -1
    )
    power = _power(tensor) * weights
    total = power.sum(dim=1)
    above = (power @ removed.T).T
    fraction = torch.where(total > 0, above / torch.where(total > 0, total, 1.0), 0.0).clamp(0.0, 1.0)
    fraction = fraction.reshape(len(cutoffs), *batch)
    return restore(fraction if is_sequence else fraction[0])
