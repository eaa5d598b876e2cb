"""Deletion and Insertion (Petsiuk et al. 2018): perturbation curves of many maps per image and their areas.

Rankings take one ``argsort`` per map on the device; perturbed inputs are built in bulk with ``torch.where`` for
chunks of (map, step) pairs; the two endpoints of the curves are computed once per image whatever the number of
maps.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from forgrad_viz._utils import check_choice, check_images, check_model, check_positive_int, class_scores
from forgrad_viz.metrics._forward import job_groups, score_jobs, target_logits
from forgrad_viz.metrics._inputs import check_score, compute_device, image_maps, stacked_maps, warn_constant
from forgrad_viz.metrics.baselines import Baseline, baseline_images
from forgrad_viz.metrics.stats import auc
from forgrad_viz.results import HIGHER_IS_BETTER, FaithfulnessResult
from forgrad_viz.scoring import scoring_model
from forgrad_viz.scoring.api import describe_scoring

__all__ = ["DEFAULT_STEPS", "deletion", "insertion", "perturbation_curves"]

#: Default number of Deletion/Insertion steps (the curves have ``steps + 1`` points, 5 % of the pixels a step).
DEFAULT_STEPS = 20

_MODES = ("deletion", "insertion")


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
    precision: str = "fp32",
    backend: str = "torch",
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
    mode : {"deletion", "insertion"}
        Deletion perturbs the image towards the baseline; Insertion starts from the baseline.
    steps : int
        Number of steps; step ``k`` perturbs the ``round(k * H * W / steps)`` top-ranked pixels.
    baseline : float, torch.Tensor, "blur" or callable, optional
        What perturbed pixels become (Deletion) or where Insertion starts: a number, a tensor broadcastable to
        (N, C, H, W), ``"blur"`` (:func:`blur`) or a callable ``images -> tensor (N, C, H, W)``.
        ``None`` means 0.0 for Deletion and ``"blur"`` for Insertion.
    targets, score, batch_size, progress, precision, backend
        As in :func:`deletion`.

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
    x, curves, _ = curves_and_ranking(
        model,
        images,
        maps,
        targets,
        mode=mode,
        steps=steps,
        baseline=baseline,
        score=score,
        batch_size=batch_size,
        progress=progress,
        precision=precision,
        backend=backend,
        stacklevel=5,
    )
    return x, curves


def curves_and_ranking(
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
    precision: str = "fp32",
    backend: str = "torch",
    ranking: torch.Tensor | None = None,
    stacklevel: int = 4,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`perturbation_curves`, and the maps' ranking: Deletion and Insertion of the same maps rank them once.

    ``ranking`` is the third output of an earlier call with the same maps and ``steps`` (each pixel's first
    perturbed step, int32, on the model's device); ``None`` ranks the maps (one ``argsort`` per map).

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> images, maps = torch.rand(2, 3, 8, 8), torch.rand(5, 2, 8, 8)
    >>> _, deleted, ranking = curves_and_ranking(net, images, maps, mode="deletion", steps=4)
    >>> _, inserted, _ = curves_and_ranking(net, images, maps, mode="insertion", steps=4, ranking=ranking)
    >>> torch.equal(inserted, perturbation_curves(net, images, maps, mode="insertion", steps=4)[1])
    True
    """
    model = scoring_model(check_model(model), precision, backend)
    mode = check_choice(mode, "mode", _MODES)
    steps = check_positive_int(steps, "steps")
    score = check_score(score)
    if baseline is None:
        baseline = 0.0 if mode == "deletion" else "blur"
    inputs = _curve_inputs(
        model, images, maps, targets, baseline, batch_size, stacked=True, stacklevel=stacklevel
    )
    if ranking is not None and ranking.shape != inputs.maps.shape:
        raise ValueError(
            f"ranking must have the maps' shape {tuple(inputs.maps.shape)}; got {tuple(ranking.shape)}"
        )
    return _curves(model, inputs, mode, steps, score, batch_size, progress, ranking)


class _CurveInputs(NamedTuple):
    """Validated inputs of Deletion/Insertion, on the model's device."""

    images: torch.Tensor  # (N, C, H, W)
    maps: torch.Tensor  # (..., N, H, W)
    base: torch.Tensor  # the baseline images (N, C, H, W)
    baseline: str  # the baseline's description
    logits: torch.Tensor  # of the unperturbed images (N, classes)
    targets: torch.Tensor  # target classes (N,)


def _curve_inputs(
    model: nn.Module,
    images: Any,
    maps: Any,
    targets: Any,
    baseline: Baseline,
    batch_size: int | None,
    *,
    stacked: bool,
    stacklevel: int,
) -> _CurveInputs:
    """Images, maps and baseline on the model's device, and the target logits; warns of constant maps.

    ``stacked`` maps are (..., N, H, W); otherwise (N, H, W) or (N, C, H, W), reduced by the channel mean.
    ``stacklevel`` is the constant-map warning's (it points at the user's call).
    """
    images = check_images(images)
    device = compute_device(model, images)
    images = images.to(device)
    maps = stacked_maps(maps, images, device) if stacked else image_maps(maps, images).to(device=device)
    warn_constant(maps, stacklevel=stacklevel)
    base, description = baseline_images(baseline, images)
    logits, targets = target_logits(model, images, targets, batch_size)
    return _CurveInputs(images, maps, base, description, logits, targets)


