"""Frequency masks, low-pass filtering and the FORGrad pipeline, with cutoff-unit helpers.

Cutoff units
------------
A cutoff ``sigma`` is in *cycles per image*. On an ``H x W`` map the DFT bin with signed integer indices
``(ky, kx)`` (``ky`` in ``fftfreq(H) * H``, ``kx`` in ``rfftfreq(W) * W``) lies at the radius

    ``r = sqrt((ky / H) ** 2 + (kx / W) ** 2) * min(H, W)``

so on a square map ``r = sqrt(ky ** 2 + kx ** 2)``, the paper's radius in DFT bins (``sigma = 15`` at 224 x 224
is the paper's default). On a non-square map the kept region is a circle in physical frequency; odd and
non-square sizes are exact, nothing is resized. :func:`cutoff_to_nyquist` and :func:`nyquist_to_cutoff` convert
to and from a fraction of the Nyquist frequency of the shorter side (``min(H, W) / 2`` cycles per image), which
transfers across input resolutions.

Filter kinds (gain as a function of the radius ``r``, all equal to 1 at ``r = 0``):

* ``"ideal"``: 1 where ``r <= sigma`` (with a relative tolerance of 1e-9, so a bin lying exactly on the cutoff
  is kept, as in the paper), 0 elsewhere. This is the paper's filter.
* ``"gaussian"``: ``exp(-ln(2) / 2 * (r / sigma) ** 2)``: gain ``1 / sqrt(2)`` (-3 dB) at ``r = sigma``.
* ``"butterworth"``: ``1 / sqrt(1 + (r / sigma) ** (2 * order))``: gain ``1 / sqrt(2)`` at ``r = sigma``,
  steeper for a larger ``order``.

Inputs are real maps, torch tensors on any device or numpy arrays (numpy in, numpy out, same dtype). float32 and
float64 are computed in their own precision; float16 and bfloat16 are computed in float32 and cast back. The
results are not differentiable (computed on detached tensors).

Performance: one forward ``rfft2`` serves every cutoff. The masked inverse transforms run in tiles of about
2 MiB on the CPU (so that each tile's spectrum and output stay in cache, several times faster than one huge
batched ``irfft2``) and in large batches on CUDA, writing straight into the preallocated output.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from forgrad_viz._utils import check_choice, check_positive_int, iter_chunks

__all__ = [
    "KINDS",
    "cutoff_to_nyquist",
    "default_cutoffs",
    "forgrad",
    "frequency_mask",
    "frequency_radius",
    "iter_forgrad",
    "lowpass",
    "max_cutoff",
    "nyquist_to_cutoff",
]

#: Filter kinds accepted by :func:`lowpass`, :func:`forgrad` and :func:`frequency_mask`.
KINDS = ("ideal", "gaussian", "butterworth")

Maps = torch.Tensor | np.ndarray
CutoffLike = float | Sequence[float] | np.ndarray | torch.Tensor

_IDEAL_TOLERANCE = 1e-9
_CPU_TILE_BYTES = 2 * 2**20
_CUDA_TILE_BYTES = 256 * 2**20
_LOW_PRECISION = (torch.float16, torch.bfloat16)
_SHAPES = {3: "(N, H, W)", 4: "(N, C, H, W)"}


# ----------------------------------------------------------------------------------------------- validation
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


# ------------------------------------------------------------------------------------------- frequencies
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


def max_cutoff(height: int, width: int) -> float:
    """The largest bin radius of an ``height x width`` map: a cutoff at or above it removes nothing.

    Examples
    --------
    >>> round(max_cutoff(224, 224), 2)
    158.39
    """
    height, width = _check_size(height, width)
    return float(_radius64(height, width).max())


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
    """``n`` log-spaced cutoffs from 1 cycle per image to :func:`max_cutoff` (which keeps everything).

    Examples
    --------
    >>> default_cutoffs(64, 64, n=3).round(2)
    array([ 1.  ,  6.73, 45.25])
    """
    check_positive_int(n, "n", minimum=2)
    return np.geomspace(1.0, max_cutoff(height, width), n)


# ------------------------------------------------------------------------------------------------- masks
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
        Cutoff(s) in cycles per image (see the module docstring), each > 0.
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


# ----------------------------------------------------------------------------------------------- filtering
def _tile_shape(n_cutoffs: int, n_maps: int, bytes_per_map: int, device: torch.device) -> tuple[int, int]:
    """(cutoffs, maps) per tile: whole maps batches of several cutoffs, or part of one cutoff's maps."""
    budget = _CUDA_TILE_BYTES if device.type == "cuda" else _CPU_TILE_BYTES
    per_cutoff = n_maps * bytes_per_map
    if per_cutoff <= budget:
        return max(1, min(n_cutoffs, budget // per_cutoff)), n_maps
    return 1, max(1, budget // bytes_per_map)


def _inverse_into(
    spectrum: torch.Tensor, masks: torch.Tensor, out: torch.Tensor, absolute: bool
) -> torch.Tensor:
    """Fill ``out`` (S, B, H, W) with ``irfft2(spectrum * masks[s])`` (then ``abs``) tile by tile.

    ``spectrum`` is (B, H, W//2+1) complex, ``masks`` (S, H, W//2+1) real.
    """
    n_cutoffs, n_maps, height, width = out.shape
    bytes_per_map = spectrum[0].numel() * spectrum.element_size()
    tile_cutoffs, tile_maps = _tile_shape(n_cutoffs, n_maps, bytes_per_map, out.device)
    buffer = spectrum.new_empty((tile_cutoffs, tile_maps, *spectrum.shape[1:]))
    for cut in iter_chunks(n_cutoffs, tile_cutoffs):
        for part in iter_chunks(n_maps, tile_maps):
            product = buffer[: cut.stop - cut.start, : part.stop - part.start]
            torch.mul(spectrum[None, part], masks[cut, None], out=product)
            target = out[cut, part]
            torch.fft.irfft2(product, s=(height, width), out=target)
            if absolute:
                target.abs_()
    return out


def lowpass(maps: Maps, cutoff: CutoffLike, kind: str = "ideal", order: int = 2) -> Maps:
    """Low-pass filter real 2-D maps in the Fourier domain.

    Parameters
    ----------
    maps : torch.Tensor or numpy.ndarray
        Real floating-point maps of shape ``(..., H, W)`` with ``H, W >= 2``, finite. Tensors stay on their
        device; numpy in gives numpy out. The input is never modified.
    cutoff : float or 1-D sequence of S floats
        Cutoff(s) in cycles per image (> 0). A sequence costs one forward FFT for all the cutoffs.
    kind : {"ideal", "gaussian", "butterworth"}
        Filter shape (see the module docstring). ``"ideal"`` is the paper's binary mask.
    order : int
        Butterworth order (>= 1).

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
    """
    tensor, restore = _to_tensor(maps, "maps")
    cutoffs, is_sequence = _parse_cutoffs(cutoff)
    out = _filter(tensor, cutoffs, kind, order, absolute=False)
    return restore(out if is_sequence else out[0])


def _filter(
    tensor: torch.Tensor, cutoffs: tuple[float, ...], kind: str, order: int, absolute: bool
) -> torch.Tensor:
    """(S, *tensor.shape) filtered maps (``abs`` of them when ``absolute``)."""
    *batch, height, width = tensor.shape
    masks = _mask(height, width, cutoffs, kind, order, tensor.device, tensor.dtype)
    spectrum = torch.fft.rfft2(tensor.reshape(-1, height, width))
    out = tensor.new_empty((len(cutoffs), spectrum.shape[0], height, width))
    _inverse_into(spectrum, masks, out, absolute)
    return out.reshape(len(cutoffs), *batch, height, width)


def _forgrad_input(attributions: Any) -> tuple[torch.Tensor, Callable]:
    """abs(channel mean) of (N, C, H, W) or abs of (N, H, W) attributions, and the type restorer.

    Finiteness is checked on the (N, H, W) result, three times less to read than the input: NaN and inf
    propagate through the mean.
    """
    tensor, restore = _to_tensor(attributions, "attributions", ndims=(3, 4), check_finite=False)
    maps = tensor.mean(dim=1).abs_() if tensor.dim() == 4 else tensor.abs()
    _check_finite(maps, "attributions")
    return maps, restore


def forgrad(attributions: Maps, cutoff: CutoffLike, kind: str = "ideal", order: int = 2) -> Maps:
    """FORGrad: the paper's filtered attribution maps, ``abs(lowpass(abs(mean over channels)))``.

    Parameters
    ----------
    attributions : torch.Tensor or numpy.ndarray
        ``(N, C, H, W)`` (averaged over channels) or ``(N, H, W)`` real floating-point attributions, any
        ``H, W >= 2`` (odd and non-square sizes are exact). Never modified.
    cutoff : float or 1-D sequence of S floats
        Cutoff(s) in cycles per image (> 0); ``15`` at 224 x 224 is the paper's default. One forward FFT serves
        all the cutoffs.
    kind : {"ideal", "gaussian", "butterworth"}
        Filter shape; ``"ideal"`` is the paper's.
    order : int
        Butterworth order (>= 1).

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
    out = _filter(maps, cutoffs, kind, order, absolute=True)
    return restore(out if is_sequence else out[0])


def iter_forgrad(
    attributions: Maps, cutoffs: CutoffLike, chunk_size: int = 8, kind: str = "ideal", order: int = 2
) -> Iterator[tuple[np.ndarray, Maps]]:
    """Go through :func:`forgrad` outputs for many cutoffs in chunks, without holding them all.

    The input is validated and its forward FFT computed once, at the call; each chunk then costs its inverse
    FFTs only. Only one chunk's output, ``chunk_size x N x H x W``, exists at a time
    (unless the caller keeps them).

    Parameters
    ----------
    attributions : torch.Tensor or numpy.ndarray
        As for :func:`forgrad`: ``(N, C, H, W)`` or ``(N, H, W)``.
    cutoffs : float or 1-D sequence of S floats
        Cutoffs in cycles per image (> 0), in the order they are yielded.
    chunk_size : int
        Number of cutoffs per chunk (>= 1).
    kind, order
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
    maps, restore = _forgrad_input(attributions)
    masks = _mask(maps.shape[-2], maps.shape[-1], values, kind, order, maps.device, maps.dtype)
    return _forgrad_chunks(torch.fft.rfft2(maps), masks, values, maps.shape[-1], chunk_size, restore)


def _forgrad_chunks(
    spectrum: torch.Tensor,
    masks: torch.Tensor,
    values: tuple[float, ...],
    width: int,
    chunk_size: int,
    restore: Callable,
) -> Iterator[tuple[np.ndarray, Maps]]:
    n_maps, height, _ = spectrum.shape
    for part in iter_chunks(len(values), chunk_size):
        out = spectrum.real.new_empty((part.stop - part.start, n_maps, height, width))
        yield np.asarray(values[part]), restore(_inverse_into(spectrum, masks[part], out, absolute=True))
