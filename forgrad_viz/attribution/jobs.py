"""One validated call of :func:`~forgrad_viz.attribution.explain` as a job, and the batching every method shares.

``batch_size`` counts model inputs per pass (images, or their interpolated, noisy, occluded or masked copies); work
is cut into chunks of images that fill a pass, and the pass size halves on CUDA out-of-memory errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from forgrad_viz._utils import iter_chunks, with_oom_backoff


@dataclass(frozen=True)
class _Job:
    """One validated call of :func:`explain`: what every method's runner needs."""

    model: nn.Module
    images: torch.Tensor
    targets: torch.Tensor
    opts: Mapping[str, Any]
    batch_size: int | None
    seed: int
    progress: bool


def _chunks(total: int, size: int, progress: bool, desc: str) -> Iterator[slice]:
    parts = list(iter_chunks(total, size))
    return iter(tqdm(parts, desc=desc, disable=not progress or len(parts) < 2, leave=False))


Compute = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def _per_image(job: _Job, compute: Compute, per_image: int, desc: str) -> torch.Tensor:
    """``compute(images, targets, pass_size)`` on chunks of ``pass_size // per_image`` images, concatenated.

    ``per_image`` is the number of model inputs one image costs per call (interpolation steps, noisy copies,
    occluded copies), so that each pass holds about ``pass_size`` inputs.
    """

    def work(pass_size: int) -> torch.Tensor:
        n_images = max(1, pass_size // per_image)
        parts = _chunks(job.images.shape[0], n_images, job.progress, desc)
        return torch.cat([compute(job.images[part], job.targets[part], pass_size) for part in parts])

    return with_oom_backoff(work, job.batch_size, job.images.device)


def _baseline_tensor(baseline: float | torch.Tensor, images: torch.Tensor) -> float | torch.Tensor:
    """A float as is, or a tensor broadcast to one image, shape (1, C, H, W), on the images' device."""
    if not isinstance(baseline, torch.Tensor):
        return baseline
    try:
        one = baseline.to(images).expand(images.shape[1:])
    except RuntimeError as error:
        raise ValueError(
            f"baseline must broadcast to one image of shape {tuple(images.shape[1:])}; "
            f"got shape {tuple(baseline.shape)}"
        ) from error
    return one.unsqueeze(0)
