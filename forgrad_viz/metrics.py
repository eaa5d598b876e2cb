"""Faithfulness metrics: Deletion, Insertion, MuFidelity, and localisation on ground-truth masks.

Protocols (the defaults, also listed in the README):

- Scores are the softmax probability of the target class (``score="probability"``) or its logit
  (``score="logit"``). ``targets=None`` uses the class the model predicts on the unperturbed image.
- Maps are 2-D per image, (N, H, W); a (N, C, H, W) map is reduced by its mean over channels. Pixels are ranked
  by the map's value *as given*, descending (pass non-negative maps, e.g. ``abs``, to rank by magnitude; FORGrad
  maps are non-negative). Ties are broken by the flat pixel index ``h * W + w``, lower first (a stable sort), so a
  constant map ranks pixels in index order (with a warning).
- Deletion: step ``k = 0 .. steps`` replaces the ``round(k * H * W / steps)`` top-ranked pixels (round half up),
  in all channels at once, by the baseline (0, black, by default). The curve has ``steps + 1`` points; its x
  values are the actual fractions of pixels replaced, from 0 to 1; the score is the trapezoid area under the
  curve (lower is better). The curve starts at the score of the image and ends at the score of the baseline.
- Insertion: the same steps, starting from the baseline (by default a Gaussian blur of the image,
  ``sigma = min(H, W) / 16`` pixels, kernel ``2 * ceil(3 * sigma) + 1`` clipped to the image, reflect padding)
  and inserting the top-ranked pixels of the image (higher is better). The curve ends at the image's score.
- MuFidelity: the image is cut into a ``grid_size x grid_size`` grid of cells (row ``i`` belongs to cell row
  ``floor(i * grid_size / H)``, so cells differ in size by at most one pixel when ``H`` is not a multiple);
  each of ``n_subsets`` subsets removes every cell independently with probability ``subset_fraction`` (set to the
  baseline, 0 by default). The score is Spearman's correlation (average ranks for ties) between the sum of the
  map over the removed pixels and the drop of the target score, per image; 0 when either is constant. The
  subsets depend only on the seed (drawn on the CPU, the same on every device) and are shared by all images.

Performance: rankings take one ``argsort`` per map on the device; perturbed inputs are built in bulk with
``torch.where`` for chunks of (map, step) pairs; forward passes run in chunks of ``batch_size`` (on the CPU by
default the fastest of 16 to 256, measured on the first chunks by :class:`~forgrad_viz._utils.BatchSizer`)
under ``torch.inference_mode()`` with no host synchronisation inside the loop; the two endpoints of the curves
are computed once per image whatever the number of maps. MuFidelity's perturbed predictions are independent of the
map (:func:`mufidelity_perturbations`) and are reused for every map (:func:`mufidelity_scores`).
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from forgrad_viz._utils import (
    BatchSizer,
    check_choice,
    check_finite_number,
    check_images,
    check_model,
    check_positive_int,
    check_targets,
    class_scores,
    forward_logits,
    input_key,
    preserved_model,
)
from forgrad_viz.results import HIGHER_IS_BETTER, FaithfulnessResult

__all__ = [
    "BLUR_SIGMA_FRACTION",
    "DEFAULT_STEPS",
    "MuFidelityPerturbations",
    "auc",
    "blur",
    "deletion",
    "insertion",
    "localisation",
    "mufidelity",
    "mufidelity_perturbations",
    "mufidelity_scores",
    "perturbation_curves",
    "spearman",
]

#: Default number of Deletion/Insertion steps (the curves have ``steps + 1`` points, 5 % of the pixels a step).
DEFAULT_STEPS = 20
#: Insertion's default baseline is a Gaussian blur with ``sigma = BLUR_SIGMA_FRACTION * min(H, W)`` pixels.
BLUR_SIGMA_FRACTION = 1.0 / 16.0
#: MuFidelity defaults (Bhatt et al. 2020, as in Xplique).
DEFAULT_GRID_SIZE = 9
DEFAULT_SUBSET_FRACTION = 0.2
DEFAULT_N_SUBSETS = 200


_MODES = ("deletion", "insertion")
_SCORES = ("probability", "logit")
_CONSTANT_MAP_WARNING = "map is constant; pixels ranked in index order"

Baseline = float | torch.Tensor | str | Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------------- inputs


def _compute_device(model: nn.Module, images: torch.Tensor) -> torch.device:
    """The model's device, or the images' device for a model without parameters or buffers."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return images.device if tensor is None else tensor.device


