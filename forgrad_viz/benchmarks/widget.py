"""Latency of :class:`~forgrad_viz.widgets.ForgradExplorer`'s cutoff slider (``forgrad-viz bench widget``).

A slider move re-filters the cached attributions, recomputes the FORGrad map's spectrum and redraws the map and
the spectrum plot. The time is measured inside the callback (``explorer.last_update_ms``), over moves to
log-spaced cutoffs in a shuffled order; the model's forward calls during the moves are counted (expected: 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from forgrad_viz._utils import check_positive_int
from forgrad_viz.data import sample_images
from forgrad_viz.filters import max_cutoff
from forgrad_viz.widgets import MIN_CUTOFF, ForgradExplorer

__all__ = ["format_report", "run"]


def _bench_model() -> nn.Module:
    """A small randomly initialised CNN with max-pooling (the slider never calls it; only the first map does)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    torch.random.set_rng_state(generator_state)
    return model.eval()


def _bench_image(size: int) -> torch.Tensor:
    """A natural image (scikit-image's astronaut) at ``size`` x ``size``, shape (1, 3, size, size)."""
    images, _ = sample_images(names=["astronaut"], size=size)
    return images[:1]


def run(
    size: int = 224,
    moves: int = 50,
    method: str = "saliency",
    kind: str = "ideal",
    model: nn.Module | None = None,
    warmup: int = 3,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Time ``moves`` cutoff-slider moves of a :class:`ForgradExplorer` on one ``size`` x ``size`` image.

    Parameters
    ----------
    size : int
        Image side in pixels (224: the paper's ImageNet resolution).
    moves : int
        Timed slider moves, to log-spaced cutoffs between 0.5 and the corner frequency, shuffled.
    method : str
        Attribution method (computed once, before the moves).
    kind : str
        Low-pass filter of the explorer.
    model : nn.Module, optional
        Model to explain (default: a small random CNN; the slider never calls it).
    warmup : int
        Untimed moves first (caches, first draw).
    seed : int
        Seed of the order of the moves.
    threads : int, optional
        CPU threads of torch during the run (restored afterwards); ``None`` keeps the current setting. The
        explorer runs its per-map FFTs on one thread either way; the rest of the process uses this setting.

    Returns
    -------
    dict
        ``median_ms``, ``p90_ms``, ``mean_ms``, ``max_ms`` of the callback time, ``stages_ms`` (median per stage:
        filtering, spectrum, map PNG, plot PNG), ``model_calls_during_moves``, ``moves``, ``size``, ``method``,
        ``kind``, ``threads`` and ``times_ms`` (every move).

    Examples
    --------
    >>> result = run(size=32, moves=5, warmup=1)
    >>> result["model_calls_during_moves"]
    0
    """
    size, moves = check_positive_int(size, "size", 8), check_positive_int(moves, "moves")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(previous_threads if threads is None else check_positive_int(threads, "threads"))
    try:
        return _timed_moves(size, moves, method, kind, model, warmup, seed)
    finally:
        torch.set_num_threads(previous_threads)


def _timed_moves(
    size: int, moves: int, method: str, kind: str, model: nn.Module | None, warmup: int, seed: int
) -> dict[str, Any]:
    model = _bench_model() if model is None else model
    explorer = ForgradExplorer(
        model, _bench_image(size), methods=(method,), kind=kind, cutoff=15.0 if size >= 32 else 2.0
    )
    calls = [0]
    handle = model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        cutoffs = np.geomspace(MIN_CUTOFF, max_cutoff(size, size), warmup + moves)
        cutoffs = np.random.default_rng(seed).permutation(cutoffs)
        times, stages = [], []
        for step, cutoff in enumerate(cutoffs):
            explorer.cutoff_slider.value = float(cutoff)
            if explorer.last_error is not None:
                raise explorer.last_error
            if step >= warmup:
                times.append(explorer.last_update_ms)
                stages.append(dict(explorer.timings))
    finally:
        handle.remove()
    times = np.asarray(times)
    return {
        "size": size,
        "moves": moves,
        "method": method,
        "kind": kind,
        "threads": torch.get_num_threads(),
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "mean_ms": float(times.mean()),
        "max_ms": float(times.max()),
        "stages_ms": {key: float(np.median([s[key] for s in stages])) for key in stages[0]},
        "model_calls_during_moves": calls[0],
        "times_ms": times.tolist(),
    }


def format_report(result: dict[str, Any]) -> str:
    """A few lines of text summarising :func:`run`'s result.

    Examples
    --------
    >>> print(format_report(run(size=32, moves=5, warmup=1)).splitlines()[0])  # doctest: +ELLIPSIS
    ForgradExplorer cutoff slider, 32x32, saliency, ideal filter, 5 moves, ... CPU thread(s)
    """
    stages = ", ".join(f"{key.removesuffix('_ms')} {value:.1f}" for key, value in result["stages_ms"].items())
    return "\n".join(
        [
            f"ForgradExplorer cutoff slider, {result['size']}x{result['size']}, {result['method']}, "
            f"{result['kind']} filter, {result['moves']} moves, {result['threads']} CPU thread(s)",
            f"  update time per move: median {result['median_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, "
            f"mean {result['mean_ms']:.1f} ms, max {result['max_ms']:.1f} ms",
            f"  median per stage (ms): {stages}",
            f"  model forward calls during the moves: {result['model_calls_during_moves']} (expected 0)",
        ]
    )
