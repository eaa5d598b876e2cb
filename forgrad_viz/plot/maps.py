"""Attribution maps: one map as a heatmap (optionally over the image), and raw versus FORGrad-filtered maps.

Normalisation of maps (documented per function): a map is drawn with its own colour limits, taken from
percentiles of its values so that a few extreme pixels do not wash out the rest; values past the limits saturate
(the colour bar shows an arrow). Unsigned maps use ``[min, P]``, signed maps ``[-P', +P']`` centred at zero, with
``P`` the ``clip_percentile``-th percentile of the values and ``P'`` that of the absolute values. A colour bar is
drawn only over maps that share one normalisation (in :func:`before_after`: ``normalization="row"`` or
``"figure"``), so that its numbers hold for every map it sits next to. A constant map (for instance an ideal
filter below 1 cycle per image, which keeps only the mean) is never drawn silently as a flat panel: its panel says
so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from forgrad_viz._utils import check_choice, check_finite_number
from forgrad_viz.filters import forgrad
from forgrad_viz.palette import DIVERGING_CMAP, OKABE_ITO, SEQUENTIAL_CMAP
from forgrad_viz.plot._figure import _grid, _single_axes, _width
from forgrad_viz.plot._inputs import _as_array
from forgrad_viz.plot._labels import _metric_label


def color_limits(map: Any, signed: bool, clip_percentile: float = 99.0) -> tuple[float, float]:
    """Colour limits of a map: ``[min, P]`` if unsigned, ``[-P', P']`` if signed (see the module docstring).

    ``P`` is the ``clip_percentile``-th percentile of the values, ``P'`` that of the absolute values. A constant
    map (or an all-zero signed one) gets a range of width 1 so that it still draws.

    Examples
    --------
    >>> color_limits(np.array([[0.0, 1.0], [2.0, 3.0]]), signed=False, clip_percentile=100)
    (0.0, 3.0)
    >>> color_limits(np.array([[-4.0, 1.0]]), signed=True, clip_percentile=100)
    (-4.0, 4.0)
    """
    values = _as_array(map, "map")
    clip = check_finite_number(clip_percentile, "clip_percentile", positive=True)
    if clip > 100:
        raise ValueError(f"clip_percentile must lie in (0, 100]; got {clip}")
    if signed:
        high = float(np.percentile(np.abs(values), clip))
        high = high if high > 0 else 1.0
        return -high, high
    low, high = float(values.min()), float(np.percentile(values, clip))
    return low, (high if high > low else low + 1.0)


def _map_2d(map: Any, name: str = "map") -> np.ndarray:
    values = _as_array(map, name)
    if values.ndim == 3:
        values = values.mean(axis=0)
    if values.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W) or (C, H, W); got shape {values.shape}")
    return values


def _greyscale(image: Any) -> np.ndarray:
    """(H, W) luminance in [0, 1] of an image (3, H, W), (H, W, 3) or (H, W) (ITU-R BT.601 weights)."""
    values = np.clip(_as_array(image, "image"), 0.0, 1.0)
    weights = np.array([0.299, 0.587, 0.114])
    if values.ndim == 3 and values.shape[0] == 3:
        return np.tensordot(weights, values, axes=(0, 0))
    if values.ndim == 3 and values.shape[-1] == 3:
        return values @ weights
    if values.ndim == 2:
        return values
    raise ValueError(f"image must have shape (3, H, W), (H, W, 3) or (H, W); got shape {values.shape}")


def _image_hwc(image: np.ndarray) -> np.ndarray:
    """(3, H, W) -> (H, W, 3) clipped to [0, 1] for display; (1, H, W) -> (H, W)."""
    image = np.clip(image, 0.0, 1.0)
    return image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)


def _extend(values: np.ndarray, low: float, high: float) -> str:
    below, above = bool(values.min() < low), bool(values.max() > high)
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get((below, above), "neither")


def heatmap(
    map: Any,
    image: Any = None,
    *,
    signed: bool | None = None,
    clip_percentile: float = 99.0,
    limits: tuple[float, float] | None = None,
    cmap: str | None = None,
    alpha: float = 0.6,
    colorbar: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Draw one attribution map, optionally over a greyscale copy of the image.

    Normalisation: colour limits from :func:`color_limits` — an unsigned map spans ``[min, P]`` with ``P`` the
    ``clip_percentile``-th percentile of the map (sequential colour map), a signed map spans ``[-P', P']`` with
    ``P'`` that percentile of ``|map|`` (diverging colour map, white at zero). Values past the limits saturate and
    the colour bar shows an arrow on that side. ``limits`` overrides the percentile rule.

    Parameters
    ----------
    map : numpy.ndarray or torch.Tensor
        The map, (H, W); a (C, H, W) map is averaged over channels (signs kept).
    image : numpy.ndarray or torch.Tensor, optional
        The image, (3, H, W), (H, W, 3) or (H, W) in [0, 1]; drawn in greyscale under the map.
    signed : bool, optional
        Whether the map is signed; by default, whether it has negative values.
    clip_percentile : float
        Percentile in (0, 100] at which the colour range is clipped.
    limits : tuple of float, optional
        Explicit ``(vmin, vmax)``.
    cmap : str, optional
        Colour map; default ``"magma"`` (unsigned) or ``"RdBu_r"`` (signed).
    alpha : float
        Opacity of the map over the image.
    colorbar : bool
        Whether to draw a colour bar.
    title : str, optional
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into.
    figsize : tuple of float, optional
        Size of a new figure (default: a square the rcParams figure height high).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = heatmap(np.random.default_rng(0).normal(size=(16, 16)))
    >>> fig.axes[0].images[0].norm.vmin < 0 < fig.axes[0].images[0].norm.vmax
    True
    """
    values = _map_2d(map)
    signed = bool(values.min() < 0) if signed is None else bool(signed)
    low, high = color_limits(values, signed, clip_percentile) if limits is None else map_limits(limits)
    side = float(mpl.rcParams["figure.figsize"][1])
    ax = _single_axes(ax, figsize, (side * (1.2 if colorbar else 1.0), side))
    fig = ax.figure
    if image is not None:
        grey = _greyscale(image)
        if grey.shape != values.shape:
            raise ValueError(f"image has size {grey.shape} but map has size {values.shape}; they must match")
        ax.imshow(grey, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    shown = ax.imshow(
        values,
        cmap=cmap or (DIVERGING_CMAP if signed else SEQUENTIAL_CMAP),
        vmin=low,
        vmax=high,
        alpha=None if image is None else alpha,
        interpolation="nearest",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    if colorbar:
        opaque = mpl.cm.ScalarMappable(
            norm=shown.norm, cmap=shown.get_cmap()
        )  # the bar ignores the overlay alpha
        fig.colorbar(opaque, ax=ax, extend=_extend(values, low, high), shrink=0.85)
    return fig


def map_limits(limits: Any) -> tuple[float, float]:
    """Validate explicit colour limits ``(vmin, vmax)`` with ``vmin < vmax``.

    Examples
    --------
    >>> map_limits((0, 2))
    (0.0, 2.0)
    """
    if not isinstance(limits, Sequence) or len(limits) != 2:
        raise ValueError(f"limits must be a pair (vmin, vmax); got {limits!r}")
    low, high = (check_finite_number(v, "limits") for v in limits)
    if not low < high:
        raise ValueError(f"limits must satisfy vmin < vmax; got {limits!r}")
    return low, high


def _images_nchw(images: Any) -> np.ndarray:
    values = _as_array(images, "images")
    if values.ndim == 3:
        values = values[None] if values.shape[0] in (1, 3) else np.moveaxis(values, -1, 0)[None]
    if values.ndim != 4 or values.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (N, 3, H, W) or (3, H, W); got shape {values.shape}")
    return values


def _attributions(attributions: Any, n_images: int) -> np.ndarray:
    values = _as_array(attributions, "attributions")
    if values.ndim == 2 and n_images == 1:
        values = values[None]
    if values.ndim not in (3, 4) or values.shape[0] != n_images:
        raise ValueError(
            f"attributions must have shape (N, C, H, W) or (N, H, W) with N={n_images} images; "
            f"got shape {values.shape}"
        )
    return values


def _cutoff_list(cutoffs: Any) -> list[float]:
    items = [cutoffs] if np.ndim(cutoffs) == 0 else list(np.ravel(np.asarray(cutoffs, dtype=object)))
    if not items:
        raise ValueError("cutoffs must hold at least one cutoff")
    return [
        check_finite_number(float(c) if isinstance(c, np.number) else c, "cutoffs", positive=True)
        for c in items
    ]


def raw_map(attributions: Any) -> np.ndarray:
    """The paper's unfiltered map: absolute value of the channel mean, (N, C, H, W) -> (N, H, W).

    A (N, H, W) input is taken as already channel-reduced (only the absolute value is applied).

    Examples
    --------
    >>> raw_map(np.array([[[[1.0]], [[-3.0]]]])).tolist()
    [[[1.0]]]
    """
    values = _as_array(attributions, "attributions")
    if values.ndim == 4:
        values = values.mean(axis=1)
    if values.ndim != 3:
        raise ValueError(f"attributions must have shape (N, C, H, W) or (N, H, W); got shape {values.shape}")
    return np.abs(values)


#: Relative spread (peak-to-peak over the largest absolute value) under which a map counts as constant.
_CONSTANT_RTOL = 1e-5
#: Colour of the frame around the sigma* column of :func:`before_after`.
_BEST_COLOR = OKABE_ITO["sky_blue"]


def is_constant(map: Any) -> bool:
    """Whether a map is constant up to rounding: ``ptp <= 1e-5 * max|map|`` (an all-zero map is constant).

    Examples
    --------
    >>> is_constant(np.full((4, 4), 2.0) + 1e-9), is_constant(np.eye(4))
    (True, False)
    """
    values = _as_array(map, "map")
    return bool(np.ptp(values) <= _CONSTANT_RTOL * np.abs(values).max())


def _constant_note(ax: Axes, cutoff: float | None, lowest: float) -> None:
    """Write in a constant map's panel that it is constant, and why when the cutoff keeps only the mean."""
    text = "constant map"
    if cutoff is not None and cutoff < lowest:
        text += f":\nonly the mean\nsurvives at σ < {lowest:.3g}"
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize="small",
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.5", "alpha": 0.9},
    )


def _best_choice(best_cutoff: Any, chosen_by: str | None) -> tuple[float | None, str | None]:
    """sigma* and the metric that chose it, from a number and ``chosen_by`` or from a ``BestCutoff``."""
    if best_cutoff is None:
        if chosen_by is not None:
            raise ValueError("chosen_by names the metric that chose best_cutoff; pass best_cutoff too")
        return None, None
    metric = getattr(best_cutoff, "metric", None)
    if metric is not None:  # a BestCutoff of CutoffSweep.best_cutoff(metric): it knows its metric
        if chosen_by is not None and chosen_by != metric:
            raise ValueError(f"chosen_by is {chosen_by!r} but best_cutoff was chosen by {metric!r}")
        return check_finite_number(best_cutoff.cutoff, "best_cutoff", positive=True), metric
    if not isinstance(chosen_by, str) or not chosen_by:
        raise ValueError(
            "chosen_by must name the metric that chose best_cutoff (e.g. chosen_by='insertion'), or pass "
            "best_cutoff=sweep.best_cutoff(metric)"
        )
    return check_finite_number(best_cutoff, "best_cutoff", positive=True), chosen_by


def _best_column(best_cutoff: float | None, cutoffs: list[float]) -> int | None:
    """Index among the cutoffs of ``best_cutoff`` (None: no column marked)."""
    if best_cutoff is None:
        return None
    matches = [i for i, c in enumerate(cutoffs) if np.isclose(c, best_cutoff, rtol=1e-9, atol=0.0)]
    if not matches:
        raise ValueError(f"best_cutoff must be one of the cutoffs {cutoffs}; got {best_cutoff}")
    return matches[0]


def _shared_limits(
    shown: np.ndarray, normalization: str, clip_percentile: float
) -> list[tuple[float, float] | None]:
    """Colour limits of each row of ``shown`` (N, 1 + S, H, W): None per map, one per row, or one for all."""
    if normalization == "panel":
        return [None] * shown.shape[0]
    if normalization == "row":
        return [color_limits(row, signed=False, clip_percentile=clip_percentile) for row in shown]
    return [color_limits(shown, signed=False, clip_percentile=clip_percentile)] * shown.shape[0]


def _mark_best(axes: np.ndarray, column: int, cutoff: float, metric: str) -> None:
    """Title the sigma* column ``σ* (Metric)`` over ``σ = ...`` and frame its panels."""
    name = _metric_label(metric).split(" ")[0]  # "Insertion AUC" -> "Insertion"
    axes[0, column].set_title(f"σ* ({name})\nσ = {cutoff:.3g}", color=_BEST_COLOR, fontweight="bold")
    for panel in axes[:, column]:
        for spine in panel.spines.values():
            spine.set(visible=True, edgecolor=_BEST_COLOR, linewidth=2.5)


def _shared_colorbars(fig: Figure, axes: np.ndarray, normalization: str) -> None:
    """One colour bar per row (``"row"``) or one for every map (``"figure"``), right of the maps."""
    groups = (
        [axes[:, 1:]] if normalization == "figure" else [axes[row : row + 1, 1:] for row in range(len(axes))]
    )
    for group in groups:
        shown = group.flat[0].images[-1]
        opaque = mpl.cm.ScalarMappable(norm=shown.norm, cmap=shown.get_cmap())
        bar = fig.colorbar(opaque, ax=list(group.ravel()), shrink=0.85, pad=0.02)
        bar.ax.tick_params(labelsize="small")
        bar.set_label("|attribution|", fontsize="small")


def _draw_rows(
    axes: np.ndarray, images: np.ndarray, shown: np.ndarray, limits: list, cutoffs: list[float], options: dict
) -> None:
    """Image, raw map and filtered maps of each row; constant maps get a note in their panel."""
    lowest = min(images.shape[-2:]) / max(images.shape[-2:])  # lowest non-zero frequency (cycles per image)
    for row in range(images.shape[0]):
        axes[row, 0].imshow(
            _image_hwc(images[row]), cmap="gray" if images.shape[1] == 1 else None, vmin=0, vmax=1
        )
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
        for col, values in enumerate(shown[row], start=1):
            heatmap(
                values,
                images[row] if options["overlay"] else None,
                signed=False,
                clip_percentile=options["clip_percentile"],
                limits=limits[row],
                colorbar=False,
                ax=axes[row, col],
            )
            if is_constant(values):
                _constant_note(axes[row, col], None if col == 1 else cutoffs[col - 2], lowest)


def before_after(
    images: Any,
    attributions: Any,
    cutoffs: float | Sequence[float],
    *,
    kind: str = "ideal",
    order: int = 2,
    method_name: str | None = None,
    clip_percentile: float = 99.0,
    normalization: str = "panel",
    overlay: bool = False,
    best_cutoff: Any = None,
    chosen_by: str | None = None,
    colorbar: bool = False,
    ax: Any = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Raw versus FORGrad-filtered maps: one row per image, columns image | raw | filtered at each cutoff.

    The raw column is the paper's unfiltered map ``|mean over channels|`` (:func:`raw_map`); the filtered columns
    are ``forgrad_viz.filters.forgrad(attributions, cutoffs, kind=kind, order=order)``. Both are unsigned and drawn
    with the sequential colour map. ``best_cutoff`` (one of ``cutoffs``, typically sigma* from
    :meth:`CutoffSweep.best_cutoff`) frames its column's panels and titles it ``σ* (Insertion)`` over
    ``σ = ...``, naming the metric that chose it (``chosen_by``, or the metric of a ``BestCutoff``). A constant
    map (up to rounding, :func:`is_constant`) gets a note in its panel instead of a silent flat colour; when an
    ideal cutoff below the lowest non-zero frequency (1 cycle per image on square maps) caused it, the note says
    that only the mean survives.

    Normalisation: with ``normalization="panel"`` each map spans ``[min, P]`` of its own values, ``P`` its
    ``clip_percentile``-th percentile (compares shapes; filtering lowers peak values, which this hides); with
    ``"row"`` all maps of a row share ``[min, P]`` computed over the raw and filtered maps of that row together
    (compares magnitudes); with ``"figure"`` every map of the figure shares one ``[min, P]``. ``colorbar=True``
    draws the shared colour bar (one per row, or one for the figure) and needs ``"row"`` or ``"figure"``.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        Images (N, 3, H, W) in [0, 1] (or one image (3, H, W)).
    attributions : numpy.ndarray or torch.Tensor
        Attribution maps (N, C, H, W) or (N, H, W), same N, H, W as the images.
    cutoffs : float or sequence of float
        Cutoffs in cycles per image; one column each.
    kind : str
        Filter: ``"ideal"``, ``"gaussian"`` or ``"butterworth"``.
    order : int
        Order of the Butterworth filter.
    method_name : str, optional
        Attribution method, shown in the figure title.
    clip_percentile : float
        Percentile in (0, 100] at which colour ranges are clipped.
    normalization : {"panel", "row", "figure"}
        Colour limits per map, shared by each row, or shared by the whole figure.
    overlay : bool
        Draw the maps over a greyscale copy of the image.
    best_cutoff : float or BestCutoff, optional
        The cutoff to mark as sigma*; must be one of ``cutoffs``. A ``BestCutoff``
        (:meth:`CutoffSweep.best_cutoff`) brings the metric that chose it.
    chosen_by : str, optional
        The metric that chose ``best_cutoff`` (``"insertion"``, ...), shown in the column's title; needed when
        ``best_cutoff`` is a number.
    colorbar : bool
        Draw the shared colour bar(s) right of the maps (``normalization`` ``"row"`` or ``"figure"``).
    ax : array of matplotlib.axes.Axes, optional
        N x (2 + number of cutoffs) axes to draw into (any shape with that many, filled row by row).
    figsize : tuple of float, optional
        Size of a new figure (default: the rcParams figure width, square panels).

    Returns
    -------
    matplotlib.figure.Figure
        One row per image: the image, its raw map and its map at each cutoff (``best_cutoff`` marked), drawn into
        ``ax`` when given.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = before_after(rng.random((2, 3, 32, 32)), rng.normal(size=(2, 3, 32, 32)), [4, 8], best_cutoff=4,
    ...                    chosen_by="insertion")
    >>> len(fig.axes), fig.axes[2].get_title()
    (8, 'σ* (Insertion)\\nσ = 4')
    """
    images = _images_nchw(images)
    maps = _attributions(attributions, images.shape[0])
    if maps.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"attributions have size {maps.shape[-2:]} but images have size {images.shape[-2:]}")
    check_choice(normalization, "normalization", ("panel", "row", "figure"))
    if colorbar and normalization == "panel":
        raise ValueError(
            "colorbar=True needs one normalisation shared by the maps: pass normalization='row' or 'figure'"
        )
    cutoff_values = _cutoff_list(cutoffs)
    sigma_star, metric = _best_choice(best_cutoff, chosen_by)
    best = _best_column(sigma_star, cutoff_values)
    filtered = np.asarray(forgrad(maps, cutoff_values, kind=kind, order=order))  # (S, N, H, W)
    shown = np.concatenate([raw_map(maps)[:, None], np.moveaxis(filtered, 0, 1)], axis=1)  # (N, 1 + S, H, W)
    n_rows, n_cols = images.shape[0], 2 + len(cutoff_values)
    height, width = images.shape[-2:]
    panel = _width() / (n_cols + (0.4 if colorbar else 0.0))
    fig, axes = _grid(ax, n_rows, n_cols, figsize, (_width(), panel * height / width * n_rows + 0.5))
    limits = _shared_limits(shown, normalization, clip_percentile)
    options = {"overlay": overlay, "clip_percentile": clip_percentile}
    _draw_rows(axes, images, shown, limits, cutoff_values, options)
    for col, text in enumerate(["image", "raw", *(f"σ = {c:.3g}" for c in cutoff_values)]):
        axes[0, col].set_title(text)
    if best is not None:
        _mark_best(axes, 2 + best, cutoff_values[best], metric)
    if colorbar:
        _shared_colorbars(fig, axes, normalization)
    if ax is None and method_name is not None:
        fig.suptitle(f"{method_name}: raw vs FORGrad ({kind} filter)")
    return fig
