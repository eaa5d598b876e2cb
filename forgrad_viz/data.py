"""Offline images: scikit-image's bundled photographs and the procedural "shapes on textures" set.

Everything here works without a network connection: the photographs and textures ship with scikit-image.
Images are float32 RGB in [0, 1] with shape (N, 3, H, W), the pixel space used everywhere in forgrad_viz.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from skimage import data as skdata

from forgrad_viz._utils import check_positive_int

#: Photographs bundled with scikit-image (names of ``skimage.data`` functions) served by :func:`sample_images`.
PHOTOGRAPHS: tuple[str, ...] = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "retina",
    "rocket",
)

#: Textures and photographs the backgrounds of :func:`shapes_dataset` are cut from.
BACKGROUNDS: tuple[str, ...] = (
    "brick",
    "grass",
    "gravel",
    "camera",
    "moon",
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "immunohistochemistry",
)

#: The classes of :func:`shapes_dataset`, in label order.
SHAPES: tuple[str, ...] = ("disc", "square", "triangle", "cross")

#: Shape radius range in pixels at 64 x 64; it scales linearly with the image size.
RADIUS_RANGE_64: tuple[float, float] = (7.0, 14.0)

_CHUNK = 512  # images rasterised at once (bounds the memory of the coordinate grids)


@dataclass(frozen=True)
class ShapesDataset:
    """A batch of procedural shape images with their labels and ground-truth masks.

    Attributes
    ----------
    images : torch.Tensor
        (N, 3, size, size) float32 RGB in [0, 1].
    labels : torch.Tensor
        (N,) int64 class indices into ``classes``.
    masks : torch.Tensor
        (N, size, size) bool, True exactly on the pixels painted by the shape.
    classes : tuple of str
        Class names, ``SHAPES``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _to_rgb_float(image: np.ndarray) -> np.ndarray:
    """Any scikit-image picture (grey, RGB, RGBA; uint8, bool or float) as float32 RGB (H, W, 3) in [0, 1]."""
    array = np.asarray(image)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    else:
        array = array.astype(np.float32)
        low, high = float(array.min()), float(array.max())
        array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


@functools.cache
def _load_picture(name: str) -> np.ndarray:
    """A scikit-image picture as float32 RGB (H, W, 3), loaded once."""
    picture = _to_rgb_float(getattr(skdata, name)())
    picture.setflags(write=False)
    return picture


def _resize_short_side(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (..., 3, H, W) so that its short side is ``size`` (bilinear, antialiased), clamped to [0, 1]."""
    height, width = image.shape[-2:]
    scale = size / min(height, width)
    new_size = [max(size, round(height * scale)), max(size, round(width * scale))]
    return TF.resize(image, new_size, antialias=True).clamp_(0.0, 1.0)


def _check_names(names: str | Sequence[str] | None) -> list[str]:
    if names is None:
        return list(PHOTOGRAPHS)
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, Sequence) or not all(isinstance(name, str) for name in names):
        raise TypeError(f"names must be None, a string or a sequence of strings from {list(PHOTOGRAPHS)}")
    if len(names) == 0:
        raise ValueError(f"names must not be empty; choose from {list(PHOTOGRAPHS)}")
    unknown = [name for name in names if name not in PHOTOGRAPHS]
    if unknown:
        raise ValueError(f"names has unknown photographs {unknown}; valid names are {list(PHOTOGRAPHS)}")
    return list(names)


def sample_images(
    names: str | Sequence[str] | None = None, size: int = 224
) -> tuple[torch.Tensor, list[str]]:
    """Photographs bundled with scikit-image as a batch of square float RGB images.

    Each photograph is resized (bilinear, antialiased) so that its short side is ``size`` and then cropped to
    the central ``size`` x ``size`` square. Greyscale photographs are repeated over three channels.

    Parameters
    ----------
    names : str, sequence of str or None
        Names from :data:`PHOTOGRAPHS` (``skimage.data`` function names); ``None`` means all of them, in that
        order.
    size : int
        Side of the output images in pixels.

    Returns
    -------
    images : torch.Tensor
        (N, 3, size, size) float32 in [0, 1].
    names : list of str
        The name of each image, in order.

    Examples
    --------
    >>> images, names = sample_images(["astronaut", "chelsea"], size=64)
    >>> images.shape, names
    (torch.Size([2, 3, 64, 64]), ['astronaut', 'chelsea'])
    """
    chosen = _check_names(names)
    size = check_positive_int(size, "size")
    batch = []
    for name in chosen:
        picture = torch.from_numpy(_load_picture(name).copy()).permute(2, 0, 1)
        batch.append(TF.center_crop(_resize_short_side(picture, size), [size, size]))
    return torch.stack(batch).contiguous(), chosen


@functools.lru_cache(maxsize=4)
def _backgrounds(size: int) -> tuple[np.ndarray, ...]:
    """Background sources as float32 RGB (H, W, 3), upscaled only where a side is shorter than ``size``."""
    sources = []
    for name in BACKGROUNDS:
        picture = _load_picture(name)
        if min(picture.shape[:2]) < size:
            tensor = _resize_short_side(torch.from_numpy(picture.copy()).permute(2, 0, 1), size)
            picture = np.ascontiguousarray(tensor.permute(1, 2, 0).numpy())
        sources.append(picture)
    return tuple(sources)


def _hsv_to_rgb(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB for arrays of shape (N,), each in [0, 1]; returns (N, 3)."""
    k = (np.array([5.0, 3.0, 1.0]) + hue[:, None] * 6.0) % 6.0
    ramp = np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return value[:, None] - value[:, None] * saturation[:, None] * ramp


def _shape_masks(labels: np.ndarray, centres: np.ndarray, radii: np.ndarray, angles: np.ndarray, size: int):
    """Rasterise the shapes at pixel centres: (N, size, size) bool.

    Shapes live in a frame rotated by ``angles`` and scaled by ``radii`` around ``centres`` (N, 2) as (y, x);
    every shape fits inside the unit circle of that frame, so it lies fully inside the image when the centre is
    at least one radius from every border.
    """
    grid = np.arange(size, dtype=np.float32)
    dy = (grid[None, :, None] - centres[:, 0, None, None]) / radii[:, None, None]
    dx = (grid[None, None, :] - centres[:, 1, None, None]) / radii[:, None, None]
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    u = dx * cos + dy * sin
    v = -dx * sin + dy * cos
    au, av = np.abs(u), np.abs(v)
    shapes = {
        "disc": u * u + v * v <= 1.0,
        "square": np.maximum(au, av) <= 0.7,
        "triangle": (v <= 0.5) & (v >= np.sqrt(3.0) * au - 1.0),
        "cross": ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95)),
    }
    stacked = np.stack([shapes[name] for name in SHAPES])  # (K, N, size, size)
    return stacked[labels, np.arange(labels.shape[0])]


