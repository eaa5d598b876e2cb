"""Forward passes of the metrics (internal): target logits, and target scores of perturbed inputs in chunks.

Forward passes run in chunks of ``batch_size`` (on the CPU by default the fastest of 16 to 256, measured on the
first chunks by :class:`~forgrad_viz._utils.BatchSizer`) under ``torch.inference_mode()`` with no host
synchronisation inside the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from forgrad_viz._utils import (
    BatchSizer,
    check_targets,
    class_scores,
    forward_logits,
    input_key,
    preserved_model,
)


def target_logits(
    model: nn.Module, images: torch.Tensor, targets: Any, batch_size: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of the unperturbed images and the target classes (predicted ones for ``targets=None``)."""
    logits = forward_logits(model, images, batch_size)
    if logits.dim() != 2:
        raise ValueError(f"model must return logits of shape (N, classes); got shape {tuple(logits.shape)}")
    if targets is None:
        return logits, logits.argmax(dim=1)
    return logits, check_targets(targets, images.shape[0], logits.shape[1], images.device)


def score_jobs(
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
