"""The scoring protocol of a sweep: which metrics, with which parameters; validated once, described in JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import check_choice, check_positive_int
from forgrad_viz.results import HIGHER_IS_BETTER
from forgrad_viz.scoring import check_scoring_options

#: Metrics scored by default.
DEFAULT_METRICS: tuple[str, ...] = ("deletion", "insertion", "mufidelity")


@dataclass
class Protocol:
    """The metrics and their parameters, validated once."""

    metrics: tuple[str, ...]
    steps: int
    deletion_baseline: Any
    insertion_baseline: Any
    score: str
    mufidelity: dict[str, Any]
    batch_size: int | None
    precision: str = "fp32"
    backend: str = "torch"

    def describe(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "backend": self.backend,
            "steps": self.steps,
            "deletion_baseline": describe(self.deletion_baseline),
            "insertion_baseline": describe(self.insertion_baseline),
            "score": self.score,
            "mufidelity": {k: describe(v) for k, v in self.mufidelity.items()},
        }


def describe(value: Any) -> Any:
    """A JSON-friendly description of an option value (tensors and callables by type)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}"
    if isinstance(value, nn.Module):
        return type(value).__name__
    return getattr(value, "__name__", type(value).__name__)


def check_metrics(metrics: Any) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError(f"metrics must name at least one of {list(HIGHER_IS_BETTER)}")
    for metric in metrics:
        check_choice(metric, "metrics", tuple(HIGHER_IS_BETTER))
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics must not repeat a metric; got {list(metrics)}")
    return metrics


def check_protocol(
    metrics: Any,
    steps: int,
    deletion_baseline: Any,
    insertion_baseline: Any,
    score: str,
    mufidelity: Mapping[str, Any] | None,
    batch_size: int | None,
    precision: str = "fp32",
    backend: str = "torch",
) -> Protocol:
    allowed = {"grid_size", "subset_fraction", "n_subsets", "baseline", "seed"}
    options = dict(mufidelity or {})
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"mufidelity options {unknown} are unknown; valid options: {sorted(allowed)}")
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    check_scoring_options(precision, backend)
    return Protocol(
        metrics=check_metrics(metrics),
        steps=check_positive_int(steps, "steps"),
        deletion_baseline=deletion_baseline,
        insertion_baseline=insertion_baseline,
        score=check_choice(score, "score", ("probability", "logit")),
        mufidelity={**options, "score": score},
        batch_size=batch_size,
        precision=precision,
        backend=backend,
    )
