"""Summary statistics of the metrics: :func:`auc` (trapezoid area under a curve) and :func:`spearman`."""

from __future__ import annotations

import torch

__all__ = ["auc", "spearman"]


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
