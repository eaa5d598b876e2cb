"""Figures and axes: new figures sized from the rcParams, the caller's axes checked, log axes, legends."""

from __future__ import annotations

import math
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter


def _check_axes(ax: Any, name: str = "ax") -> Axes:
    if not isinstance(ax, Axes):
        raise TypeError(f"{name} must be a matplotlib Axes; got {type(ax).__name__}")
    return ax


def _axes_list(ax: Any, count: int, name: str = "ax") -> list[Axes]:
    """``count`` axes from a sequence (or array) of axes given by the caller."""
    flat = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(flat) < count:
        raise ValueError(f"{name} must hold at least {count} Axes for this figure; got {len(flat)}")
    return [_check_axes(a, name) for a in flat[:count]]


def _width() -> float:
    return float(mpl.rcParams["figure.figsize"][0])


def _new_figure(figsize: tuple[float, float] | None, default: tuple[float, float]) -> Figure:
    return Figure(figsize=default if figsize is None else figsize, layout="constrained")


def _single_axes(
    ax: Any, figsize: tuple[float, float] | None, default: tuple[float, float] | None = None
) -> Axes:
    """The caller's ``ax``, or the one axes of a new figure (default size: ``default``, else rcParams')."""
    if ax is None:
        size = tuple(mpl.rcParams["figure.figsize"]) if default is None else default
        ax = _new_figure(figsize, size).add_subplot()
    return _check_axes(ax)


def _grid(
    ax: Any,
    nrows: int,
    ncols: int,
    figsize: tuple[float, float] | None,
    default: tuple[float, float],
    **kw: Any,
) -> tuple[Figure, np.ndarray]:
    """(nrows, ncols) axes: new ones in a new figure, or the caller's ``ax`` reshaped."""
    if ax is None:
        fig = _new_figure(figsize, default)
        axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False, **kw), dtype=object)
        return fig, axes
    axes = np.asarray(_axes_list(ax, nrows * ncols), dtype=object).reshape(nrows, ncols)
    return axes[0, 0].figure, axes


def _plain_log_axis(axis: Any, ticks: np.ndarray | None = None) -> None:
    """Label a log axis with plain numbers: at ``ticks`` when there are few round ones (at most 3 significant
    digits, such as 1, 2, 4, 8), else at 1, 2, 5 x 10^k."""
    round_ticks = ticks is not None and all(float(f"{t:.3g}") == float(t) for t in np.asarray(ticks).ravel())
    if ticks is not None and len(ticks) <= 8 and round_ticks:
        axis.set_major_locator(FixedLocator(np.asarray(ticks, dtype=np.float64)))
    else:
        axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _add_legend(ax: Axes, handles: list[Any], created: bool, grow: bool) -> None:
    """A legend below the figure when the function made the figure (constrained layout), else inside ``ax``.

    Below the figure, as many columns as the figure width holds (estimated from the longest label), and with
    ``grow`` the figure gets taller by the legend's height so that the axes keep their size.
    """
    handles = list({h.get_label(): h for h in handles}.values())
    if not handles:
        return
    if not created:
        ax.legend(handles=handles, fontsize="small")
        return
    fig = ax.figure
    size = FontProperties(size="small").get_size_in_points()
    longest = max(len(h.get_label()) for h in handles)
    entry = (0.6 * longest + 4.8) * size / 72.0  # text + handle, handle pad and column spacing (inches)
    ncols = max(1, min(len(handles), int(fig.get_figwidth() // entry)))
    if grow:
        rows = math.ceil(len(handles) / ncols)
        fig.set_figheight(fig.get_figheight() + (rows * 1.3 + 0.6) * size / 72.0)
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize="small", frameon=False)
