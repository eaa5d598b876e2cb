"""Pixels for the explorers' ``ipywidgets.Image`` views: images and colour-mapped maps as PNG bytes.

Heatmaps are colour-mapped in NumPy (no custom JavaScript); small ones are enlarged by repeating pixels.
"""

from __future__ import annotations

import io
import math

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage

from forgrad_viz.palette import SEQUENTIAL_CMAP

__all__ = ["CMAPS", "DISPLAY_PX", "enlarge", "figure_png", "heatmap_rgb", "image_rgb", "png_bytes"]

#: Colour maps offered for the heatmaps.
CMAPS = (SEQUENTIAL_CMAP, "inferno", "viridis", "gray", "jet")
#: Heatmaps smaller than this many pixels per side are enlarged (nearest neighbour) for display.
DISPLAY_PX = 192


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 array (fast zlib level: these images live for one slider move)."""
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def enlarge(rgb: np.ndarray, min_px: int = DISPLAY_PX) -> np.ndarray:
    """Repeat pixels by an integer factor so that the shorter side has at least ``min_px`` pixels."""
    factor = max(1, math.ceil(min_px / min(rgb.shape[:2])))
    return rgb if factor == 1 else np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def image_rgb(image: torch.Tensor) -> np.ndarray:
    """An image (C, H, W) in [0, 1] as (H, W, 3) uint8 (one channel is shown in grey; other counts averaged).

    Examples
    --------
    >>> image_rgb(torch.ones(3, 2, 2)).shape
    (2, 2, 3)
    """
    array = image.detach().to("cpu", torch.float32).clamp(0.0, 1.0).numpy()
    if array.shape[0] != 3:
        array = np.repeat(array.mean(axis=0, keepdims=True), 3, axis=0)
    return np.round(array.transpose(1, 2, 0) * 255.0).astype(np.uint8)


def heatmap_rgb(
    values: np.ndarray,
    cmap: str = SEQUENTIAL_CMAP,
    clip: float = 100.0,
    background: np.ndarray | None = None,
    opacity: float = 1.0,
) -> np.ndarray:
    """A non-negative map (H, W) colour-mapped to (H, W, 3) uint8.

    The map is divided by its ``clip`` percentile (100: its maximum) and clipped to [0, 1]; with a
    ``background`` image (H, W, 3) uint8 and ``opacity`` < 1 the colours are blended over it.

    Examples
    --------
    >>> heatmap_rgb(np.array([[0.0, 1.0]]), cmap="gray")[0, :, 0].tolist()
    [0, 255]
    """
    top = float(values.max()) if clip >= 100.0 else float(np.percentile(values, clip))
    scaled = np.clip(values / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    rgb = matplotlib.colormaps[cmap](scaled, bytes=True)[..., :3]
    if background is None or opacity >= 1.0:
        return rgb
    blended = opacity * rgb.astype(np.float32) + (1.0 - opacity) * background.astype(np.float32)
    return np.round(blended).astype(np.uint8)


def figure_png(figure: Figure) -> bytes:
    """Draw ``figure`` on its Agg canvas and return PNG bytes."""
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return png_bytes(np.asarray(canvas.buffer_rgba())[..., :3])
