"""Faithfulness versus cutoff: the mean score of each cutoff sweep with its band, sigma* and references."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from forgrad_viz._utils import check_choice
from forgrad_viz.palette import color_for, method_color, model_color
from forgrad_viz.plot._figure import _add_legend, _axes_list, _new_figure, _plain_log_axis, _single_axes
from forgrad_viz.plot._inputs import _check_level
from forgrad_viz.plot._labels import _better, _metric_label
from forgrad_viz.results import CutoffSweep

_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
#: A sweep as drawn: (label, sweep, colour, marker).
_Entry = tuple[str, CutoffSweep, str, str]


def _sweep_entries(sweeps: Any) -> list[_Entry]:
    """(label, sweep, colour, marker) for a sweep, a list of sweeps or a dict label -> sweep."""
    if isinstance(sweeps, CutoffSweep):
        items = [(None, sweeps)]
    elif isinstance(sweeps, Mapping):
        items = [(str(k), v) for k, v in sweeps.items()]
    elif isinstance(sweeps, Sequence) and not isinstance(sweeps, str):
        items = [(None, v) for v in sweeps]
    else:
        raise TypeError(
            f"sweeps must be a CutoffSweep, a list of them or a dict; got {type(sweeps).__name__}"
        )
    if not items:
        raise ValueError("sweeps must hold at least one CutoffSweep; got none")
    for _, sweep in items:
        if not isinstance(sweep, CutoffSweep):
            raise TypeError(f"sweeps must hold CutoffSweep objects; got {type(sweep).__name__}")
    methods = list(dict.fromkeys(s.method for _, s in items))
    models = list(dict.fromkeys(s.model_name for _, s in items))
    entries = []
    for index, (label, sweep) in enumerate(items):
        if label is None:
            parts = [sweep.model_name] if len(models) > 1 else []
            parts += [sweep.method] if len(methods) > 1 or len(models) == 1 else []
            label = " / ".join(p for p in parts if p) or f"sweep {index}"
        if len(methods) > 1 or len(items) == 1:
            color = method_color(sweep.method)
        elif len(models) > 1:
            color = model_color(sweep.model_name)
        else:
            color = color_for(label)
        entries.append((label, sweep, color, _MARKERS[models.index(sweep.model_name) % len(_MARKERS)]))
    return entries


def _check_sweep_metric(entries: list[_Entry], metric: str | None) -> str:
    common = [m for m in entries[0][1].metrics if all(m in e[1].metrics for e in entries)]
    metric = entries[0][1].metrics[0] if metric is None else metric
    if metric not in common:
        raise ValueError(f"metric must be one of the metrics every sweep holds, {common}; got {metric!r}")
    return metric


def _curve(
    sweep: CutoffSweep, metric: str, stats: dict[str, Any], relative: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The line and band drawn for a sweep: mean score and its interval, or paired gain and its interval."""
    boot = {"level": stats["level"], "n_boot": stats["n_boot"], "seed": stats["seed"]}
    if relative:
        return (sweep.gain(metric), *sweep.gain_interval(metric, **boot))
    return (sweep.mean(metric), *sweep.confidence_interval(metric, **boot))


def _draw_sweep(
    ax: Axes,
    label: str,
    sweep: CutoffSweep,
    color: str,
    marker: str,
    metric: str,
    stats: dict[str, Any],
    unfiltered: bool,
) -> None:
    relative = stats["relative"]
    line, low, high = _curve(sweep, metric, stats, relative)
    best = sweep.best_cutoff(
        metric, level=stats["level"], n_boot=stats["n_boot"], seed=stats["seed"], warn_at_edge=False
    )
    best_y = line[int(np.flatnonzero(sweep.cutoffs == best.cutoff)[0])] if relative else best.score
    text = f"{label}: σ* = {best.cutoff:.3g} [{best.low:.3g}, {best.high:.3g}]"
    ax.plot(sweep.cutoffs, line, color=color, marker=marker, markersize=3, label=text)
    ax.fill_between(sweep.cutoffs, low, high, color=color, alpha=0.2, linewidth=0)
    ax.errorbar(
        [best.cutoff],
        [best_y],
        xerr=[[best.cutoff - best.low], [best.high - best.cutoff]],
        fmt="*",
        markersize=11,
        color=color,
        markeredgecolor="black",
        markeredgewidth=0.6,
        capsize=3,
        elinewidth=1.2,
        zorder=5,
    )
    if unfiltered and not relative:
        ax.axhline(best.unfiltered, color=color, linestyle="--", linewidth=1.0)


