"""Architectures compared: sigma* per model with its interval, and the held-out faithfulness gain of FORGrad."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from forgrad_viz.filters import cutoff_to_nyquist
from forgrad_viz.palette import method_color
from forgrad_viz.plot._figure import _add_legend, _grid, _plain_log_axis, _width
from forgrad_viz.plot._labels import _metric_label
from forgrad_viz.results import ArchitectureComparison


def _selected_methods(comparison: ArchitectureComparison, method: str | Sequence[str] | None) -> list[str]:
    available = comparison.methods
    chosen = available if method is None else [method] if isinstance(method, str) else list(method)
    for name in chosen:
        if name not in available:
            raise ValueError(f"method must be one of {available}; got {name!r}")
    if not chosen:
        raise ValueError(f"method must name at least one of {available}")
    return chosen


def _reference_scores(comparison: ArchitectureComparison, model: str, metric: str) -> dict[str, float]:
    """Black-box method -> mean score for a model: the comparison's references, else its sweeps' references."""
    stored = dict(comparison.references.get(model, {}))
    for sweep in comparison.sweeps[model].values():
        for name, scores in sweep.references.items():
            stored.setdefault(name, scores)
    return {name: float(np.mean(scores[metric])) for name, scores in stored.items() if metric in scores}


def _nyquist_scales(comparison: ArchitectureComparison) -> dict[str, float] | None:
    """Model -> 1 / Nyquist (cycles per image) of its maps' shorter side, when the models' sizes differ and every
    sweep records its size: sigma* is then drawn as a fraction of Nyquist, the unit that transfers across
    resolutions; None otherwise (cycles per image)."""
    scales = {}
    for model, by_method in comparison.sweeps.items():
        known = {sweep.image_size for sweep in by_method.values()}
        if None in known or len(known) != 1:
            return None
        scales[model] = float(cutoff_to_nyquist(1.0, *known.pop()))
    return None if len(set(scales.values())) < 2 else scales


def _draw_rows(
    left: Axes,
    right: Axes,
    comparison: ArchitectureComparison,
    rows: list[dict[str, Any]],
    methods: list[str],
    metric: str,
    scales: dict[str, float] | None,
) -> None:
    """Per row (model x method): sigma* with its interval on ``left``; on ``right`` the held-out gain bar with its
    interval and, over it, the black-box references' gains. Methods sit side by side within each model's slot;
    each label is given once."""
    models = comparison.models
    width = 0.8 / len(methods)
    higher = {
        m: s.higher_is_better[metric]
        for by in comparison.sweeps.values()
        for m, s in by.items()
        if metric in s.metrics
    }
    drawn: set[str] = set()
    for row in rows:
        x = models.index(row["model"]) + (methods.index(row["method"]) - (len(methods) - 1) / 2) * width
        color = method_color(row["method"])
        label = None if row["method"] in drawn else row["method"]
        drawn.add(row["method"])
        scale = 1.0 if scales is None else scales[row["model"]]
        sigma, low, high = (scale * row[k] for k in ("sigma_star", "sigma_low", "sigma_high"))
        left.errorbar(
            [x], [sigma], yerr=[[sigma - low], [high - sigma]], fmt="o", color=color, capsize=3, label=label
        )
        gain = row["held_out_gain"]
        gain_err = [[gain - row["held_out_low"]], [row["held_out_high"] - gain]]
        right.bar([x], [gain], width=width * 0.9, color=color, label=label)
        right.errorbar([x], [gain], yerr=gain_err, fmt="none", ecolor="black", elinewidth=1.0, capsize=3)
        sign = 1.0 if higher[row["method"]] else -1.0
        for name, score in _reference_scores(comparison, row["model"], metric).items():
            ref_label = None if name in drawn else f"{name}: black-box gain"
            drawn.add(name)
            gain = sign * (score - row["unfiltered"])
            right.hlines(
                gain,
                x - width * 0.45,
                x + width * 0.45,
                colors=method_color(name),
                linewidth=2.0,
                label=ref_label,
            )


def _marker_handles(level: float) -> list[Any]:
    """Legend entries explaining the markers: sigma* point and interval, held-out gain bar and its interval, zero
    line (the black-box ticks are explained by their own entries, ``"<method>: black-box gain"``)."""
    return [
        Line2D([], [], color="0.3", marker="o", linestyle="-", label=f"σ* and its {level:.0%} interval"),
        Patch(color="0.6", label="bar: FORGrad's held-out gain"),
        Line2D(
            [],
            [],
            color="black",
            marker="|",
            markersize=9,
            linestyle="none",
            label=f"its paired {level:.0%} interval",
        ),
        Line2D([], [], color="black", linewidth=0.8, label="unfiltered map (gain 0)"),
    ]


def architecture_comparison(
    comparison: ArchitectureComparison,
    metric: str | None = None,
    method: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    folds: int = 2,
    ax: Sequence[Axes] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """sigma* per architecture with its interval (left), and the held-out faithfulness gain of FORGrad (right).

    Left: one point per model x method at sigma* (log y-axis), the error bar being the ``level`` bootstrap
    interval of sigma* over images, coloured by method and grouped by model; in cycles per image, or as a
    fraction of the Nyquist frequency of each model's maps when the models' image sizes differ (and every sweep
    records it in ``params["image_size"]``), so that models of different resolutions compare. Right: bars of
    the held-out gain of FORGrad over the unfiltered map (sigma* chosen on the other folds and scored on the
    fold left out, never on the images that chose it: :meth:`CutoffSweep.held_out`), signed so that positive is better, with its paired
    ``level`` bootstrap interval over images as error bars (``held_out_gain``, ``held_out_low`` and
    ``held_out_high`` of :meth:`ArchitectureComparison.rows`); a bar whose interval excludes 0 is a gain the data
    support. The in-sample gain (sigma* chosen and scored on the same images, biased upwards) is not drawn. A
    short horizontal line in a black-box method's colour over each bar marks that black-box method's gain over
    the same unfiltered map (its score minus the unfiltered score, same sign convention, all images): a bar that
    reaches the line means FORGrad matches that black-box method. Scores are in the metric's own units, no
    normalisation. The metric is named in the titles and the right y-label; the legend gives the methods' colours
    and explains each marker (sigma* point and interval, gain bar and its interval, zero line of the unfiltered
    map, black-box ticks).

    Parameters
    ----------
    comparison : ArchitectureComparison
        The comparison.
    metric : str, optional
        Metric; default the comparison's first.
    method : str or sequence of str, optional
        White-box method(s) to show; default all.
    level : float
        Coverage of the sigma* interval and of the held-out gain's interval.
    n_boot : int
        Bootstrap resamples.
    seed : int
        Seed of the bootstrap and of the folds.
    folds : int
        Folds of the held-out gain (:meth:`CutoffSweep.held_out`).
    ax : sequence of two matplotlib.axes.Axes, optional
        Axes for the two panels.
    figsize : tuple of float, optional
        Size of a new figure (default: the rcParams figure width, 0.45 of it high).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 2.0, 4.0], ("insertion",),
    ...                     {"insertion": [[0.2, 0.3, 0.2, 0.3], [0.6, 0.7, 0.6, 0.7], [0.4] * 4]},
    ...                     {"insertion": [0.1] * 4}, {"insertion": True}, [0, 1, 2, 3])
    >>> fig = architecture_comparison(ArchitectureComparison({"cnn": {"saliency": sweep}}), n_boot=50)
    >>> round(float(fig.axes[1].patches[0].get_height()), 3)  # the held-out gain
    0.55
    """
    if not isinstance(comparison, ArchitectureComparison):
        raise TypeError(f"comparison must be an ArchitectureComparison; got {type(comparison).__name__}")
    metric = comparison.metrics[0] if metric is None else metric
    if metric not in comparison.metrics:
        raise ValueError(f"metric must be one of {comparison.metrics}; got {metric!r}")
    methods = _selected_methods(comparison, method)
    rows = [
        r
        for r in comparison.rows(level=level, n_boot=n_boot, seed=seed, folds=folds)
        if r["metric"] == metric and r["method"] in methods
    ]
    models = comparison.models
    created = ax is None
    _, axes = _grid(ax, 1, 2, figsize, (_width(), _width() * 0.5))
    left, right = axes[0]
    scales = _nyquist_scales(comparison)
    _draw_rows(left, right, comparison, rows, methods, metric, scales)
    tilted = len(models) > 2 or max(len(m) for m in models) * len(models) > 24  # long names would overlap
    for panel in (left, right):
        panel.set_xticks(
            range(len(models)), models, rotation=20 if tilted else 0, ha="right" if tilted else "center"
        )
        panel.set_xlim(-0.6, len(models) - 0.4)
    if all(r["sigma_low"] > 0 for r in rows):
        left.set_yscale("log")
        _plain_log_axis(left.yaxis)
    left.margins(y=0.12)
    left.set_ylabel("σ* (cycles per image)" if scales is None else "σ* (fraction of Nyquist)")
    left.set_title(f"σ* for {_metric_label(metric)}")
    right.axhline(0.0, color="black", linewidth=0.8)
    right.margins(y=0.08)
    right.set_ylabel(f"gain in {_metric_label(metric)}\n(> 0 is better)")
    right.set_title("held-out gain over unfiltered")
    handles = left.get_legend_handles_labels()[0] + [
        h for h in right.get_legend_handles_labels()[0] if h.get_label().endswith(": black-box gain")
    ]
    _add_legend(right, handles + _marker_handles(level), created, grow=figsize is None)
    return left.figure