def _curves(
    model: nn.Module,
    inputs: _CurveInputs,
    mode: str,
    steps: int,
    score: str,
    batch_size: int | None,
    progress: bool,
    pixel_steps: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Curves (..., N, steps + 1) for validated inputs on one device (see :func:`perturbation_curves`), and the
    maps' ranking (each pixel's first perturbed step), which ``pixel_steps`` takes when the caller already has it."""
    images, maps, base, targets = inputs.images, inputs.maps, inputs.base, inputs.targets
    n, _, h, w = images.shape
    device = images.device
    start, fill = (images, base) if mode == "deletion" else (base, images)
    counts = _step_counts(steps, h * w, device)
    lead = maps.shape[:-3]
    ranking = _pixel_steps(maps, counts) if pixel_steps is None else pixel_steps
    pixel_steps = ranking.reshape(-1, h, w)  # (S * N, H, W), S = prod(lead)
    image_scores = class_scores(inputs.logits, targets, score)
    dtype = torch.promote_types(image_scores.dtype, torch.float32)
    base_scores = score_jobs(
        model, n, lambda a, b: (base[a:b], targets[a:b]), score, batch_size, images, dtype
    )
    interior = steps - 1

    interior_steps = torch.arange(1, steps, device=device, dtype=torch.int32).reshape(-1, 1, 1, 1)

    def build(lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        # jobs run pair-major: each (map, image) pair's steps broadcast against its one image, no gathered copies
        batch = images.new_empty((hi - lo, *images.shape[1:]))
        for pair, a, b in job_groups(lo, hi, interior):
            image = pair % n
            perturbed = pixel_steps[pair] <= interior_steps[a - pair * interior : b - pair * interior]
            torch.where(perturbed, fill[image], start[image], out=batch[a - lo : b - lo])
        return batch, targets[torch.arange(lo, hi, device=device) // interior % n]

    total = pixel_steps.shape[0] * interior
    middle = score_jobs(model, total, build, score, batch_size, images, dtype, progress, mode)
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
    return x.cpu(), curves.reshape(*lead, n, steps + 1).cpu().clone(), ranking


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
    precision: str,
    backend: str,
) -> FaithfulnessResult:
    """Deletion or Insertion (``metric``) of one map per image, scored by the area under its curve."""
    model = scoring_model(check_model(model), precision, backend)
    steps = check_positive_int(steps, "steps")
    score = check_score(score)
    inputs = _curve_inputs(model, images, maps, targets, baseline, batch_size, stacked=False, stacklevel=5)
    x, curves, _ = _curves(model, inputs, metric, steps, score, batch_size, progress)
    n, _, h, w = inputs.images.shape
    params = {
        "steps": steps,
        "baseline": inputs.baseline,
        "score": score,
        "ranking": "map value (channel mean for 4-D maps), descending; ties by pixel index",
        "auc": "trapezoid over the fraction of pixels perturbed",
        "n_images": int(n),
        "image_size": [int(h), int(w)],
        **describe_scoring(model),
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
    precision: str = "fp32",
    backend: str = "torch",
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
    precision : {"fp32", "bf16", "fp16"}
        Precision of the scoring forward passes (:func:`~forgrad_viz.scoring.scoring_model`; ``"fp16"`` on
        CUDA only); recorded in ``params``.
    backend : {"torch", "onnxruntime"}
        Backend of the scoring forward passes (``"onnxruntime"``: CPU, fp32, the ``onnx`` extra).

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
    return _curve_metric("deletion", **locals())  # every argument, under the same names


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
    precision: str = "fp32",
    backend: str = "torch",
) -> FaithfulnessResult:
    """Insertion (Petsiuk et al. 2018): insert the most important pixels first into a baseline; higher is better.

    Step ``k = 0 .. steps`` copies the ``round(k * H * W / steps)`` top-ranked pixels (all channels) of the image
    into the baseline. Ranking, ties and area as in :func:`deletion`.

    Parameters
    ----------
    model, images, maps, targets, steps, score, batch_size, progress, precision, backend
        As in :func:`deletion`.
    baseline : float, torch.Tensor, "blur" or callable
        The starting image: ``"blur"`` by default, a Gaussian blur with ``sigma = min(H, W) / 16`` pixels
        (:func:`blur`); or a number, a tensor broadcastable to (N, C, H, W), or a callable
        ``images -> (N, C, H, W)``.

    Returns
    -------
    FaithfulnessResult
        As from :func:`deletion`, but each curve runs from the baseline's score up to the image's, over ``x``
        the fractions inserted.

    Examples
    --------
    >>> images, maps = torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8)
    >>> pooled = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 5))
    >>> insertion(pooled, images, maps, steps=4).curves.shape
    (2, 5)
    """
    return _curve_metric("insertion", **locals())  # every argument, under the same names