def _draw_references(ax: Axes, entries: list[_Entry], metric: str, relative: bool) -> None:
    """Dotted lines at the black-box references' mean scores or, ``relative``, at their mean paired gains over
    each sweep's unfiltered map (same sign convention as :meth:`CutoffSweep.gain`)."""
    models = {s.model_name for _, s, _, _ in entries}
    seen: set[tuple[str, str, float]] = set()
    for _, sweep, _, _ in entries:
        sign = 1.0 if sweep.higher_is_better[metric] else -1.0
        for name, scores in sweep.references.items():
            if metric not in scores:
                continue
            value = float(scores[metric].mean())
            if relative:
                value = sign * float(np.mean(scores[metric] - sweep.unfiltered[metric]))
            key = (name, sweep.model_name, value)
            if key in seen:
                continue
            seen.add(key)
            suffix = f", {sweep.model_name}" if len(models) > 1 and sweep.model_name else ""
            ax.axhline(
                value,
                color=method_color(name),
                linestyle=":",
                linewidth=1.5,
                label=f"{name} (black-box{suffix})",
            )


def _style_handles(level: float, unfiltered: bool, relative: bool) -> list[Any]:
    """Legend entries explaining the band, the sigma* marker and the unfiltered line (dashed, or the zero line)."""
    band = f"{level:.0%} paired bootstrap CI" if relative else f"{level:.0%} bootstrap CI"
    handles = [
        Patch(color="0.5", alpha=0.35, linewidth=0, label=band),
        Line2D(
            [],
            [],
            color="0.3",
            marker="*",
            markersize=8,
            markeredgecolor="black",
            label=f"σ* and its {level:.0%} interval",
        ),
    ]
    if relative:
        handles.append(Line2D([], [], color="black", linewidth=0.8, label="unfiltered (gain 0)"))
    elif unfiltered:
        handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=1.0, label="unfiltered"))
    return handles


def _panel_axes(
    entries: list[_Entry], layout: str, ax: Any, figsize: tuple[float, float] | None
) -> tuple[list[list[_Entry]], list[Axes], int]:
    """The sweeps drawn in each panel, the panels' axes (new ones, or the caller's) and the number of columns.

    ``"overlay"``: every sweep in one panel. ``"grid"``: one panel per sweep, at most 3 a row, sharing the y-axis.
    """
    if layout == "overlay":
        return [entries], [_single_axes(ax, figsize)], 1
    ncols = min(len(entries), 3)
    nrows = math.ceil(len(entries) / ncols)
    if ax is None:
        width, height = mpl.rcParams["figure.figsize"]
        fig = _new_figure(figsize, (width, height * (0.6 * nrows + 0.25)))
        grid = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        for extra in grid.ravel()[len(entries) :]:
            extra.set_visible(False)
        ax = grid.ravel()
    return [[entry] for entry in entries], _axes_list(ax, len(entries)), ncols


def _y_label(metric: str, higher: bool, relative: bool) -> str:
    if relative:
        return f"{_metric_label(metric)} gain\n(paired; > 0 is better)"
    return f"{_metric_label(metric)}\n({_better(higher)})"