def _check_map_values(maps: Any, name: str = "maps") -> torch.Tensor:
    """A finite real tensor (numpy arrays are converted)."""
    if isinstance(maps, np.ndarray):
        maps = torch.from_numpy(maps)
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array; got {type(maps).__name__}")
    if maps.dtype == torch.bool or maps.is_complex():
        raise TypeError(f"{name} must hold real numbers; got dtype {maps.dtype}")
    if not bool(torch.isfinite(maps).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return maps


def _image_maps(maps: Any, images: torch.Tensor, name: str = "maps") -> torch.Tensor:
    """Validate maps of shape (N, H, W) or (N, C, H, W) against images (N, C, H, W); return (N, H, W)."""
    maps = _check_map_values(maps, name)
    n, _, h, w = images.shape
    if maps.dim() not in (3, 4) or maps.shape[0] != n or tuple(maps.shape[-2:]) != (h, w):
        raise ValueError(
            f"{name} must have shape (N, H, W) or (N, C, H, W) matching the images (N={n}, H={h}, W={w}); "
            f"got shape {tuple(maps.shape)}"
        )
    if not maps.is_floating_point():
        maps = maps.to(torch.float32)
    return maps.mean(dim=1) if maps.dim() == 4 else maps


def _stacked_maps(maps: Any, images: torch.Tensor, device: torch.device, name: str = "maps") -> torch.Tensor:
    """Validate maps of shape (..., N, H, W) against images; return them on ``device`` (float)."""
    maps = _check_map_values(maps, name)
    n, _, h, w = images.shape
    if maps.dim() < 3 or tuple(maps.shape[-3:]) != (n, h, w):
        raise ValueError(
            f"{name} must have shape (..., N, H, W) matching the images (N={n}, H={h}, W={w}); got shape "
            f"{tuple(maps.shape)} (reduce the channels of (N, C, H, W) maps first, or use deletion/insertion)"
        )
    dtype = maps.dtype if maps.is_floating_point() else torch.float32
    return maps.to(device=device, dtype=dtype)


def _check_score(score: Any) -> str:
    return check_choice(score, "score", _SCORES)


def _warn_constant(maps: torch.Tensor, stacklevel: int = 3) -> None:
    """Warn once if any 2-D map (last two axes) is constant (``stacklevel`` points at the user's call)."""
    flat = maps.flatten(-2)
    constant = int((flat.amax(dim=-1) == flat.amin(dim=-1)).sum())
    if constant:
        warnings.warn(f"{_CONSTANT_MAP_WARNING} ({constant} map(s))", UserWarning, stacklevel=stacklevel)


# ------------------------------------------------------------------------------------------------ baselines


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


def _baseline_images(baseline: Baseline, images: torch.Tensor) -> tuple[torch.Tensor, str]:
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


# ------------------------------------------------------------------------------------------- forward passes


def _target_logits(
    model: nn.Module, images: torch.Tensor, targets: Any, batch_size: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of the unperturbed images and the target classes (predicted ones for ``targets=None``)."""
    logits = forward_logits(model, images, batch_size)
    if logits.dim() != 2:
        raise ValueError(f"model must return logits of shape (N, classes); got shape {tuple(logits.shape)}")
    if targets is None:
        return logits, logits.argmax(dim=1)
    return logits, check_targets(targets, images.shape[0], logits.shape[1], images.device)


def _score_jobs(
    model: nn.Module,
    total: int,
    build: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    score: str,
    batch_size: int | None,
    images: torch.Tensor,
    out_dtype: torch.dtype,
    progress: bool = False,
    description: str = "",
) -> torch.Tensor:
    """Target scores (total,) of perturbed inputs, on the images' device, without host synchronisation.

    ``build(jobs)`` receives a chunk of job indices (a device tensor) and returns the chunk's inputs (shaped like
    ``images[0]``) and target classes. Chunk sizes come from :class:`~forgrad_viz._utils.BatchSizer`.
    """
    device = images.device
    sizer = BatchSizer(model, batch_size, device, input_key(images))
    jobs = torch.arange(total, device=device)
    out = torch.empty(total, device=device, dtype=out_dtype)
    start = 0
    with (
        preserved_model(model),
        torch.inference_mode(),
        tqdm(total=total, desc=description, disable=not progress, leave=False) as bar,
    ):
        while start < total:
            stop = min(start + sizer.next_size(total - start), total)
            began = time.perf_counter()
            try:
                inputs, targets = build(jobs[start:stop])
                out[start:stop] = class_scores(model(inputs), targets, score)
            except RuntimeError as error:
                if sizer.back_off(error):
                    continue
                raise
            sizer.record(stop - start, time.perf_counter() - began)
            bar.update(stop - start)
            start = stop
    return out


# -------------------------------------------------------------------------------------- Deletion/Insertion


def _step_counts(steps: int, n_pixels: int, device: torch.device) -> torch.Tensor:
    """Pixels perturbed at steps 0..steps: ``round(k * n_pixels / steps)``, half up, as a long tensor."""
    k = torch.arange(steps + 1, device=device, dtype=torch.long)
    return (2 * k * n_pixels + steps) // (2 * steps)


def _pixel_steps(maps: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """For each pixel of each map (..., H, W): the first step at which it is perturbed (int32)."""
    flat = maps.flatten(-2)
    order = torch.argsort(flat, dim=-1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(flat.shape[-1], device=flat.device).expand_as(order))
    first = torch.searchsorted(counts, ranks, right=True)
    return first.to(torch.int32).reshape(maps.shape)


def perturbation_curves(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: Any = None,
    *,
    mode: str,
    steps: int = DEFAULT_STEPS,
    baseline: Baseline | None = None,
    score: str = "probability",
    batch_size: int | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deletion or Insertion curves of many maps per image, sharing the endpoints.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier returning logits (N, classes); run in eval mode, restored afterwards.
    images : torch.Tensor
        (N, C, H, W) images in pixel space; moved to the model's device.
    maps : torch.Tensor
        (..., N, H, W) maps: any leading dims (e.g. (S, N, H, W) for S cutoffs); moved to the model's device.
    targets : None, int or sequence of int
        Target classes; ``None`` uses the predicted class.
    mode : {"deletion", "insertion"}
        Deletion perturbs the image towards the baseline; Insertion starts from the baseline.
    steps : int
        Number of steps; step ``k`` perturbs the ``round(k * H * W / steps)`` top-ranked pixels.
    baseline : float, torch.Tensor, "blur" or callable, optional
        What perturbed pixels become (Deletion) or where Insertion starts: a number, a tensor broadcastable to
        (N, C, H, W), ``"blur"`` (:func:`blur`) or a callable ``images -> tensor (N, C, H, W)``.
        ``None`` means 0.0 for Deletion and ``"blur"`` for Insertion.
    score : {"probability", "logit"}
        Softmax probability or logit of the target class.
    batch_size : int, optional
        Inputs per forward pass. Automatic by default: on the CPU the fastest of 16 to 256,
        measured on the first chunks and remembered per model; on CUDA 512, halved on out-of-memory.
    progress : bool
        Show a progress bar.

    Returns
    -------
    x : torch.Tensor
        (steps + 1,) float64 fractions of pixels perturbed, from 0 to 1.
    curves : torch.Tensor
        (..., N, steps + 1) scores on the CPU. ``S * N * (steps - 1) + 2 * N`` forward passes in all.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> x, curves = perturbation_curves(net, torch.rand(2, 3, 8, 8), torch.rand(5, 2, 8, 8),
    ...                                 mode="deletion", steps=4)
    >>> tuple(x.shape), tuple(curves.shape)
    ((5,), (5, 2, 5))
    """
    model = check_model(model)
    mode = check_choice(mode, "mode", _MODES)
    steps = check_positive_int(steps, "steps")
    score = _check_score(score)
    images = check_images(images)
    device = _compute_device(model, images)
    images = images.to(device)
    maps = _stacked_maps(maps, images, device)
    _warn_constant(maps)
    if baseline is None:
        baseline = 0.0 if mode == "deletion" else "blur"
    base, _ = _baseline_images(baseline, images)
    logits, targets = _target_logits(model, images, targets, batch_size)
    return _curves(model, images, maps, targets, logits, base, mode, steps, score, batch_size, progress)


def _curves(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: torch.Tensor,
    logits: torch.Tensor,
    base: torch.Tensor,
    mode: str,
    steps: int,
    score: str,
    batch_size: int | None,
    progress: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Curves (..., N, steps + 1) for validated inputs on one device (see :func:`perturbation_curves`)."""
    n, _, h, w = images.shape
    device = images.device
    start, fill = (images, base) if mode == "deletion" else (base, images)
    counts = _step_counts(steps, h * w, device)
    lead = maps.shape[:-3]
    pixel_steps = _pixel_steps(maps, counts).reshape(-1, h, w)  # (S * N, H, W), S = prod(lead)
    image_scores = class_scores(logits, targets, score)
    dtype = torch.promote_types(image_scores.dtype, torch.float32)
    base_scores = _score_jobs(model, n, lambda j: (base[j], targets[j]), score, batch_size, images, dtype)
    interior = steps - 1

    def build(jobs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pair, k = jobs // interior, jobs % interior + 1
        image = pair % n
        perturbed = (pixel_steps[pair] <= k.reshape(-1, 1, 1).to(torch.int32)).unsqueeze(1)
        return torch.where(perturbed, fill[image], start[image]), targets[image]

    total = pixel_steps.shape[0] * interior
    middle = _score_jobs(model, total, build, score, batch_size, images, dtype, progress, mode)
    first, last = (image_scores, base_scores) if mode == "deletion" else (base_scores, image_scores)
    n_maps = pixel_steps.shape[0] // n
    curves = torch.cat(
        [
            first.to(dtype).repeat(n_maps).unsqueeze(1),
            middle.reshape(-1, interior),
            last.to(dtype).repeat(n_maps).unsqueeze(1),
        ],
        dim=1,
    )
    x = counts.double() / (h * w)
    return x.cpu(), curves.reshape(*lead, n, steps + 1).cpu().clone()


def auc(x: torch.Tensor, curves: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under ``curves`` (..., P) sampled at ``x`` (P,), over the last axis.

    Examples
    --------
    >>> auc(torch.tensor([0.0, 0.5, 1.0]), torch.tensor([1.0, 0.5, 0.0])).item()
    0.5
    """
    x = torch.as_tensor(x)
    curves = torch.as_tensor(curves)
    if x.dim() != 1 or curves.shape[-1:] != x.shape:
        raise ValueError(
            f"curves must have shape (..., P) with P = len(x) = {x.shape[-1] if x.dim() else 0}; "
            f"got shape {tuple(curves.shape)}"
        )
    dtype = torch.promote_types(curves.dtype, x.dtype)
    return torch.trapezoid(curves.to(dtype), x=x.to(device=curves.device, dtype=dtype), dim=-1)


def _curve_metric(
    metric: str,
    model: nn.Module,
    images: torch.Tensor,
    maps: Any,
    targets: Any,
    steps: int,
    baseline: Baseline,
    score: str,
    batch_size: int | None,
    progress: bool,
) -> FaithfulnessResult:
    model = check_model(model)
    steps = check_positive_int(steps, "steps")
    score = _check_score(score)
    images = check_images(images)
    device = _compute_device(model, images)
    images = images.to(device)
    maps = _image_maps(maps, images).to(device=device)
    _warn_constant(maps, stacklevel=4)
    base, description = _baseline_images(baseline, images)
    logits, targets = _target_logits(model, images, targets, batch_size)
    x, curves = _curves(
        model, images, maps, targets, logits, base, metric, steps, score, batch_size, progress
    )
    params = {
        "steps": steps,
        "baseline": description,
        "score": score,
        "ranking": "map value (channel mean for 4-D maps), descending; ties by pixel index",
        "auc": "trapezoid over the fraction of pixels perturbed",
        "n_images": int(images.shape[0]),
        "image_size": [int(images.shape[2]), int(images.shape[3])],
    }
    return FaithfulnessResult(
        metric=metric,
        scores=auc(x, curves).numpy(),
        higher_is_better=HIGHER_IS_BETTER[metric],
        params=params,
        curves=curves.double().numpy(),
        x=x.numpy(),
    )


def deletion(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: Any = None,
    *,
    steps: int = DEFAULT_STEPS,
    baseline: Baseline = 0.0,
    score: str = "probability",
    batch_size: int | None = None,
    progress: bool = False,
) -> FaithfulnessResult:
    """Deletion (Petsiuk et al. 2018): remove the most important pixels first; lower area is better.

    Step ``k = 0 .. steps`` sets the ``round(k * H * W / steps)`` top-ranked pixels (all channels) to the
    baseline. Pixels are ranked by the map's value, descending, ties by pixel index (a constant map warns and
    ranks in index order). The score per image is the trapezoid area under score versus the fraction removed.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier returning logits; evaluated in eval mode, its mode is restored afterwards.
    images : torch.Tensor
        (N, C, H, W) images in pixel space (moved to the model's device; not modified).
    maps : torch.Tensor or numpy.ndarray
        (N, H, W) maps, or (N, C, H, W) reduced by the channel mean. Pass non-negative maps (e.g. ``abs``) to
        rank by magnitude.
    targets : None, int or sequence of int
        Target classes; ``None`` uses the predicted class.
    steps : int
        Number of steps (``DEFAULT_STEPS`` = 20, 5 % of the pixels per step); the curve has ``steps + 1``
        points.
    baseline : float, torch.Tensor, "blur" or callable
        The value removed pixels take: a number (0.0, black, by default), a tensor broadcastable to
        (N, C, H, W), ``"blur"`` or a callable ``images -> (N, C, H, W)``.
    score : {"probability", "logit"}
        Softmax probability (default) or logit of the target class.
    batch_size : int, optional
        Inputs per forward pass. Automatic by default: on the CPU the fastest of 16 to 256,
        measured on the first chunks and remembered per model; on CUDA 512, halved on out-of-memory.
    progress : bool
        Show a progress bar.

    Returns
    -------
    FaithfulnessResult
        ``scores`` (N,) areas, ``curves`` (N, steps + 1) starting at the image's score and ending at the
        baseline's, ``x`` the fractions removed, ``params`` the protocol.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> result = deletion(net, torch.rand(4, 3, 8, 8), torch.rand(4, 8, 8), steps=8)
    >>> result.curves.shape
    (4, 9)
    """
    return _curve_metric(
        "deletion", model, images, maps, targets, steps, baseline, score, batch_size, progress
    )


def insertion(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: Any = None,
    *,
    steps: int = DEFAULT_STEPS,
    baseline: Baseline = "blur",
    score: str = "probability",
    batch_size: int | None = None,
    progress: bool = False,
) -> FaithfulnessResult:
    """Insertion (Petsiuk et al. 2018): insert the most important pixels first into a baseline; higher is better.

    Step ``k = 0 .. steps`` copies the ``round(k * H * W / steps)`` top-ranked pixels (all channels) of the image
    into the baseline. Ranking, ties and area as in :func:`deletion`.

    Parameters
    ----------
    model, images, maps, targets, steps, score, batch_size, progress
        As in :func:`deletion`.
    baseline : float, torch.Tensor, "blur" or callable
        The starting image: ``"blur"`` by default, a Gaussian blur with ``sigma = min(H, W) / 16`` pixels
        (:func:`blur`); or a number, a tensor broadcastable to (N, C, H, W), or a callable
        ``images -> (N, C, H, W)``.

    Returns
    -------
    FaithfulnessResult
        ``scores`` (N,) areas, ``curves`` (N, steps + 1) starting at the baseline's score and ending at the
        image's, ``x`` the fractions inserted, ``params`` the protocol.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> result = insertion(net, torch.rand(4, 3, 8, 8), torch.rand(4, 8, 8), steps=8)
    >>> result.scores.shape
    (4,)
    """
    return _curve_metric(
        "insertion", model, images, maps, targets, steps, baseline, score, batch_size, progress
    )


# ---------------------------------------------------------------------------------------------- MuFidelity


@dataclass
class MuFidelityPerturbations:
    """The model's response to MuFidelity's random subsets, independent of any attribution map.

    Attributes
    ----------
    subsets : torch.Tensor
        (n_subsets, H, W) bool, True on the pixels removed by each subset (shared by all images).
    drops : torch.Tensor
        (N, n_subsets) drop of the target score, ``score(image) - score(image with the subset removed)``, on the
        model's device.
    params : dict
        The protocol's parameters (JSON-serialisable).
    """

    subsets: torch.Tensor
    drops: torch.Tensor
    params: dict[str, Any] = field(default_factory=dict)


def _grid_subsets(
    h: int, w: int, grid_size: int, subset_fraction: float, n_subsets: int, seed: int, device: torch.device
) -> torch.Tensor:
    """(n_subsets, H, W) bool masks of removed grid cells, drawn on the CPU from ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer; got {type(seed).__name__}")
    generator = torch.Generator().manual_seed(seed)
    cells = torch.rand(n_subsets, grid_size, grid_size, generator=generator) < subset_fraction
    rows = torch.arange(h) * grid_size // h
    cols = torch.arange(w) * grid_size // w
    return cells[:, rows[:, None], cols[None, :]].to(device)


def mufidelity_perturbations(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    *,
    grid_size: int = DEFAULT_GRID_SIZE,
    subset_fraction: float = DEFAULT_SUBSET_FRACTION,
    n_subsets: int = DEFAULT_N_SUBSETS,
    baseline: Baseline = 0.0,
    score: str = "probability",
    seed: int = 0,
    batch_size: int | None = None,
    progress: bool = False,
) -> MuFidelityPerturbations:
    """The score drops of MuFidelity's random subsets: ``N * (n_subsets + 1)`` forward passes, map-free.

    Parameters
    ----------
    model, images, targets, score, batch_size, progress
        As in :func:`mufidelity`.
    grid_size : int
        Cells per side of the super-pixel grid (9); at most ``min(H, W)``.
    subset_fraction : float
        Probability that a cell is removed, in (0, 1) (0.2).
    n_subsets : int
        Number of random subsets (200).
    baseline : float, torch.Tensor, "blur" or callable
        The value of removed pixels (0.0).
    seed : int
        Seed of the subsets (drawn on the CPU: the same subsets on every device; shared by all images).

    Returns
    -------
    MuFidelityPerturbations
        Reuse it for many maps with :func:`mufidelity_scores`.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> pert = mufidelity_perturbations(net, torch.rand(2, 3, 8, 8), grid_size=4, n_subsets=16)
    >>> tuple(pert.drops.shape), tuple(pert.subsets.shape)
    ((2, 16), (16, 8, 8))
    """
    model = check_model(model)
    images = check_images(images)
    score = _check_score(score)
    _, _, h, w = images.shape
    grid_size = check_positive_int(grid_size, "grid_size")
    if grid_size > min(h, w):
        raise ValueError(f"grid_size must be at most min(H, W) = {min(h, w)}; got {grid_size}")
    n_subsets = check_positive_int(n_subsets, "n_subsets", minimum=2)
    fraction = check_finite_number(subset_fraction, "subset_fraction", positive=True)
    if fraction >= 1.0:
        raise ValueError(f"subset_fraction must lie in (0, 1); got {fraction}")
    device = _compute_device(model, images)
    images = images.to(device)
    base, description = _baseline_images(baseline, images)
    subsets = _grid_subsets(h, w, grid_size, fraction, n_subsets, seed, device)
    logits, targets = _target_logits(model, images, targets, batch_size)
    image_scores = class_scores(logits, targets, score)
    dtype = torch.promote_types(image_scores.dtype, torch.float32)

    def build(jobs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image, subset = jobs // n_subsets, jobs % n_subsets
        return torch.where(subsets[subset].unsqueeze(1), base[image], images[image]), targets[image]

    total = images.shape[0] * n_subsets
    perturbed = _score_jobs(model, total, build, score, batch_size, images, dtype, progress, "mufidelity")
    drops = image_scores.to(dtype).unsqueeze(1) - perturbed.reshape(-1, n_subsets)
    params = {
        "grid_size": grid_size,
        "subset_fraction": fraction,
        "n_subsets": n_subsets,
        "baseline": description,
        "score": score,
        "seed": seed,
        "correlation": "spearman (average ranks; 0 when constant)",
        "n_images": int(images.shape[0]),
        "image_size": [h, w],
    }
    return MuFidelityPerturbations(subsets=subsets, drops=drops, params=params)


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks (0-based) along the last axis, ties sharing their average rank."""
    ordered = values.sort(dim=-1).values.contiguous()
    values = values.contiguous()
    low = torch.searchsorted(ordered, values, right=False)
    high = torch.searchsorted(ordered, values, right=True)
    return (low + high - 1).to(torch.float64) / 2.0


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation along the last axis (broadcast), average ranks for ties; 0 if constant.

    Examples
    --------
    >>> spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 30.0, 20.0])).item()
    0.5
    """
    a, b = torch.broadcast_tensors(a, b)
    ra = _average_ranks(a)
    rb = _average_ranks(b)
    ra = ra - ra.mean(dim=-1, keepdim=True)
    rb = rb - rb.mean(dim=-1, keepdim=True)
    denominator = (ra.square().sum(dim=-1) * rb.square().sum(dim=-1)).sqrt()
    numerator = (ra * rb).sum(dim=-1)
    safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return torch.where(denominator > 0, numerator / safe, torch.zeros_like(numerator))


def mufidelity_scores(maps: torch.Tensor, perturbations: MuFidelityPerturbations) -> torch.Tensor:
    """MuFidelity of maps (..., N, H, W) from precomputed perturbations: (...,N) Spearman correlations.

    The attribution sums over every subset come from one matrix product; correlations are computed on the
    perturbations' device and returned there (float64). A map whose sums are constant (e.g. all zero) scores 0.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> pert = mufidelity_perturbations(net, torch.rand(2, 3, 8, 8), grid_size=4, n_subsets=16)
    >>> tuple(mufidelity_scores(torch.rand(3, 2, 8, 8), pert).shape)
    (3, 2)
    """
    if not isinstance(perturbations, MuFidelityPerturbations):
        raise TypeError(
            f"perturbations must be a MuFidelityPerturbations; got {type(perturbations).__name__}"
        )
    maps = _check_map_values(maps)
    subsets, drops = perturbations.subsets, perturbations.drops
    n = drops.shape[0]
    h, w = subsets.shape[-2:]
    if maps.dim() < 3 or tuple(maps.shape[-3:]) != (n, h, w):
        raise ValueError(
            f"maps must have shape (..., N, H, W) = (..., {n}, {h}, {w}) to match the perturbations; got "
            f"shape {tuple(maps.shape)}"
        )
    maps = maps.to(device=drops.device, dtype=torch.float64)
    sums = maps.flatten(-2) @ subsets.flatten(1).to(torch.float64).T  # (..., N, n_subsets)
    return spearman(sums, drops.to(torch.float64))


def mufidelity(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: Any = None,
    *,
    grid_size: int = DEFAULT_GRID_SIZE,
    subset_fraction: float = DEFAULT_SUBSET_FRACTION,
    n_subsets: int = DEFAULT_N_SUBSETS,
    baseline: Baseline = 0.0,
    score: str = "probability",
    seed: int = 0,
    batch_size: int | None = None,
    progress: bool = False,
) -> FaithfulnessResult:
    """MuFidelity (Bhatt et al. 2020): rank correlation of attribution sums and score drops over random subsets.

    A ``grid_size x grid_size`` grid of super-pixels (cells differ by at most a pixel in size when the image
    size is not a multiple); each of ``n_subsets`` subsets removes every cell with probability
    ``subset_fraction`` (sets it to the baseline). Per image, the score is Spearman's correlation between the sum
    of the map over the removed pixels and ``score(image) - score(perturbed)``; 0 when either is constant.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier returning logits; its mode is restored afterwards.
    images : torch.Tensor
        (N, C, H, W) images (not modified).
    maps : torch.Tensor or numpy.ndarray
        (N, H, W) maps, or (N, C, H, W) reduced by the channel mean (signed values are summed as given).
    targets : None, int or sequence of int
        Target classes; ``None`` uses the predicted class.
    grid_size : int
        Cells per side (9).
    subset_fraction : float
        Probability that a cell is removed (0.2).
    n_subsets : int
        Number of subsets (200).
    baseline : float, torch.Tensor, "blur" or callable
        The value of removed pixels (0.0).
    score : {"probability", "logit"}
        Softmax probability (default) or logit of the target class.
    seed : int
        Seed of the subsets: the same seed gives the same subsets, on any device; shared by all images.
    batch_size : int, optional
        Inputs per forward pass. Automatic by default: on the CPU the fastest of 16 to 256,
        measured on the first chunks and remembered per model; on CUDA 512, halved on out-of-memory.
    progress : bool
        Show a progress bar.

    Returns
    -------
    FaithfulnessResult
        ``scores`` (N,) correlations in [-1, 1] (higher is better), ``params`` the protocol.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> result = mufidelity(net, torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8), grid_size=4, n_subsets=32)
    >>> bool(-1.0 <= result.mean() <= 1.0)
    True
    """
    images = check_images(images)
    maps = _image_maps(maps, images)
    perturbations = mufidelity_perturbations(
        model,
        images,
        targets,
        grid_size=grid_size,
        subset_fraction=subset_fraction,
        n_subsets=n_subsets,
        baseline=baseline,
        score=score,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
    )
    scores = mufidelity_scores(maps, perturbations)
    return FaithfulnessResult(
        metric="mufidelity",
        scores=scores.cpu().numpy(),
        higher_is_better=HIGHER_IS_BETTER["mufidelity"],
        params=perturbations.params,
    )


# -------------------------------------------------------------------------------------------- localisation


def localisation(maps: Any, masks: Any) -> np.ndarray:
    """Share of the positive attribution mass inside the ground-truth mask (energy-based pointing game).

    Parameters
    ----------
    maps : torch.Tensor or numpy.ndarray
        (N, H, W) maps, or (N, C, H, W) reduced by the channel mean; negative values count as 0.
    masks : torch.Tensor or numpy.ndarray
        (N, H, W) bool, True on the object.

    Returns
    -------
    numpy.ndarray
        (N,) float64 in [0, 1]: ``sum(max(map, 0) * mask) / sum(max(map, 0))``. A map without positive mass
        scores 0, with a warning (never NaN).

    Examples
    --------
    >>> maps = torch.tensor([[[1.0, 3.0], [0.0, -2.0]]])
    >>> masks = torch.tensor([[[False, True], [True, True]]])
    >>> localisation(maps, masks)
    array([0.75])
    """
    maps = _check_map_values(maps)
    if isinstance(masks, np.ndarray):
        masks = torch.from_numpy(masks)
    if not isinstance(masks, torch.Tensor) or masks.dtype != torch.bool:
        raise TypeError("masks must be a boolean tensor or array of shape (N, H, W)")
    if masks.dim() != 3 or maps.dim() not in (3, 4) or maps.shape[0] != masks.shape[0]:
        raise ValueError(
            f"maps must have shape (N, H, W) or (N, C, H, W) and masks (N, H, W) with the same N, H, W; got "
            f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)}"
        )
    if tuple(maps.shape[-2:]) != tuple(masks.shape[-2:]):
        raise ValueError(
            f"maps and masks must have the same H, W; got maps {tuple(maps.shape)} and masks "
            f"{tuple(masks.shape)}"
        )
    maps = maps.to(torch.float64)
    maps = maps.mean(dim=1) if maps.dim() == 4 else maps
    positive = maps.clamp(min=0.0)
    total = positive.flatten(1).sum(dim=1)
    inside = (positive * masks.to(positive.device)).flatten(1).sum(dim=1)
    empty = total <= 0
    if bool(empty.any()):
        warnings.warn(
            f"{int(empty.sum())} map(s) have no positive attribution mass; their localisation is 0",
            UserWarning,
            stacklevel=2,
        )
    return torch.where(empty, torch.zeros_like(inside), inside / torch.where(empty, 1.0, total)).cpu().numpy()
