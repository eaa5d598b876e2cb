"""Validation of the entry points' arguments, before any forward pass: the shared :class:`Settings`, methods'
options, references, precomputed attributions and image ids."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from forgrad_viz._memory import check_memory_budget
from forgrad_viz._utils import check_choice, check_positive_int
from forgrad_viz.attribution import METHODS
from forgrad_viz.filters import KINDS, default_cutoffs, forgrad
from forgrad_viz.filters.padding import check_padding
from forgrad_viz.sweep.protocol import Protocol, check_protocol

#: Search strategies of :func:`~forgrad_viz.sweep.sweep_cutoffs` (run by :mod:`~forgrad_viz.sweep.search`).
SEARCHES: tuple[str, ...] = ("grid", "refine")
#: Black-box references scored (unfiltered) by :func:`~forgrad_viz.sweep.compare_architectures` by default.
DEFAULT_REFERENCES: tuple[str, ...] = ("rise", "occlusion")
#: The arguments of both entry points that :func:`check_settings` validates (:func:`shared_arguments`).
_SHARED = (
    "cutoffs",
    "metrics",
    "kind",
    "search",
    "order",
    "padding",
    "steps",
    "deletion_baseline",
    "insertion_baseline",
    "score",
    "mufidelity",
    "batch_size",
    "precision",
    "backend",
    "block_size",
    "chunk_size",
    "memory_budget",
    "seed",
)


@dataclass
class Settings:
    """The validated arguments shared by :func:`~forgrad_viz.sweep.sweep_cutoffs` and
    :func:`~forgrad_viz.sweep.compare_architectures`: the grid, the filter, the search and the protocol."""

    grid: np.ndarray
    kind: str
    search: str
    order: int
    protocol: Protocol
    block_size: int
    chunk_size: int | None
    seed: int
    image_size: tuple[int, int] | None = None  # the maps' (H, W)
    padding: str | None = None  # of the maps before the filter: None, "reflect" or "zero"
    memory_budget: int | None = None  # bytes of working memory (None: the device's default)

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (part of a checkpoint's signature)."""
        return {
            **self.protocol.describe(),
            "metrics": list(self.protocol.metrics),
            "grid": self.grid.tolist(),
            "search": self.search,
            "order": self.order,
            "padding": self.padding,
            "block_size": self.block_size,
            "chunk_size": self.chunk_size,
            "seed": self.seed,
        }


def shared_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments that :func:`check_settings` validates, picked by name from an entry point's ``locals()``
    (both entry points take them under the same names)."""
    return {name: arguments[name] for name in _SHARED}


def check_settings(
    shape: tuple[int, ...],
    *,
    cutoffs: Any,
    kind: str,
    search: str,
    order: int,
    padding: str | None,
    block_size: int,
    chunk_size: int | None,
    seed: int,
    memory_budget: int | None = None,
    **protocol: Any,
) -> Settings:
    """Validate the arguments shared by :func:`~forgrad_viz.sweep.sweep_cutoffs` and
    :func:`~forgrad_viz.sweep.compare_architectures`; ``shape`` is one image's (C, H, W). The scoring
    ``protocol`` (metrics, steps, baselines, score, mufidelity, batch_size) goes to :func:`check_protocol`."""
    _, h, w = shape
    check_choice(kind, "kind", KINDS)
    check_choice(search, "search", SEARCHES)
    check_positive_int(order, "order")
    check_padding(padding)
    check_positive_int(block_size, "block_size")
    if chunk_size is not None:
        check_positive_int(chunk_size, "chunk_size")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer; got {type(seed).__name__}")
    grid = check_cutoffs(cutoffs, h, w)
    with warnings.catch_warnings():  # only kind/order are checked here; the sweep warns about its own maps
        warnings.simplefilter("ignore", UserWarning)
        forgrad(torch.zeros(1, 2, 2), float(grid[0]), kind=kind, order=order)  # validates kind/order
    protocol = check_protocol(**protocol)
    budget = check_memory_budget(memory_budget)
    return Settings(
        grid, kind, search, order, protocol, block_size, chunk_size, seed, (h, w), padding, budget
    )


def check_cutoffs(cutoffs: Any, height: int, width: int) -> np.ndarray:
    if cutoffs is None:
        return default_cutoffs(height, width)
    values = np.asarray(cutoffs, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("cutoffs must be a non-empty sequence of finite positive numbers (cycles per image)")
    if np.any(np.diff(values) <= 0):
        raise ValueError("cutoffs must be strictly ascending")
    return values


def check_image_ids(image_ids: Any, n: int) -> np.ndarray:
    if image_ids is None:
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(image_ids).reshape(-1)
    if ids.shape[0] != n or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"image_ids must hold one integer per image ({n}); got {ids.shape[0]} of {ids.dtype}"
        )
    if np.unique(ids).shape[0] != n:
        raise ValueError("image_ids must be distinct")
    return ids.astype(np.int64)


def check_method_options(method: str, options: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    check_choice(method, name, tuple(METHODS))
    options = dict(options or {})
    METHODS[method].resolve_options(options)  # validates early, before any forward pass
    return options


def check_references(
    references: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    names = (references,) if isinstance(references, str) else tuple(references)
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(
            f"reference_options names {unknown}, which are not among the references {list(names)}"
        )
    return {name: check_method_options(name, options.get(name), "references") for name in names}


def check_attributions(attributions: Any, n: int, shape: tuple[int, ...]) -> torch.Tensor | None:
    if attributions is None:
        return None
    if not isinstance(attributions, torch.Tensor):
        raise TypeError(f"attributions must be a torch.Tensor; got {type(attributions).__name__}")
    _, h, w = shape
    if (
        attributions.dim() not in (3, 4)
        or attributions.shape[0] != n
        or tuple(attributions.shape[-2:]) != (h, w)
    ):
        raise ValueError(
            f"attributions must have shape (N, C, H, W) or (N, H, W) matching the images (N={n}, H={h}, W={w}); "
            f"got {tuple(attributions.shape)}"
        )
    if not attributions.is_floating_point() or not bool(torch.isfinite(attributions).all()):
        raise ValueError("attributions must be finite floating-point values")
    return attributions.detach()