def cutoff_curves(
    sweeps: CutoffSweep | Sequence[CutoffSweep] | Mapping[str, CutoffSweep],
    metric: str | None = None,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    layout: str = "overlay",
    relative: bool = False,
    show_references: bool = True,
    show_unfiltered: bool = True,
    title: str | None = None,
    ax: Any = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Faithfulness versus cutoff (or its paired gain over the unfiltered map), with a band, sigma* and references.

    For each sweep: the mean score at each cutoff (line with markers, log x-axis when all cutoffs are positive),
    the ``level`` percentile bootstrap interval of the mean over images (band, :meth:`CutoffSweep.
    confidence_interval`), sigma* (star, :meth:`CutoffSweep.best_cutoff`) with the bootstrap interval of sigma*
    as a horizontal error bar, the unfiltered map's mean score (dashed line, same colour) and the black-box
    references' mean scores (dotted lines in their method colours). Scores are plotted as they are: no
    normalisation. The y-label says whether higher or lower is better.

    With ``relative=True`` the curve a reader decides on is drawn instead: the mean paired gain of each cutoff
    over the unfiltered map on the same images (:meth:`CutoffSweep.gain`, > 0 is better for every metric) with
    its paired bootstrap band (:meth:`CutoffSweep.gain_interval`, the same image resamples for every cutoff), a
    black line at 0 (the unfiltered map), sigma* at its gain, and the references at their paired gains over the
    unfiltered map. Bands of the absolute mode overlap even when the paired differences are clear; these do not.

    Parameters
    ----------
    sweeps : CutoffSweep, list of CutoffSweep or dict label -> CutoffSweep
        The sweeps. Colours follow the method when methods differ (or there is one sweep), else the model; markers
        follow the model. Labels are the dict keys, else the varying parts among model name and method.
    metric : str, optional
        Metric to plot; default the first metric of the first sweep. Every sweep must hold it.
    level : float
        Coverage of the confidence band and of the sigma* interval.
    n_boot : int
        Bootstrap resamples.
    seed : int
        Seed of the bootstrap.
    layout : {"overlay", "grid"}
        All sweeps in one panel, or one panel per sweep (sharing the y-axis).
    relative : bool
        Draw the paired gain over the unfiltered map instead of the score.
    show_references : bool
        Draw the black-box references stored in the sweeps.
    show_unfiltered : bool
        Draw the unfiltered map's score (with ``relative``, the line at 0).
    title : str, optional
        Title (of the axes in overlay, of the figure in grid layout).
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        One Axes (overlay) or at least one per sweep (grid).
    figsize : tuple of float, optional
        Size of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> sweep = CutoffSweep("saliency", "ideal", np.array([2.0, 4.0, 8.0]), ("insertion",),
    ...                     {"insertion": np.array([[0.2, 0.3], [0.5, 0.6], [0.4, 0.4]])},
    ...                     {"insertion": np.array([0.1, 0.2])}, {"insertion": True}, np.array([0, 1]))
    >>> fig = cutoff_curves(sweep)
    >>> fig.axes[0].get_ylabel()
    'Insertion AUC\\n(higher is better)'
    >>> cutoff_curves(sweep, relative=True).axes[0].get_ylabel()
    'Insertion AUC gain\\n(paired; > 0 is better)'
    """
    entries = _sweep_entries(sweeps)
    metric = _check_sweep_metric(entries, metric)
    check_choice(layout, "layout", ("overlay", "grid"))
    _check_level(level)
    stats = {"level": level, "n_boot": n_boot, "seed": seed, "relative": bool(relative)}
    created = ax is None
    panels, axes, ncols = _panel_axes(entries, layout, ax, figsize)
    higher = entries[0][1].higher_is_better[metric]
    handles: list[Any] = []
    for index, (panel_ax, panel) in enumerate(zip(axes, panels, strict=True)):
        for label, sweep, color, marker in panel:
            _draw_sweep(panel_ax, label, sweep, color, marker, metric, stats, show_unfiltered)
        if show_references:
            _draw_references(panel_ax, panel, metric, relative)
        if relative and show_unfiltered:
            panel_ax.axhline(0.0, color="black", linewidth=0.8, zorder=1)
        cutoffs = np.unique(np.concatenate([s.cutoffs for _, s, _, _ in panel]))
        if cutoffs.min() > 0:
            panel_ax.set_xscale("log")
            _plain_log_axis(panel_ax.xaxis, cutoffs)
        panel_ax.margins(y=0.08)
        panel_ax.set_xlabel("cutoff σ (cycles per image)")
        if not created or index % ncols == 0:
            panel_ax.set_ylabel(_y_label(metric, higher, relative))
        if layout == "grid":
            panel_ax.set_title(panel[0][0])
        handles += panel_ax.get_legend_handles_labels()[0]
        if not created:
            _add_legend(
                panel_ax,
                handles + _style_handles(level, show_unfiltered, relative),
                created=False,
                grow=False,
            )
            handles = []
    if created:
        handles.sort(key=lambda h: "(black-box" in h.get_label())  # curves first, then references (stable)
        _add_legend(
            axes[0],
            handles + _style_handles(level, show_unfiltered, relative),
            created=True,
            grow=figsize is None,
        )
    if title is not None:
        (axes[0].set_title if layout == "overlay" else axes[0].figure.suptitle)(title)
    return axes[0].figure
