"""A short measured probe of a model's speed, for a sweep's time estimate: one timed forward batch and one
attribution call per white-box method, a few seconds at most, kept per model and input shape.

The probe runs on random inputs of the sweep's shape on the model's device (a network's cost does not depend on
the pixel values); it is not counted in a sweep's ``forward_passes``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import default_batch_size, forward_logits, model_device
from forgrad_viz.attribution import explain

#: Seconds the timed forward batch aims at (the batch shrinks to fit it on a slow model).
PROBE_SECONDS = 1.0
#: A first call faster than this is repeated and the repeat timed (one-time costs: imports, hooks, allocation).
_WARM_SECONDS = 0.5

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
        Seconds per image of one :func:`~forgrad_viz.attribution.explain` call on one image, per white-box method.
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


def _warm_time(work: Any, device: torch.device) -> float:
    """The time of ``work``: a fast first call is repeated and the repeat timed."""
    first = _timed(work, device)
    return _timed(work, device) if first < _WARM_SECONDS else first


def _batch(device: torch.device, batch_size: int | None, fits: int) -> int:
    """The timed batch: the sweep's batch size (the device's default), at most ``fits``."""
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
        Inputs per forward pass of the sweep; the timed batch is at most this (by default the device's default
        batch size), fewer when one batch would take over :data:`PROBE_SECONDS`.
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
        images = torch.rand(1, *shape, generator=generator).to(device)
        forward_logits(forward, images, 1)  # warm-up: allocation, thread pool
        one = max(_timed(lambda: forward_logits(forward, images, 1), device), 1e-6)
        batch = _batch(device, batch_size, int(PROBE_SECONDS / one))
        if batch > 1:
            images = torch.rand(batch, *shape, generator=generator).to(device)
            seconds = _timed(lambda: forward_logits(forward, images, batch), device)
            rates[key] = (batch / max(seconds, 1e-6), batch)
        else:
            rates[key] = (1.0 / one, 1)
    rate, batch = rates[key]
    explained = _EXPLAIN.setdefault(model, {})
    image = torch.rand(1, *shape, generator=generator).to(device)
    target = torch.zeros(1, dtype=torch.long, device=device)
    attribution = {}
    for method, options in methods.items():
        method_key = (key, method, repr(sorted(options.items())), seed)
        if method_key not in explained:
            explained[method_key] = _warm_time(
                lambda m=method, o=options: explain(model, image, target, m, seed=seed, **o), device
            )
        attribution[method] = explained[method_key]
    return Probe(rate, batch, attribution)