def shapes_dataset(n: int, size: int = 64, seed: int = 0) -> ShapesDataset:
    """Procedural classification set: one shape per image on a texture or photograph background.

    Each image shows one shape from :data:`SHAPES` (disc, square, triangle, cross) with a random radius
    (7-14 px at 64 x 64, scaled with ``size``), rotation, position (fully inside the image) and saturated colour,
    painted with hard edges over a random ``size`` x ``size`` crop of a scikit-image texture or photograph
    (:data:`BACKGROUNDS`; greyscale ones as grey RGB). Classes are balanced (label counts differ by at most one)
    and shuffled. The mask is exactly the set of painted pixels. The same ``seed`` gives identical tensors.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Image side in pixels (at least 16).
    seed : int
        Seed of the numpy generator that draws everything.

    Returns
    -------
    ShapesDataset
        ``images`` (n, 3, size, size) float32 in [0, 1], ``labels`` (n,) int64, ``masks`` (n, size, size) bool
        and ``classes``.

    Examples
    --------
    >>> shapes = shapes_dataset(8, size=64, seed=0)
    >>> shapes.images.shape, shapes.masks.shape, shapes.classes[int(shapes.labels[0])] in SHAPES
    (torch.Size([8, 3, 64, 64]), torch.Size([8, 64, 64]), True)
    """
    n = check_positive_int(n, "n")
    size = check_positive_int(size, "size", minimum=16)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer; got {type(seed).__name__}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPES))
    low, high = (r * size / 64.0 for r in RADIUS_RANGE_64)
    radii = rng.uniform(low, high, n)
    margin = radii[:, None] + 0.5
    centres = margin + rng.uniform(0.0, 1.0, (n, 2)) * (size - 1.0 - 2.0 * margin)
    angles = rng.uniform(0.0, 2.0 * np.pi, n)
    colours = _hsv_to_rgb(rng.uniform(0.0, 1.0, n), rng.uniform(0.7, 1.0, n), rng.uniform(0.7, 1.0, n))
    sources = _backgrounds(size)
    source_ids = rng.integers(0, len(sources), n)
    offsets = rng.uniform(0.0, 1.0, (n, 2))

    images = np.empty((n, size, size, 3), dtype=np.float32)
    for i, (source_id, (oy, ox)) in enumerate(zip(source_ids, offsets, strict=True)):
        source = sources[source_id]
        top = int(oy * (source.shape[0] - size + 1))
        left = int(ox * (source.shape[1] - size + 1))
        images[i] = source[top : top + size, left : left + size]
    masks = np.empty((n, size, size), dtype=bool)
    for part in range(0, n, _CHUNK):
        chunk = slice(part, min(part + _CHUNK, n))
        masks[chunk] = _shape_masks(
            labels[chunk],
            centres[chunk].astype(np.float32),
            radii[chunk].astype(np.float32),
            angles[chunk],
            size,
        )
    images = np.where(masks[..., None], colours[:, None, None, :].astype(np.float32), images)
    return ShapesDataset(
        images=torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
        labels=torch.from_numpy(labels.astype(np.int64)),
        masks=torch.from_numpy(masks),
        classes=SHAPES,
    )
