"""Padding the maps before the FFT, so that the low-pass filter does not wrap around the map's border.

The discrete Fourier transform treats a map as periodic: at a low cutoff, a salient region at the left edge
spreads onto the right edge (and the top onto the bottom). ``padding="reflect"`` or ``"zero"`` pads each side
by half the map (``H // 2`` rows on top and ``H - H // 2`` below, likewise for the columns: a ``2H x 2W`` map),
mirrored without repeating the edge pixel (``torch.nn.functional.pad(mode="reflect")``) or with zeros, filters
it, and crops the ``H x W`` map back. The cutoff stays in cycles per *original* image: on the ``2H x 2W`` map
it is applied as ``2 * cutoff`` cycles per padded image, the same physical frequency (cycles per pixel), so
``padding`` changes only what lies beyond the border. ``padding=None`` is the paper's periodic filter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Accepted values of ``padding``: None (periodic, the paper's), mirrored or zero borders.
PADDINGS: tuple[str | None, ...] = (None, "reflect", "zero")

#: How many times larger each side of a padded map is: the factor on the cutoff in cycles per padded image.
_SCALE = 2


def check_padding(padding: object) -> str | None:
    """``padding`` if it is one of :data:`PADDINGS`, else a ValueError naming it."""
    if padding is not None and not (isinstance(padding, str) and padding in PADDINGS):
        raise ValueError(f"padding must be None, 'reflect' or 'zero'; got {padding!r}")
    return padding


def _pads(height: int, width: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) pads: half the map on each side, ``2H x 2W`` in all (each pad < its side)."""
    return width // 2, width - width // 2, height // 2, height - height // 2


def pad_maps(maps: torch.Tensor, padding: str | None) -> torch.Tensor:
    """(B, H, W) maps padded to (B, 2H, 2W) by ``padding`` (``maps`` itself when None)."""
    if padding is None:
        return maps
    pads = _pads(*maps.shape[-2:])
    if padding == "zero":
        return F.pad(maps, pads, mode="constant", value=0.0)
    return F.pad(maps, pads, mode="reflect")


def padded_cutoffs(cutoffs: tuple[float, ...], padding: str | None) -> tuple[float, ...]:
    """The cutoffs in cycles per padded image that keep the same physical frequencies (``cutoffs`` when None)."""
    return cutoffs if padding is None else tuple(_SCALE * c for c in cutoffs)


def padded_size(height: int, width: int, padding: str | None) -> tuple[int, int]:
    """Size of an ``height x width`` map once padded by ``padding``."""
    return (height, width) if padding is None else (_SCALE * height, _SCALE * width)


def crop(out: torch.Tensor, height: int, width: int, padding: str | None) -> torch.Tensor:
    """The original ``height x width`` maps of padded outputs (..., 2H, 2W), contiguous (``out`` when None)."""
    if padding is None:
        return out
    left, _, top, _ = _pads(height, width)
    return out[..., top : top + height, left : left + width].contiguous()
