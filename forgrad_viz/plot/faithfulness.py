"""Deletion and Insertion curves: score versus fraction of pixels perturbed, mean with a bootstrap band."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from forgrad_viz.plot._figure import _add_legend, _single_axes
from forgrad_viz.plot._inputs import _check_level
from forgrad_viz.plot._labels import _better, _set_colors
from forgrad_viz.results import FaithfulnessResult, bootstrap_ci

#: Bootstrap work per chunk (rows x resamples x images) when intervals are computed row by row.
_BOOT_CHUNK = 2**23


def _rowwise_bootstrap_ci(
    values: np.ndarray, level: float, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bootstrap_ci` of the mean over the last axis of (R, N) values, computed in chunks of rows.

    The resamples depend only on (N, n_boot, seed), so chunking gives the same numbers as one call while keeping
    memory bounded.
    """
    step = max(1, _BOOT_CHUNK // max(1, n_boot * values.shape[1]))
    parts = [
        bootstrap_ci(values[i : i + step], level=level, n_boot=n_boot, seed=seed)
        for i in range(0, len(values), step)
    ]
    return np.concatenate([np.atleast_1d(p[0]) for p in parts]), np.concatenate(
        [np.atleast_1d(p[1]) for p in parts]
    )


def _result_entries(result: Any) -> list[tuple[str | None, FaithfulnessResult]]:
    if isinstance(result, FaithfulnessResult):
        items = [(None, result)]
    elif isinstance(result, Mapping):
        items = [(str(k), v) for k, v in result.items()]
    else:
        raise TypeError(f"result must be a FaithfulnessResult or a dict of them; got {type(result).__name__}")
    if not items:
        raise ValueError("result must hold at least one FaithfulnessResult; got none")
    for label, item in items:
        if not isinstance(item, FaithfulnessResult):
            raise TypeError(f"result must hold FaithfulnessResult objects; got {type(item).__name__}")
        if item.curves is None or item.x is None:
            name = "" if label is None else f" {label!r}"
            raise ValueError(
                f"result{name} ({item.metric}) has no curves: only Deletion and Insertion record score-versus-fraction "
                "curves (MuFidelity gives one correlation per image)"
            )
    metrics = {item.metric for _, item in items}
    if len(metrics) > 1:
        raise ValueError(f"results must all use the same metric to share axes; got {sorted(metrics)}")
    return items


def faithfulness_curves(
    result: FaithfulnessResult | Mapping[str, FaithfulnessResult],
    *,
    show_images: bool = False,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Deletion/Insertion score versus fraction of pixels perturbed: mean curve, bootstrap band, AUC in the legend.

    The mean over images of the per-image curves is drawn as a line, the ``level`` percentile bootstrap interval
    of that mean at each fraction as a band, and optionally every image's curve as a thin line. Scores are drawn as
    recorded (probability or logit, no normalisation); the legend gives the mean AUC (the per-image scores).

    Parameters
    ----------
    result : FaithfulnessResult or dict label -> FaithfulnessResult
        Deletion or Insertion results (all the same metric). MuFidelity results have no curves: ValueError.
    show_images : bool
        Also draw each image's curve.
    level : float
        Coverage of the band.
    n_boot : int
        Bootstrap resamples.
    seed : int
        Seed of the bootstrap.
    title : str, optional
        Axes title (default: the metric and whether lower or higher is better).
    ax, figsize : matplotlib.axes.Axes or tuple of float, optional
        Axes to draw into, or else the size of the new figure (default: rcParams ``figure.figsize``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax``, or the new one.

    Examples
    --------
    >>> result = FaithfulnessResult("deletion", np.array([0.3, 0.5]), False, {},
    ...                             curves=np.array([[0.9, 0.2, 0.0], [0.9, 0.6, 0.1]]), x=np.array([0, 0.5, 1]))
    >>> faithfulness_curves(result).axes[0].get_xlabel()
    'fraction of pixels removed'
    """
    items = _result_entries(result)
    _check_level(level)
    created = ax is None
    ax = _single_axes(ax, figsize)
    fig = ax.figure
    first = items[0][1]
    for (label, item), color in zip(items, _set_colors([label for label, _ in items]), strict=True):
        if show_images:
            segments = np.stack([np.broadcast_to(item.x, item.curves.shape), item.curves], axis=-1)
            ax.add_collection(LineCollection(segments, colors=color, linewidths=0.5, alpha=0.2))
        low, high = _rowwise_bootstrap_ci(item.curves.T, level, n_boot, seed)
        name = f"{label}: " if label is not None else ""
        ax.plot(
            item.x,
            item.curves.mean(axis=0),
            color=color,
            label=f"{name}AUC = {item.mean():.3f} (n = {item.scores.size})",
        )
        ax.fill_between(item.x, low, high, color=color, alpha=0.2, linewidth=0)
    band = Patch(color="0.5", alpha=0.35, linewidth=0, label=f"{level:.0%} bootstrap CI")
    _add_legend(ax, [*ax.get_legend_handles_labels()[0], band], created, grow=figsize is None)
    verb = {"deletion": "removed", "insertion": "inserted"}.get(first.metric, "perturbed")
    ax.set_xlabel(f"fraction of pixels {verb}")
    ax.set_ylabel(f"target-class {first.params.get('score', 'probability')}")
    ax.set_xlim(float(first.x.min()), float(first.x.max()))
    ax.set_title(
        title if title is not None else f"{first.metric.capitalize()} ({_better(first.higher_is_better)})"
    )
    return fig
