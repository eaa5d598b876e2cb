"""Black-box references: Occlusion and RISE, forward passes only.

They explain the target's softmax probability by default (``score="probability"``) or its logit
(``score="logit"``), and return a single channel, (N, 1, H, W).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from captum.attr import Occlusion
from torch import nn

from forgrad_viz._utils import class_scores, iter_chunks, torch_generator, with_oom_backoff
from forgrad_viz.attribution.jobs import _baseline_tensor, _chunks, _Job, _per_image

#: RISE's default number of masks: 4,000, the setting of Petsiuk et al. (2018) for ResNet50 at 224x224 (and
#: Xplique's default). The same at every input size: RISE's Monte-Carlo error falls as 1/sqrt(n_masks) and
#: depends on the ``grid x grid`` cells of the masks (7 x 7 by default), not on the number of pixels, so 64x64
#: inputs need as many masks as 224x224 ones. Cost: one forward pass per mask and image.
RISE_DEFAULT_MASKS = 4000


def _scorer(model: nn.Module, score: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return (lambda x: model(x).softmax(dim=-1)) if score == "probability" else model


def _occlusion_geometry(opts: Mapping[str, Any], image_size: tuple[int, int]) -> tuple[tuple, tuple]:
    """(window, stride) in pixels; defaults: window about 1/8 of the shorter side, stride half the window."""
    height, width = image_size
    window = opts["window"] or (max(1, round(min(height, width) / 8)),) * 2
    stride = opts["stride"] or (max(1, window[0] // 2), max(1, window[1] // 2))
    if window[0] > height or window[1] > width:
        raise ValueError(f"window {window} must fit in the images of size {(height, width)}")
    if stride[0] > window[0] or stride[1] > window[1]:
        raise ValueError(f"stride {stride} must not exceed the window {window}")
    return window, stride


def _occlusion_windows(opts: Mapping[str, Any], image_size: tuple[int, int]) -> int:
    window, stride = _occlusion_geometry(opts, image_size)
    counts = [math.ceil((size - w) / s) + 1 for size, w, s in zip(image_size, window, stride, strict=True)]
    return counts[0] * counts[1]


def _occlusion(job: _Job) -> torch.Tensor:
    channels, image_size = job.images.shape[1], tuple(job.images.shape[-2:])
    window, stride = _occlusion_geometry(job.opts, image_size)
    occlusion = Occlusion(_scorer(job.model, job.opts["score"]))
    baseline = _baseline_tensor(job.opts["baseline"], job.images)

    def compute(x: torch.Tensor, t: torch.Tensor, pass_size: int) -> torch.Tensor:
        with torch.no_grad():
            maps = occlusion.attribute(
                x,
                sliding_window_shapes=(channels, *window),
                strides=(channels, *stride),
                baselines=baseline,
                target=t,
                perturbations_per_eval=max(1, pass_size // len(x)),
            )
        return maps.mean(dim=1, keepdim=True)  # the window spans all channels: they are equal

    return _per_image(job, compute, _occlusion_windows(job.opts, image_size), "occlusion")


class _RiseMasks:
    """RISE masks (Petsiuk et al. 2018), drawn once and rebuilt on demand, chunk by chunk, on the device.

    Each mask is a ``grid x grid`` binary grid (cells on with probability ``p``) upsampled bilinearly to
    ``(grid + 1) * cell`` pixels, ``cell = ceil(size / grid)``, and cropped to the image at a random shift in
    ``[0, cell)`` along each axis. Only the grids and shifts are stored, so the masks do not depend on how they
    are chunked.
    """

    def __init__(
        self, n_masks: int, grid: int, p: float, image_size: tuple[int, int], seed: int, like: torch.Tensor
    ):
        generator = torch_generator(seed, like.device)
        self.size = image_size
        self.cell = tuple(math.ceil(size / grid) for size in image_size)
        self.up = tuple((grid + 1) * cell for cell in self.cell)
        draw = torch.rand((n_masks, 1, grid, grid), generator=generator, device=like.device)
        self.grids = (draw < p).to(like.dtype)
        self.shifts = [
            torch.randint(cell, (n_masks,), generator=generator, device=like.device) for cell in self.cell
        ]

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        """Masks ``index`` (a 1-D long tensor), shape (len(index), H, W), values in [0, 1]."""
        up = F.interpolate(self.grids[index], size=self.up, mode="bilinear", align_corners=False)[:, 0]
        rows = self.shifts[0][index, None] + torch.arange(self.size[0], device=index.device)
        cols = self.shifts[1][index, None] + torch.arange(self.size[1], device=index.device)
        batch = torch.arange(index.shape[0], device=index.device)
        return up[batch[:, None, None], rows[:, :, None], cols[:, None, :]]


def _rise(job: _Job) -> torch.Tensor:
    """RISE on the device: one pass per (image, mask) pair, pairs batched across images, then one matmul
    per chunk of masks to accumulate ``sum_i score_i M_i``."""
    model, images, targets, opts = job.model, job.images, job.targets, job.opts
    n_images, n_masks = images.shape[0], opts["n_masks"]
    masks = _RiseMasks(n_masks, opts["grid"], opts["p"], tuple(images.shape[-2:]), job.seed, images)
    pairs = torch.arange(n_images * n_masks, device=images.device)
    mask_ids = torch.arange(n_masks, device=images.device)

    def scores_of(part: torch.Tensor) -> torch.Tensor:
        image, mask = part // n_masks, part % n_masks
        logits = model(images[image] * masks(mask)[:, None])
        return class_scores(logits, targets[image], opts["score"])

    def work(pass_size: int) -> torch.Tensor:
        with torch.inference_mode():
            parts = _chunks(pairs.shape[0], pass_size, job.progress, "rise")
            scores = torch.cat([scores_of(pairs[part]) for part in parts]).view(n_images, n_masks)
            saliency = images.new_zeros(n_images, images.shape[-2] * images.shape[-1])
            for part in iter_chunks(n_masks, pass_size):
                saliency += scores[:, part] @ masks(mask_ids[part]).flatten(1)
        return saliency

    saliency = with_oom_backoff(work, job.batch_size, images.device) / (n_masks * opts["p"])
    return saliency.view(n_images, 1, *images.shape[-2:])
