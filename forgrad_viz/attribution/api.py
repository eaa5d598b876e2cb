"""The single entry point, :func:`explain`: validate a call, run the method in eval mode, check the maps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import (
    check_choice,
    check_images,
    check_model,
    check_positive_int,
    model_device,
    preserved_model,
    resolve_targets,
    torch_generator,
)
from forgrad_viz.attribution.black_box import _occlusion, _rise
from forgrad_viz.attribution.jobs import _Job
from forgrad_viz.attribution.methods import METHODS
from forgrad_viz.attribution.white_box import (
    _gradcam,
    _gradient_input,
    _guided_backprop,
    _integrated_gradients,
    _noise_tunnel,
    _saliency,
)

_RUNNERS: dict[str, Callable[[_Job], torch.Tensor]] = {
    "saliency": _saliency,
    "gradient_input": _gradient_input,
    "integrated_gradients": _integrated_gradients,
    "smoothgrad": _noise_tunnel("smoothgrad", "smoothgrad"),
    "squaregrad": _noise_tunnel("smoothgrad_sq", "squaregrad"),
    "vargrad": _noise_tunnel("vargrad", "vargrad"),
    "guided_backprop": _guided_backprop,
    "gradcam": _gradcam,
    "occlusion": _occlusion,
    "rise": _rise,
}


def explain(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    method: str = "saliency",
    *,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool = False,
    **options: Any,
) -> torch.Tensor:
    """Attribution maps of ``model`` for ``images``.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits (N, K); it runs in eval mode and comes back in the mode it was in.
    images : Tensor
        Float images (N, C, H, W) in pixel space, on the model's device. Never modified.
    targets : None, int, sequence of ints or 1-D integer tensor, optional
        Class to explain per image; ``None`` (default) uses the predicted class (eval mode).
    method : str
        A key of :data:`METHODS`: ``saliency`` (default), ``gradient_input``, ``integrated_gradients``,
        ``smoothgrad``, ``squaregrad``, ``vargrad``, ``guided_backprop``, ``gradcam``, ``occlusion``, ``rise``.
    batch_size : int, optional
        Model inputs per forward/backward pass (images, or their interpolated, noisy or perturbed copies).
        ``None`` starts at the device default and halves on CUDA out-of-memory errors.
    seed : int
        Seed of the stochastic methods (``smoothgrad``, ``squaregrad``, ``vargrad``, ``rise``).
    progress : bool
        Show a progress bar over the chunks of work.
    **options
        Method options, listed with their defaults in ``METHODS[method].options``:

        - ``integrated_gradients``: ``n_steps=32`` integration points, ``baseline=0.0`` (a float or a tensor
          broadcastable to one image).
        - ``smoothgrad``, ``squaregrad``, ``vargrad``: ``n_samples=16`` noisy copies, ``stdev=0.15`` standard
          deviation of the Gaussian noise in pixel units (images span [0, 1], so 15% of the range).
        - ``gradcam``: ``layer=None`` (the output of the last ``nn.Conv2d``, before any activation; or a module
          of the model, or its dotted name), ``relu=True`` (keep positive evidence, as in Grad-CAM). The map is
          upsampled bilinearly to (H, W).
        - ``occlusion``: ``window=None`` (about 1/8 of the shorter side; an int or (h, w)), ``stride=None``
          (half the window), ``baseline=0.0``, ``score="probability"`` (or ``"logit"``).
        - ``rise``: ``n_masks=4000``, ``grid=7`` cells per side, ``p=0.5`` probability that a cell is kept,
          ``score="probability"``. The map is ``sum_i score(x * M_i) M_i / (n_masks * p)``.

    Returns
    -------
    Tensor
        Detached attributions on the images' device, in their dtype: (N, C, H, W) for the gradient methods,
        (N, 1, H, W) for ``gradcam``, ``occlusion`` and ``rise``.

    Raises
    ------
    TypeError, ValueError
        Bad model, images, targets, method or option (unknown options name the method and list valid ones).
    RuntimeError
        If the maps contain NaN or infinite values.

    Examples
    --------
    >>> import torch, forgrad_viz as fv
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4 * 14 * 14, 5))
    >>> images = torch.rand(2, 3, 16, 16)
    >>> fv.explain(net, images, method="integrated_gradients", n_steps=8).shape
    torch.Size([2, 3, 16, 16])
    >>> fv.explain(net, images, targets=[0, 4], method="rise", n_masks=64).shape
    torch.Size([2, 1, 16, 16])
    """
    check_model(model)
    check_images(images)
    check_choice(method, "method", tuple(METHODS))
    opts = METHODS[method].resolve_options(options)
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    torch_generator(seed, torch.device("cpu"))  # validates the seed
    device = model_device(model)
    if next(iter(model.state_dict()), None) is not None and device != images.device:
        raise ValueError(
            f"images are on device {images.device} but the model is on device {device}; move one of them"
        )
    inputs = images.detach()
    with preserved_model(model):
        target = resolve_targets(model, inputs, targets, batch_size)
        job = _Job(model, inputs, target, opts, batch_size, seed, progress)
        maps = _RUNNERS[method](job)
    if not bool(torch.isfinite(maps).all()):
        raise RuntimeError(f"{method} produced NaN or infinite attributions (check the model's outputs)")
    return maps.detach().to(images.dtype)
