"""MuFidelity (Bhatt et al. 2020): rank correlation of attribution sums and score drops over random grid subsets.

The perturbed predictions are independent of the map (:func:`mufidelity_perturbations`) and are reused for every
map (:func:`mufidelity_scores`); :func:`mufidelity` does both for one map per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import (
    check_finite_number,
    check_images,
    check_model,
    check_positive_int,
    class_scores,
)
from forgrad_viz.metrics._forward import job_groups, score_jobs, target_logits
from forgrad_viz.metrics._inputs import check_map_values, check_score, compute_device, image_maps
from forgrad_viz.metrics.baselines import Baseline, baseline_images
from forgrad_viz.metrics.stats import spearman
from forgrad_viz.results import HIGHER_IS_BETTER, FaithfulnessResult
from forgrad_viz.scoring import scoring_model
from forgrad_viz.scoring.api import describe_scoring

__all__ = [
    "DEFAULT_GRID_SIZE",
    "DEFAULT_N_SUBSETS",
    "DEFAULT_SUBSET_FRACTION",
    "MuFidelityPerturbations",
    "mufidelity",
    "mufidelity_perturbations",
    "mufidelity_scores",
]

#: MuFidelity defaults (Bhatt et al. 2020, as in Xplique).
DEFAULT_GRID_SIZE = 9
DEFAULT_SUBSET_FRACTION = 0.2
DEFAULT_N_SUBSETS = 200


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


def _check_grid(
    grid_size: Any, n_subsets: Any, subset_fraction: Any, h: int, w: int
) -> tuple[int, int, float]:
    """The validated grid size (at most ``min(H, W)``), number of subsets (>= 2) and subset fraction in (0, 1)."""
    grid_size = check_positive_int(grid_size, "grid_size")
    if grid_size > min(h, w):
        raise ValueError(f"grid_size must be at most min(H, W) = {min(h, w)}; got {grid_size}")
    n_subsets = check_positive_int(n_subsets, "n_subsets", minimum=2)
    fraction = check_finite_number(subset_fraction, "subset_fraction", positive=True)
    if fraction >= 1.0:
        raise ValueError(f"subset_fraction must lie in (0, 1); got {fraction}")
    return grid_size, n_subsets, fraction


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
    precision: str = "fp32",
    backend: str = "torch",
) -> MuFidelityPerturbations:
    """The score drops of MuFidelity's random subsets: ``N * (n_subsets + 1)`` forward passes, map-free.

    Parameters
    ----------
    model, images, targets, score, batch_size, progress, precision, backend
        As in :func:`~forgrad_viz.metrics.deletion`.
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
    model = scoring_model(check_model(model), precision, backend)
    images = check_images(images)
    score = check_score(score)
    _, _, h, w = images.shape
    grid_size, n_subsets, fraction = _check_grid(grid_size, n_subsets, subset_fraction, h, w)
    device = compute_device(model, images)
    images = images.to(device)
    base, description = baseline_images(baseline, images)
    subsets = _grid_subsets(h, w, grid_size, fraction, n_subsets, seed, device)
    logits, targets = target_logits(model, images, targets, batch_size)
    image_scores = class_scores(logits, targets, score)
    dtype = torch.promote_types(image_scores.dtype, torch.float32)

    def build(lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        # jobs run image-major: each image's subsets broadcast against the one image, no gathered copies
        batch = images.new_empty((hi - lo, *images.shape[1:]))
        for image, a, b in job_groups(lo, hi, n_subsets):
            removed = subsets[a - image * n_subsets : b - image * n_subsets].unsqueeze(1)
            torch.where(removed, base[image], images[image], out=batch[a - lo : b - lo])
        return batch, targets[torch.arange(lo, hi, device=device) // n_subsets]

    total = images.shape[0] * n_subsets
    perturbed = score_jobs(model, total, build, score, batch_size, images, dtype, progress, "mufidelity")
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
        **describe_scoring(model),
    }
    return MuFidelityPerturbations(subsets=subsets, drops=drops, params=params)


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
    maps = check_map_values(maps)
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
    precision: str = "fp32",
    backend: str = "torch",
) -> FaithfulnessResult:
    """MuFidelity (Bhatt et al. 2020): rank correlation of attribution sums and score drops over random subsets.

    A ``grid_size x grid_size`` grid of super-pixels (cells differ by at most a pixel in size when the image
    size is not a multiple); each of ``n_subsets`` subsets removes every cell with probability
    ``subset_fraction`` (sets it to the baseline). Per image, the score is Spearman's correlation between the sum
    of the map over the removed pixels and ``score(image) - score(perturbed)``; 0 when either is constant.

    Parameters
    ----------
    model, images, targets, score, batch_size, progress, precision, backend
        As in :func:`~forgrad_viz.metrics.deletion`.
    maps : torch.Tensor or numpy.ndarray
        (N, H, W) maps, or (N, C, H, W) reduced by the channel mean (signed values are summed as given).
    grid_size, subset_fraction, n_subsets, baseline, seed
        The random subsets, as in :func:`mufidelity_perturbations` (defaults 9, 0.2, 200, 0.0 and 0).

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
    options = dict(locals())  # the keyword-only options, passed on unchanged under the same names
    for name in ("model", "images", "maps", "targets"):
        del options[name]
    images = check_images(images)
    maps = image_maps(maps, images)
    perturbations = mufidelity_perturbations(model, images, targets, **options)
    scores = mufidelity_scores(maps, perturbations)
    return FaithfulnessResult(
        metric="mufidelity",
        scores=scores.cpu().numpy(),
        higher_is_better=HIGHER_IS_BETTER["mufidelity"],
        params=perturbations.params,
    )
