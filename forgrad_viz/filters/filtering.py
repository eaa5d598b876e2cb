"""Low-pass filtering and FORGrad: one forward ``rfft2`` for every cutoff, masked inverse FFTs in tiles; the maps
padded first on request (:mod:`~forgrad_viz.filters.padding`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from forgrad_viz._threads import torch_threads
from forgrad_viz._utils import check_positive_int, iter_chunks
from forgrad_viz.filters.cutoffs import _IDEAL_TOLERANCE, CutoffLike, _parse_cutoffs
from forgrad_viz.filters.maps import Maps, _check_finite, _to_tensor
from forgrad_viz.filters.masks import _mask
from forgrad_viz.filters.padding import check_padding, crop, pad_maps, padded_cutoffs, padded_size
from forgrad_viz.filters.threads import fft_threads

_CPU_TILE_BYTES = 2 * 2**20
_CUDA_TILE_BYTES = 256 * 2**20


def _tile_shape(n_cutoffs: int, n_maps: int, bytes_per_map: int, device: torch.device) -> tuple[int, int]:
    """(cutoffs, maps) per tile: whole maps batches of several cutoffs, or part of one cutoff's maps."""
    budget = _CUDA_TILE_BYTES if device.type == "cuda" else _CPU_TILE_BYTES
    per_cutoff = n_maps * bytes_per_map
    if per_cutoff <= budget:
        return max(1, min(n_cutoffs, budget // per_cutoff)), n_maps
    return 1, max(1, budget // bytes_per_map)


def _warn_mean_only(
    cutoffs: tuple[float, ...], kind: str, height: int, width: int, padding: str | None = None
) -> None:
    """Warn once (for all the cutoffs of a call) when an ideal filter keeps only the DC bin: a constant map.

    The lowest non-zero frequency lies at ``min(H, W) / max(H', W')`` cycles per image, ``H' x W'`` the size
    filtered (1 on a square map, 0.5 once padded to twice its size), so an ideal cutoff below it (within the
    mask's tolerance) keeps only the mean. Smooth filters (gaussian, butterworth) keep some of every frequency
    and never warn.
    """
    lowest = min(height, width) / max(padded_size(height, width, padding))
    below = [c for c in cutoffs if c * (1.0 + _IDEAL_TOLERANCE) < lowest]
    if kind == "ideal" and below:
        padded = (
            "" if padding is None else " ({} x {} once padded)".format(*padded_size(height, width, padding))
        )
        warnings.warn(
            f"cutoff {below if len(below) > 1 else below[0]} is below {lowest:.3g} cycle per image on "
            f"{height} x {width} maps{padded}: only the mean survives the ideal filter, the filtered map is "
            "constant",
            UserWarning,
            stacklevel=3,
        )


def _tiles(n_cutoffs: int, maps_shape: tuple[int, ...], maps: torch.Tensor) -> list[tuple[slice, slice]]:
    """The (cutoffs, maps) tiles of the inverse transforms of (B, H, W) maps like ``maps`` (dtype, device)."""
    n_maps, height, width = maps_shape
    bytes_per_map = height * (width // 2 + 1) * 2 * maps.dtype.itemsize  # one half spectrum, complex
    tile_cutoffs, tile_maps = _tile_shape(n_cutoffs, n_maps, bytes_per_map, maps.device)
    return [
        (cut, part) for cut in iter_chunks(n_cutoffs, tile_cutoffs) for part in iter_chunks(n_maps, tile_maps)
    ]


def _batch(tile: tuple[slice, slice]) -> int:
    """Maps in one inverse transform of a tile."""
    cut, part = tile
    return (cut.stop - cut.start) * (part.stop - part.start)


def _inverse_into(
    spectrum: torch.Tensor,
    masks: torch.Tensor,
    out: torch.Tensor,
    absolute: bool,
    tiles: list[tuple[slice, slice]],
    threads: int,
) -> torch.Tensor:
    """Fill ``out`` (S, B, H, W) with ``irfft2(spectrum * masks[s])`` (then ``abs``) tile by tile.

    ``spectrum`` is (B, H, W//2+1) complex, ``masks`` (S, H, W//2+1) real; ``tiles`` from :func:`_tiles`,
    ``threads`` from :func:`_call_threads`.
    """
    height, width = out.shape[-2:]
    widest = max(cut.stop - cut.start for cut, _ in tiles), max(part.stop - part.start for _, part in tiles)
    buffer = spectrum.new_empty((*widest, *spectrum.shape[1:]))
    with torch_threads(threads):
        for cut, part in tiles:
            product = buffer[: cut.stop - cut.start, : part.stop - part.start]
            torch.mul(spectrum[None, part], masks[cut, None], out=product)
            target = out[cut, part]
            torch.fft.irfft2(product, s=(height, width), out=target)
            if absolute:
                target.abs_()
    return out


def _call_threads(maps: torch.Tensor, n_cutoffs: int, tiles: list[tuple[slice, slice]], forward: bool) -> int:
    """:func:`fft_threads` for filtering (B, H, W) ``maps`` (or maps like them) at ``n_cutoffs`` cutoffs in ``tiles``.

    ``forward`` includes their forward FFT.
    """
    n_maps, height, width = maps.shape[-3:]
    transforms = [("irfft2", _batch(tile)) for tile in tiles]
    if forward:
        transforms.append(("rfft2", n_maps))
    return fft_threads(
        maps.device, n_cutoffs * n_maps * height * width, transforms, height, width, maps.dtype
    )


def lowpass(
    maps: Maps, cutoff: CutoffLike, kind: str = "ideal", order: int = 2, *, padding: str | None = None
) -> Maps:
    """Low-pass filter real 2-D maps in the Fourier domain.

    Parameters
    ----------
    maps : torch.Tensor or numpy.ndarray
        Real floating-point maps of shape ``(..., H, W)`` with ``H, W >= 2``, finite. Tensors stay on their
        device; numpy in gives numpy out. The input is never modified.
    cutoff : float or 1-D sequence of S floats
        Cutoff(s) in cycles per image (> 0). A sequence costs one forward FFT for all the cutoffs. An ideal
        cutoff below 1 cycle per image (on a square map) keeps only the mean: one ``UserWarning`` per call.
    kind : {"ideal", "gaussian", "butterworth"}
        Filter shape (see :mod:`forgrad_viz.filters`). ``"ideal"`` is the paper's binary mask.
    order : int
        Butterworth order (>= 1).
    padding : {None, "reflect", "zero"}
        ``None`` (default): the periodic FFT, the paper's filter (a region at one edge spreads onto the opposite
        edge at low cutoffs). ``"reflect"`` or ``"zero"``: each side padded by half the map (mirrored, or with
        zeros) before filtering at the same cutoff in cycles per original image, then cropped back; four times
        the pixels to transform (:mod:`~forgrad_viz.filters.padding`).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Real, same dtype and type as ``maps``; shape ``(..., H, W)`` for one cutoff, ``(S, ..., H, W)`` for S.

    Examples
    --------
    >>> maps = torch.rand(2, 32, 32)
    >>> lowpass(maps, 4.0).shape
    torch.Size([2, 32, 32])
    >>> lowpass(maps, [2.0, 4.0, 8.0], kind="gaussian").shape
    torch.Size([3, 2, 32, 32])
    >>> lowpass(maps, 2.0, padding="reflect").shape
    torch.Size([2, 32, 32])
    """
    tensor, restore = _to_tensor(maps, "maps")
    cutoffs, is_sequence = _parse_cutoffs(cutoff)
    padding = check_padding(padding)
    _warn_mean_only(cutoffs, kind, *tensor.shape[-2:], padding)
    out = _filter(tensor, cutoffs, kind, order, absolute=False, padding=padding)
    return restore(out if is_sequence else out[0])


def _filter(
    tensor: torch.Tensor,
    cutoffs: tuple[float, ...],
    kind: str,
    order: int,
    absolute: bool,
    padding: str | None = None,
) -> torch.Tensor:
    """(S, *tensor.shape) filtered maps (``abs`` of them when ``absolute``), padded first unless None."""
    *batch, height, width = tensor.shape
    maps = pad_maps(tensor.reshape(-1, height, width), padding)
    masks = _mask(
        *maps.shape[-2:], padded_cutoffs(cutoffs, padding), kind, order, tensor.device, tensor.dtype
    )
    tiles = _tiles(len(cutoffs), tuple(maps.shape), maps)
    threads = _call_threads(maps, len(cutoffs), tiles, forward=True)
    with torch_threads(threads):
        spectrum = torch.fft.rfft2(maps)
    out = tensor.new_empty((len(cutoffs), *maps.shape))
    _inverse_into(spectrum, masks, out, absolute, tiles, threads)
    return crop(out, height, width, padding).reshape(len(cutoffs), *batch, height, width)


def _forgrad_input(attributions: Any) -> tuple[torch.Tensor, Callable]:
    """abs(channel mean) of (N, C, H, W) or abs of (N, H, W) attributions, and the type restorer.

    Finiteness is checked on the (N, H, W) result, three times less to read than the input: NaN and inf
    propagate through the mean.
    """
    tensor, restore = _to_tensor(attributions, "attributions", ndims=(3, 4), check_finite=False)
    maps = tensor.mean(dim=1).abs_() if tensor.dim() == 4 else tensor.abs()
    _check_finite(maps, "attributions")
    return maps, restore


def forgrad(
    attributions: Maps, cutoff: CutoffLike, kind: str = "ideal", order: int = 2, *, padding: str | None = None
) -> Maps:
    """FORGrad: the paper's filtered attribution maps, ``abs(lowpass(abs(mean over channels)))``.

    Parameters
    ----------
    attributions : torch.Tensor or numpy.ndarray
        ``(N, C, H, W)`` (averaged over channels) or ``(N, H, W)`` real floating-point attributions, any
        ``H, W >= 2`` (odd and non-square sizes are exact). Never modified.
    cutoff : float or 1-D sequence of S floats
        Cutoff(s) in cycles per image (> 0); ``15`` at 224 x 224 is the paper's default. One forward FFT serves
        all the cutoffs. An ideal cutoff below 1 cycle per image (on a square map; ``min(H, W) / max(H, W)`` in
        general) keeps only the mean, a constant map: one ``UserWarning`` per call names those cutoffs.
    kind : {"ideal", "gaussian", "butterworth"}
        Filter shape; ``"ideal"`` is the paper's.
    order : int
        Butterworth order (>= 1).
    padding : {None, "reflect", "zero"}
        ``None`` (default, the paper's): the periodic FFT. ``"reflect"`` or ``"zero"`` pad each side of the map
        by half its size before filtering (same cutoff in cycles per original image) and crop back, so that a
        salient region at one edge does not light up the opposite edge (see :func:`lowpass`).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Non-negative maps, same dtype and type as the input: ``(N, H, W)`` for one cutoff, ``(S, N, H, W)`` for S.
        Use :func:`iter_forgrad` to go through many cutoffs without holding all the outputs.

    Examples
    --------
    >>> attributions = torch.randn(4, 3, 64, 64)
    >>> forgrad(attributions, 8.0).shape
    torch.Size([4, 64, 64])
    >>> forgrad(attributions, [4.0, 8.0, 16.0]).shape
    torch.Size([3, 4, 64, 64])
    """
    maps, restore = _forgrad_input(attributions)
    cutoffs, is_sequence = _parse_cutoffs(cutoff)
    padding = check_padding(padding)
    _warn_mean_only(cutoffs, kind, *maps.shape[-2:], padding)
    out = _filter(maps, cutoffs, kind, order, absolute=True, padding=padding)
    return restore(out if is_sequence else out[0])


def iter_forgrad(
    attributions: Maps,
    cutoffs: CutoffLike,
    chunk_size: int = 8,
    kind: str = "ideal",
    order: int = 2,
    *,
    padding: str | None = None,
) -> Iterator[tuple[np.ndarray, Maps]]:
    """Go through :func:`forgrad` outputs for many cutoffs in chunks, without holding them all.

    The input is validated and its forward FFT computed once, at the call; each chunk then costs its inverse
    FFTs only. Only one chunk's output, ``chunk_size x N x H x W``, exists at a time
    (unless the caller keeps them; four times that, padded, while a chunk is computed with ``padding``).

    Parameters
    ----------
    attributions : torch.Tensor or numpy.ndarray
        As for :func:`forgrad`: ``(N, C, H, W)`` or ``(N, H, W)``.
    cutoffs : float or 1-D sequence of S floats
        Cutoffs in cycles per image (> 0), in the order they are yielded.
    chunk_size : int
        Number of cutoffs per chunk (>= 1).
    kind, order, padding
        As for :func:`forgrad`.

    Yields
    ------
    values : numpy.ndarray
        The chunk's cutoffs, shape ``(s,)``.
    maps : torch.Tensor or numpy.ndarray
        Their filtered maps, shape ``(s, N, H, W)``, same type and dtype as the input.

    Examples
    --------
    >>> attributions = torch.randn(2, 3, 32, 32)
    >>> [maps.shape[0] for values, maps in iter_forgrad(attributions, [1, 2, 4, 8, 16], chunk_size=2)]
    [2, 2, 1]
    """
    check_positive_int(chunk_size, "chunk_size")
    values, _ = _parse_cutoffs(cutoffs, name="cutoffs")
    padding = check_padding(padding)
    maps, restore = _forgrad_input(attributions)
    size = tuple(maps.shape[-2:])
    _warn_mean_only(values, kind, *size, padding)
    maps = pad_maps(maps, padding)
    n_maps, height, width = maps.shape
    masks = _mask(height, width, padded_cutoffs(values, padding), kind, order, maps.device, maps.dtype)
    forward = [("rfft2", n_maps)]
    with torch_threads(
        fft_threads(maps.device, len(values) * maps.numel(), forward, height, width, maps.dtype)
    ):
        spectrum = torch.fft.rfft2(maps)
    return _forgrad_chunks(
        spectrum, masks, values, width, chunk_size, lambda out: restore(crop(out, *size, padding))
    )


def _forgrad_chunks(
    spectrum: torch.Tensor,
    masks: torch.Tensor,
    values: tuple[float, ...],
    width: int,
    chunk_size: int,
    restore: Callable,
) -> Iterator[tuple[np.ndarray, Maps]]:
    """Each chunk's cutoffs and ``restore`` of its (s, N, H, W) maps (``width`` the width transformed)."""
    n_maps, height, _ = spectrum.shape
    for part in iter_chunks(len(values), chunk_size):
        out = spectrum.real.new_empty((part.stop - part.start, n_maps, height, width))
        tiles = _tiles(len(out), tuple(out.shape[1:]), out)
        threads = _call_threads(out, len(out), tiles, forward=False)
        _inverse_into(spectrum, masks[part], out, True, tiles, threads)
        yield np.asarray(values[part]), restore(out)
