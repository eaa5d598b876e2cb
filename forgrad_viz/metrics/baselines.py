"""Baselines: what perturbed pixels become (Deletion, MuFidelity) or where Insertion starts; :func:`blur`."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from forgrad_viz._utils import check_choice, check_finite_number, check_images

__all__ = ["BLUR_SIGMA_FRACTION", "Baseline", "blur"]

#: Insertion's default baseline is a Gaussian blur with ``sigma = BLUR_SIGMA_FRACTION * min(H, W)`` pixels.
BLUR_SIGMA_FRACTION = 1.0 / 16.0

#: A baseline as the metrics accept it: a number, a tensor broadcastable to the images, ``"blur"`` or a callable.
Baseline = float | torch.Tensor | str | Callable[[torch.Tensor], torch.Tensor]


def blur(images: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Gaussian blur of a batch of images, the default Insertion baseline.

    Parameters
    ----------
    images : torch.Tensor
        (N, C, H, W) images.
    sigma : float, optional
        Standard deviation in pixels; ``BLUR_SIGMA_FRACTION * min(H, W)`` (``min(H, W) / 16``) by default.

    Returns
    -------
    torch.Tensor
        Blurred images, same shape, dtype and device. The separable kernel has ``2 * ceil(3 * sigma) + 1`` taps
        (at most ``2 * min(H, W) - 1`` so that reflect padding is defined), padding reflects the image.

    Examples
    --------
    >>> out = blur(torch.rand(2, 3, 32, 32))
    >>> out.shape
    torch.Size([2, 3, 32, 32])
    """
    images = check_images(images)
    n, c, h, w = images.shape
    sigma = _default_sigma(h, w) if sigma is None else check_finite_number(sigma, "sigma", positive=True)
    radius = min(math.ceil(3.0 * sigma), min(h, w) - 1)
    if radius == 0:
        return images.clone()
    taps = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    flat = images.reshape(n * c, 1, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel.reshape(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel.reshape(1, 1, -1, 1))
    return flat.reshape(n, c, h, w)


def _default_sigma(h: int, w: int) -> float:
    return BLUR_SIGMA_FRACTION * min(h, w)


def baseline_images(baseline: Baseline, images: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The baseline as a (N, C, H, W) tensor like ``images`` and a JSON-friendly description."""
    if isinstance(baseline, str):
        check_choice(baseline, "baseline", ("blur",))
        sigma = _default_sigma(*images.shape[-2:])
        return blur(images, sigma), f"blur(sigma={sigma:g})"
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        value = check_finite_number(baseline, "baseline")
        return torch.full_like(images, value), repr(value)
    if isinstance(baseline, torch.Tensor):
        return _broadcast_baseline(baseline, images, "a tensor"), "tensor"
    if callable(baseline):
        made = baseline(images.clone())
        if not isinstance(made, torch.Tensor) or tuple(made.shape) != tuple(images.shape):
            got = tuple(made.shape) if isinstance(made, torch.Tensor) else type(made).__name__
            raise ValueError(
                f"baseline callable must return a tensor of the images' shape {tuple(images.shape)}; got {got}"
            )
        return _broadcast_baseline(made, images, "the callable's output"), "callable"
    raise TypeError(
        "baseline must be a number, a tensor broadcastable to the images, 'blur' or a callable; "
        f"got {type(baseline).__name__}"
    )


def _broadcast_baseline(tensor: torch.Tensor, images: torch.Tensor, what: str) -> torch.Tensor:
    try:
        shape = torch.broadcast_shapes(tensor.shape, images.shape)
    except RuntimeError:
        shape = None
    if shape != images.shape:
        raise ValueError(
            f"baseline ({what}) must be broadcastable to the images' shape {tuple(images.shape)}; "
            f"got shape {tuple(tensor.shape)}"
        )
    if not (tensor.is_floating_point() or tensor.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"baseline ({what}) must hold real numbers; got dtype {tensor.dtype}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"baseline ({what}) contains NaN or infinite values")
    return tensor.to(device=images.device, dtype=images.dtype).expand_as(images)
