"""Faithfulness against cost: raw white-box maps, their FORGrad maps and black-box maps, by seconds per image."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from forgrad_viz.palette import method_color
from forgrad_viz.plot._figure import _add_legend, _plain_log_axis, _single_axes
from forgrad_viz.plot._labels import _better, _metric_label

_MARKERS = {"raw": "o", "forgrad": "*", "black-box": "s"}
_KINDS = tuple(_MARKERS)


def faithfulness_cost(
    points: Sequence[Mapping[str, Any]],
    metric: str,
    higher_is_better: bool,
    *,
    title: str = "",
    ax: Any = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Mean score (with its interval) against the seconds one map costs per image, on a log axis.

    Each point is a mapping with ``label`` (a method), ``kind`` (``"raw"``, ``"forgrad"`` or ``"black-box"``),
    ``seconds`` (> 0), ``score`` and optionally ``low``/``high`` (an interval drawn as a vertical bar). A raw map
    and its FORGrad map (same label) are joined by an arrow: the filter moves the score at almost no cost.

    Parameters
    ----------
    points : sequence of mapping
        The points to draw.
    metric : str
        The metric's name (axis label).
    higher_is_better : bool
        The metric's direction, stated on the axis.
    title : str
        The axes title.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    figsize : tuple of float, optional
        Size of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = faithfulness_cost([
    ...     {"label": "saliency", "kind": "raw", "seconds": 0.05, "score": 0.3},
    ...     {"label": "saliency", "kind": "forgrad", "seconds": 0.051, "score": 0.4, "low": 0.38, "high": 0.42},
    ...     {"label": "rise", "kind": "black-box", "seconds": 5.0, "score": 0.45}], "insertion", True)
    >>> len(fig.axes)
    1
    """
    if not points:
        raise ValueError("points must hold at least one point")
    for point in points:
        if point.get("kind") not in _KINDS:
            raise ValueError(f"each point's kind must be one of {list(_KINDS)}; got {point.get('kind')!r}")
        if not float(point.get("seconds", 0)) > 0:
            raise ValueError(f"each point's seconds must be > 0; got {point.get('seconds')!r}")
    created = ax is None
    axes = _single_axes(ax, figsize)
    for point in points:
        color = method_color(point["label"])
        low, high = point.get("low"), point.get("high")
        if low is not None and high is not None:
            axes.errorbar(point["seconds"], point["score"], yerr=[[point["score"] - low], [high - point["score"]]],
                          color=color, capsize=2, lw=1, alpha=0.5 if point["kind"] == "raw" else 1.0)  # fmt: skip
        axes.plot(point["seconds"], point["score"], _MARKERS[point["kind"]], color=color,
                  markersize=9 if point["kind"] == "forgrad" else 6, markeredgecolor="black", markeredgewidth=0.5)  # fmt: skip
    by_label: dict[str, dict[str, Mapping[str, Any]]] = {}
    for point in points:
        by_label.setdefault(point["label"], {})[point["kind"]] = point
    for pair in by_label.values():
        if "raw" in pair and "forgrad" in pair:
            start, end = pair["raw"], pair["forgrad"]
            axes.annotate("", (end["seconds"], end["score"]), (start["seconds"], start["score"]),
                          arrowprops={"arrowstyle": "->", "color": "0.4", "lw": 0.8})  # fmt: skip
    axes.set_xscale("log")
    _plain_log_axis(axes.xaxis)
    axes.set_xlabel("seconds per image for the map (log)")
    axes.set_ylabel(f"{_metric_label(metric)} ({_better(higher_is_better)})")
    axes.grid(True, which="major", alpha=0.3)
    if title:
        axes.set_title(title)
    labels = list(dict.fromkeys(p["label"] for p in points))
    handles: list[Any] = [Patch(color=method_color(name), label=name) for name in labels]
    handles += [
        Line2D([], [], color="0.3", marker=_MARKERS[k], ls="", label=text)
        for k, text in (("raw", "raw map"), ("forgrad", "FORGrad (held-out σ*)"), ("black-box", "black-box"))
        if any(p["kind"] == k for p in points)
    ]
    _add_legend(axes, handles, created, grow=True)
    return axes.figure
