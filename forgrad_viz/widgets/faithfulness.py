"""Deletion and Insertion on request in :class:`~forgrad_viz.widgets.ForgradExplorer`, and their figure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from forgrad_viz.filters import forgrad
from forgrad_viz.metrics import deletion, insertion
from forgrad_viz.results import FaithfulnessResult

__all__ = ["concatenate_results", "deletion_and_insertion", "faithfulness_figure"]


def deletion_and_insertion(
    model: nn.Module,
    images: torch.Tensor,
    attributions: torch.Tensor,
    targets: torch.Tensor,
    cutoff: float,
    kind: str,
    order: int,
    batch_size: int | None,
    metric_options: Mapping[str, Any],
) -> dict[str, FaithfulnessResult]:
    """Deletion and Insertion of the FORGrad maps at ``cutoff`` of ``attributions`` (one chunk of images)."""
    maps = forgrad(attributions, cutoff, kind=kind, order=order)
    return {
        name: metric(model, images, maps, targets, batch_size=batch_size, **metric_options)
        for name, metric in (("deletion", deletion), ("insertion", insertion))
    }


def concatenate_results(results: list[FaithfulnessResult]) -> FaithfulnessResult:
    """One result from results of disjoint chunks of images (same metric and protocol)."""
    first = results[0]
    curves = None if first.curves is None else np.concatenate([r.curves for r in results], axis=0)
    return FaithfulnessResult(
        metric=first.metric,
        scores=np.concatenate([r.scores for r in results]),
        higher_is_better=first.higher_is_better,
        params=first.params,
        curves=curves,
        x=first.x,
    )


def faithfulness_figure(results: Mapping[str, FaithfulnessResult], color: str, cutoff: float) -> Figure:
    """The curves of each result (one per image, grey; their mean in ``color``), titled with the AUC."""
    figure = Figure(figsize=(7.0, 2.6), dpi=80)
    axes = figure.subplots(1, len(results), squeeze=False)[0]
    for ax, (name, result) in zip(axes, results.items(), strict=True):
        ax.plot(result.x, result.curves.T, color="0.75", lw=0.6)
        ax.plot(result.x, result.curves.mean(axis=0), color=color, lw=1.6)
        ax.set_title(f"{name}: AUC {result.mean():.3f} (σ = {cutoff:.3g})", fontsize=9)
        ax.set_xlabel("fraction of pixels")
        ax.set_ylabel("score")
    figure.subplots_adjust(left=0.11, right=0.98, bottom=0.2, top=0.86, wspace=0.35)
    return figure
