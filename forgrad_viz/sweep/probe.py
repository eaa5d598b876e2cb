"""A short measured probe of a model's speed, for a sweep's time estimate: one forward batch of the sweep's size
and one attribution call on a few images per white-box method, each after a warm-up call (one-time costs: kernels
for the shape, hooks, imports), a few seconds in all, kept per model and input shape.

The probe runs on random inputs of the sweep's shape on the model's device (a network's cost does not depend on
the pixel values); it is not counted in a sweep's ``forward_passes``.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import default_batch_size, model_device, preserved_model
from forgrad_viz.attribution import explain
from forgrad_viz.metrics._forward import _FreeCoreForward

#: A warm-up forward call slower than this many seconds is timed itself (no second call): a very slow model.
PROBE_SECONDS = 10.0
#: Input values of the timed forward call at most (16 images of 3 x 224 x 224): the batch shrinks for larger ones.
PROBE_VALUES = 16 * 3 * 224 * 224
#: Images of the timed attribution call (after a warm-up call on one image).
_EXPLAINED = 2

_RATES: weakref.WeakKeyDictionary[nn.Module, dict[tuple, tuple[float, int]]] = weakref.WeakKeyDictionary()
_EXPLAIN: weakref.WeakKeyDictionary[nn.Module, dict[tuple, float]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Probe:
    """What the probe measured.

    Attributes
    ----------
    rate : float
        Forward passes (images through the model) per second in one timed batch of ``batch`` inputs.
    batch : int
        Inputs in the timed batch.
    attribution : Mapping[str, float]
        Seconds per image of one :func:`~forgrad_viz.attribution.explain` call on a few images, per white-box method.
    """

    rate: float
    batch: int
    attribution: Mapping[str, float]


def _timed(work: Any, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _batch(device: torch.device, shape: tuple[int, ...], batch_size: int | None) -> int:
    """Inputs of the timed forward call: the sweep's batch size, or the device's default, at most
    :data:`PROBE_VALUES` input values."""
    fits = max(1, PROBE_VALUES // max(1, math.prod(shape)))
    return max(1, min(batch_size or default_batch_size(device), fits))


def probe(
    model: nn.Module,
    shape: tuple[int, ...],
    methods: Mapping[str, Mapping[str, Any]],
    batch_size: int | None = None,
    seed: int = 0,
    scoring: nn.Module | None = None,
) -> Probe:
    """Measure the forward rate on inputs of ``shape`` (C, H, W) and one attribution call per method.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (its mode is restored).
    shape : tuple of int
        One image's (C, H, W).
    methods : dict
        White-box method name -> its :func:`~forgrad_viz.attribution.explain` options.
    batch_size : int, optional
        Inputs per forward pass of the sweep (automatic by default, as in the sweep). The timed call holds this
        many inputs (by default the device's default batch size), at most :data:`PROBE_VALUES` input values.
    seed : int
        Seed of stochastic methods.
    scoring : torch.nn.Module, optional
        The module the metrics' forward passes go through (another precision or backend), timed instead of
        ``model`` for the rate; the attributions always run on ``model``.

    Returns
    -------
    Probe
        Kept per model, shape and options: a second call measures nothing again.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.Linear(392, 3))
    >>> measured = probe(net, (3, 16, 16), {"saliency": {}}, batch_size=4)
    >>> measured.batch <= 4 and measured.rate > 0 and set(measured.attribution) == {"saliency"}
    True
    """
    device = model_device(model)
    generator = torch.Generator().manual_seed(0)
    key = (tuple(shape), str(device), batch_size, torch.get_num_threads())
    forward = model if scoring is None else scoring
    rates = _RATES.setdefault(forward, {})
    if key not in rates:
        batch = _batch(device, shape, batch_size)
        images = torch.rand(batch, *shape, generator=generator).to(device)
        # as the metrics run their passes (on the cores other processes leave free); a warm-up call first
        # (allocation, kernels for this shape, the thread check), timed itself when it is already slow
        with preserved_model(forward), torch.inference_mode(), _FreeCoreForward(forward, device) as run:
            warm = _timed(lambda: run(images), device)
            seconds = warm if warm > PROBE_SECONDS else _timed(lambda: run(images), device)
        rates[key] = (batch / max(seconds, 1e-6), batch)
    rate, batch = rates[key]
    explained = _EXPLAIN.setdefault(model, {})
    few = torch.rand(min(batch, _EXPLAINED), *shape, generator=generator).to(device)
    targets = torch.zeros(few.shape[0], dtype=torch.long, device=device)
    attribution = {}
    for method, options in methods.items():
        method_key = (key, method, repr(sorted(options.items())), seed)
        if method_key not in explained:
            explain(model, few[:1], targets[:1], method, seed=seed, **options)  # warm-up: hooks, imports
            seconds = _timed(
                lambda m=method, o=options: explain(model, few, targets, m, seed=seed, **o), device
            )
            explained[method_key] = seconds / few.shape[0]
        attribution[method] = explained[method_key]
    return Probe(rate, batch, attribution)
