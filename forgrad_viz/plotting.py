"""Figures: heatmaps, raw versus filtered maps, power spectra, cutoff curves, faithfulness curves, comparisons.

Every function returns a :class:`matplotlib.figure.Figure` made with the object-oriented API (no pyplot state,
nothing shown), and takes an optional ``ax`` to draw into an existing figure instead (then the figure of ``ax`` is
returned). Figure widths follow ``matplotlib.rcParams["figure.figsize"]``, so figures made inside
:func:`forgrad_viz.export.paper_style` fit the venue's column. Colours are fixed per method and per model
(:mod:`forgrad_viz.palette`) and colour-blind-safe.

Normalisation of maps (documented per function): a map is drawn with its own colour limits, taken from
percentiles of its values so that a few extreme pixels do not wash out the rest; values past the limits saturate
(the colour bar shows an arrow). Unsigned maps use ``[min, P]``, signed maps ``[-P', +P']`` centred at zero, with
``P`` the ``clip_percentile``-th percentile of the values and ``P'`` that of the absolute values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from forgrad_viz._utils import check_choice, check_finite_number
from forgrad_viz.filters import forgrad
from forgrad_viz.palette import (
    DIVERGING_CMAP,
    FALLBACK_COLORS,
    SEQUENTIAL_CMAP,
    color_for,
    colors_for,
    method_color,
    model_color,
)
from forgrad_viz.results import ArchitectureComparison, CutoffSweep, FaithfulnessResult, bootstrap_ci
from forgrad_viz.spectra import radial_spectrum

__all__ = [
    "METRIC_LABELS",
    "architecture_comparison",
    "before_after",
    "color_limits",
    "cutoff_curves",
    "faithfulness_curves",
    "heatmap",
    "map_limits",
    "raw_map",
    "spectrum",
]

#: How each metric's score is named on axes.
METRIC_LABELS: dict[str, str] = {
    "deletion": "Deletion AUC",
    "insertion": "Insertion AUC",
    "mufidelity": "MuFidelity (Spearman)",
}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
#: Lowest power shown on a spectrum, relative to the smallest mean power of the unfiltered maps.
_SPECTRUM_DEPTH = 1e-3
#: Bootstrap work per chunk (rows x resamples x images) when intervals are computed row by row.
_BOOT_CHUNK = 2**23


# ---------------------------------------------------------------------------------------------------- helpers


def _as_array(value: Any, name: str) -> np.ndarray:
    """A finite float64 numpy copy of a tensor or array-like."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a numpy array or torch tensor of numbers; got {type(value).__name__}"
        ) from error
    if array.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


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


def _z(level: float) -> float:
    check_finite_number(level, "level")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


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


def _metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _better(higher_is_better: bool) -> str:
    return "higher is better" if higher_is_better else "lower is better"


# ---------------------------------------------------------------------------------------------------- heatmaps


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
    if ax is None:
        side = float(mpl.rcParams["figure.figsize"][1])
        fig = _new_figure(figsize, (side * (1.2 if colorbar else 1.0), side))
        ax = fig.add_subplot()
    fig = _check_axes(ax).figure
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


# ---------------------------------------------------------------------------------------------------- before/after


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
    ax: Any = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Raw versus FORGrad-filtered maps: one row per image, columns image | raw | filtered at each cutoff.

    The raw column is the paper's unfiltered map ``|mean over channels|`` (:func:`raw_map`); the filtered columns
    are ``forgrad_viz.filters.forgrad(attributions, cutoffs, kind=kind, order=order)``. Both are unsigned and drawn
    with the sequential colour map.

    Normalisation: with ``normalization="panel"`` each map spans ``[min, P]`` of its own values, ``P`` its
    ``clip_percentile``-th percentile (compares shapes; filtering lowers peak values, which this hides); with
    ``"row"`` all maps of a row share ``[min, P]`` computed over the raw and filtered maps of that row together
    (compares magnitudes).

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
    normalization : {"panel", "row"}
        Colour limits per map or shared by each row.
    overlay : bool
        Draw the maps over a greyscale copy of the image.
    ax : array of matplotlib.axes.Axes, optional
        N x (2 + number of cutoffs) axes to draw into (any shape with that many, filled row by row).
    figsize : tuple of float, optional
        Size of a new figure (default: the rcParams figure width, square panels).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = before_after(rng.random((2, 3, 32, 32)), rng.normal(size=(2, 3, 32, 32)), [4, 8])
    >>> len(fig.axes)
    8
    """
    images = _images_nchw(images)
    maps = _attributions(attributions, images.shape[0])
    if maps.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"attributions have size {maps.shape[-2:]} but images have size {images.shape[-2:]}")
    check_choice(normalization, "normalization", ("panel", "row"))
    cutoff_values = _cutoff_list(cutoffs)
    raw = raw_map(maps)
    filtered = np.asarray(forgrad(maps, cutoff_values, kind=kind, order=order))  # (S, N, H, W)
    n_rows, n_cols = images.shape[0], 2 + len(cutoff_values)
    height, width = images.shape[-2:]
    panel = _width() / n_cols
    fig, axes = _grid(ax, n_rows, n_cols, figsize, (_width(), panel * height / width * n_rows + 0.5))
    for row in range(n_rows):
        shown = [raw[row], *filtered[:, row]]
        limits = None
        if normalization == "row":
            limits = color_limits(np.stack(shown), signed=False, clip_percentile=clip_percentile)
        axes[row, 0].imshow(
            _image_hwc(images[row]), cmap="gray" if images.shape[1] == 1 else None, vmin=0, vmax=1
        )
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
        for col, values in enumerate(shown, start=1):
            heatmap(
                values,
                images[row] if overlay else None,
                signed=False,
                clip_percentile=clip_percentile,
                limits=limits,
                colorbar=False,
                ax=axes[row, col],
            )
    titles = ["image", "raw", *(f"σ = {c:.3g}" for c in cutoff_values)]
    for col, text in enumerate(titles):
        axes[0, col].set_title(text)
    if ax is None and method_name is not None:
        fig.suptitle(f"{method_name}: raw vs FORGrad ({kind} filter)")
    return fig


# ---------------------------------------------------------------------------------------------------- spectra


def _spectrum_maps(maps: Any, name: str) -> np.ndarray:
    values = _as_array(maps, name)
    if values.ndim == 4:
        return raw_map(values)
    if values.ndim == 2:
        return values[None]
    if values.ndim != 3:
        raise ValueError(
            f"{name} must have shape (N, H, W), (N, C, H, W) or (H, W); got shape {values.shape}"
        )
    return values


def _band(power: np.ndarray, band: str | None, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Band over images of (N, K) power: ``"ci"`` bootstrap CI of the mean, ``"iqr"`` quartiles, None or N=1 none."""
    if band is None or power.shape[0] < 2:
        return None
    if band == "iqr":
        low, high = np.percentile(power, [25.0, 75.0], axis=0)
        return low, high
    low, high = bootstrap_ci(power.T, level=level)
    return np.atleast_1d(low), np.atleast_1d(high)


def _set_colors(labels: list[str | None]) -> list[str]:
    """Distinct colours for overlaid sets: unlabelled sets take the fallback palette in order, labelled ones
    their method's or model's colour unless another set has it already (see :func:`palette.colors_for`)."""
    if all(label is None for label in labels):
        return [FALLBACK_COLORS[index % len(FALLBACK_COLORS)] for index in range(len(labels))]
    return colors_for([label if label is not None else f"set {index}" for index, label in enumerate(labels)])


def _draw_spectrum(
    ax: Axes, freqs: np.ndarray, power: np.ndarray, color: str, band: Any, level: float, **line: Any
) -> float:
    """Draw the mean spectrum and its band; return the largest value drawn."""
    mean = power.mean(axis=0)
    ax.plot(freqs, mean, color=color, **line)
    bounds = _band(power, band, level)
    if bounds is None:
        return float(mean.max())
    ax.fill_between(freqs, bounds[0], bounds[1], color=color, alpha=0.18, linewidth=0)
    return float(max(mean.max(), bounds[1].max()))


def spectrum(
    maps: Any,
    cutoff: float | None = None,
    *,
    show_filtered: bool = False,
    kind: str = "ideal",
    order: int = 2,
    band: str | None = "ci",
    level: float = 0.95,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Radially averaged power spectra on log-log axes, mean over images with a band, several sets overlaid.

    Spectra come from :func:`forgrad_viz.spectra.radial_spectrum` (DC excluded, frequency in cycles per image),
    shown up to the Nyquist frequency ``min(H, W) / 2`` (beyond it the corner bins hold incomplete rings).
    Each set of maps gets its mean spectrum over images (solid line) and a band: ``band="ci"`` is the
    ``level`` percentile bootstrap interval of the mean over images (positive, so it shows on log axes),
    ``"iqr"`` the interquartile range
    over images, None no band (a single image has none). With ``cutoff`` a dotted vertical line marks it and the
    band the filter removes (f > cutoff) is shaded; with ``show_filtered`` the spectrum of
    ``forgrad(maps, cutoff, kind=kind)`` is drawn dashed in the same colour. No normalisation is applied: powers
    are compared on the same absolute scale. The y-axis stops 3 decades below the smallest mean power of the
    unfiltered maps, so that the numerically-zero power an ideal filter leaves above the cutoff (about 1e-30)
    does not stretch the axis.

    Parameters
    ----------
    maps : numpy.ndarray, torch.Tensor or dict
        Maps (N, H, W) (taken as given) or attributions (N, C, H, W) (reduced to ``|channel mean|``), or a dict
        label -> such maps (one colour per label: the method's or model's colour when the label names one).
    cutoff : float, optional
        Cutoff in cycles per image.
    show_filtered : bool
        Also draw the spectra of the FORGrad maps at ``cutoff``.
    kind : str
        Filter of ``show_filtered``.
    order : int
        Order of the Butterworth filter.
    band : {"ci", "iqr", None}
        Band drawn around each mean spectrum.
    level : float
        Coverage of the ``"ci"`` band.
    title : str, optional
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into.
    figsize : tuple of float, optional
        Size of a new figure (default: rcParams ``figure.figsize``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = spectrum({"saliency": rng.normal(size=(4, 32, 32))}, cutoff=6)
    >>> fig.axes[0].get_xscale(), fig.axes[0].get_yscale()
    ('log', 'log')
    """
    if band is not None:
        check_choice(band, "band", ("ci", "iqr"))
    _z(level)
    if isinstance(maps, Mapping):
        if not maps:
            raise ValueError("maps must hold at least one set of maps")
        sets = [(str(label), _spectrum_maps(values, f"maps[{label!r}]")) for label, values in maps.items()]
    else:
        sets = [(None, _spectrum_maps(maps, "maps"))]
    if cutoff is not None:
        cutoff = check_finite_number(cutoff, "cutoff", positive=True)
    if show_filtered and cutoff is None:
        raise ValueError("show_filtered=True needs a cutoff")
    created = ax is None
    if created:
        ax = _new_figure(figsize, tuple(mpl.rcParams["figure.figsize"])).add_subplot()
    fig = _check_axes(ax).figure
    ax.set_xscale("log")
    ax.set_yscale("log")
    fmin, fmax, floor, top = math.inf, 0.0, math.inf, 0.0
    for (label, values), color in zip(sets, _set_colors([label for label, _ in sets]), strict=True):
        freqs, power = radial_spectrum(values)
        keep = np.asarray(freqs) <= min(values.shape[-2:]) / 2.0  # complete rings only: up to Nyquist
        freqs = np.asarray(freqs, dtype=np.float64)[keep]
        power = np.asarray(power, dtype=np.float64).reshape(values.shape[0], -1)[:, keep]
        fmin, fmax = min(fmin, float(freqs.min())), max(fmax, float(freqs.max()))
        top = max(top, _draw_spectrum(ax, freqs, power, color, band, level, label=label or "raw"))
        positive = power.mean(axis=0)[power.mean(axis=0) > 0]
        floor = min(floor, float(positive.min()) if positive.size else math.inf)
        if show_filtered:
            _, filtered = radial_spectrum(np.asarray(forgrad(values, cutoff, kind=kind, order=order)))
            filtered = np.asarray(filtered, dtype=np.float64).reshape(values.shape[0], -1)[:, keep]
            name = "FORGrad" if label is None else f"{label}, FORGrad"
            drawn = _draw_spectrum(
                ax, freqs, filtered, color, band, level, linestyle="--", label=f"{name} σ = {cutoff:g}"
            )
            top = max(top, drawn)
    ax.set_xlim(fmin, fmax)
    _plain_log_axis(ax.xaxis)
    if math.isfinite(floor) and top > 0:
        ax.set_ylim(floor * _SPECTRUM_DEPTH, top * 2.0)
    if cutoff is not None:
        ax.axvline(cutoff, color="0.25", linestyle=":", linewidth=1.2, label=f"cutoff σ = {cutoff:g}")
        if cutoff < fmax:
            ax.axvspan(cutoff, fmax, color="0.5", alpha=0.12, linewidth=0, label="removed (f > σ)")
    handles, _ = ax.get_legend_handles_labels()
    if band is not None and max(values.shape[0] for _, values in sets) > 1:
        text = f"{level:.0%} CI of the mean" if band == "ci" else "interquartile range"
        handles.append(Patch(color="0.5", alpha=0.3, linewidth=0, label=text))
    _add_legend(ax, handles, created, grow=figsize is None)
    ax.set_xlabel("spatial frequency (cycles per image)")
    ax.set_ylabel("power")
    if title is not None:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------------------------------- cutoff curves


def _sweep_entries(sweeps: Any) -> list[tuple[str, CutoffSweep, str, str]]:
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


def _check_sweep_metric(entries: list[tuple[str, CutoffSweep, str, str]], metric: str | None) -> str:
    common = [m for m in entries[0][1].metrics if all(m in e[1].metrics for e in entries)]
    metric = entries[0][1].metrics[0] if metric is None else metric
    if metric not in common:
        raise ValueError(f"metric must be one of the metrics every sweep holds, {common}; got {metric!r}")
    return metric


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
    mean = sweep.mean(metric)
    low, high = sweep.confidence_interval(
        metric, level=stats["level"], n_boot=stats["n_boot"], seed=stats["seed"]
    )
    best = sweep.best_cutoff(metric, level=stats["level"], n_boot=stats["n_boot"], seed=stats["seed"])
    text = f"{label}: σ* = {best.cutoff:.3g} [{best.low:.3g}, {best.high:.3g}]"
    ax.plot(sweep.cutoffs, mean, color=color, marker=marker, markersize=3, label=text)
    ax.fill_between(sweep.cutoffs, low, high, color=color, alpha=0.2, linewidth=0)
    ax.errorbar(
        [best.cutoff],
        [best.score],
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
    if unfiltered:
        ax.axhline(best.unfiltered, color=color, linestyle="--", linewidth=1.0)


def _draw_references(ax: Axes, entries: list[tuple[str, CutoffSweep, str, str]], metric: str) -> None:
    models = {s.model_name for _, s, _, _ in entries}
    seen: set[tuple[str, str, float]] = set()
    for _, sweep, _, _ in entries:
        for name, scores in sweep.references.items():
            if metric not in scores:
                continue
            value = float(scores[metric].mean())
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


def _style_handles(level: float, unfiltered: bool) -> list[Any]:
    """Legend entries explaining the band, the sigma* marker and the dashed unfiltered line."""
    handles = [
        Patch(color="0.5", alpha=0.35, linewidth=0, label=f"{level:.0%} bootstrap CI"),
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
    if unfiltered:
        handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=1.0, label="unfiltered"))
    return handles


def cutoff_curves(
    sweeps: CutoffSweep | Sequence[CutoffSweep] | Mapping[str, CutoffSweep],
    metric: str | None = None,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    layout: str = "overlay",
    show_references: bool = True,
    show_unfiltered: bool = True,
    title: str | None = None,
    ax: Any = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Faithfulness versus cutoff: mean over images with a bootstrap band, sigma* and reference lines.

    For each sweep: the mean score at each cutoff (line with markers, log x-axis when all cutoffs are positive),
    the ``level`` percentile bootstrap interval of the mean over images (band, :meth:`CutoffSweep.
    confidence_interval`), sigma* (star, :meth:`CutoffSweep.best_cutoff`) with the bootstrap interval of sigma*
    as a horizontal error bar, the unfiltered map's mean score (dashed line, same colour) and the black-box
    references' mean scores (dotted lines in their method colours). Scores are plotted as they are: no
    normalisation. The y-label says whether higher or lower is better.

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
    show_references : bool
        Draw the black-box references stored in the sweeps.
    show_unfiltered : bool
        Draw the unfiltered map's score.
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
    """
    entries = _sweep_entries(sweeps)
    metric = _check_sweep_metric(entries, metric)
    check_choice(layout, "layout", ("overlay", "grid"))
    _z(level)
    stats = {"level": level, "n_boot": n_boot, "seed": seed}
    width, height = mpl.rcParams["figure.figsize"]
    created, ncols = ax is None, 1
    if layout == "overlay":
        panels = [entries]
        if ax is None:
            ax = _new_figure(figsize, (width, height)).add_subplot()
        axes = [_check_axes(ax)]
    else:
        panels = [[entry] for entry in entries]
        ncols = min(len(entries), 3)
        nrows = math.ceil(len(entries) / ncols)
        if ax is None:
            fig = _new_figure(figsize, (width, height * (0.6 * nrows + 0.25)))
            grid = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
            for extra in grid.ravel()[len(entries) :]:
                extra.set_visible(False)
            ax = grid.ravel()
        axes = _axes_list(ax, len(entries))
    higher = entries[0][1].higher_is_better[metric]
    handles: list[Any] = []
    for index, (panel_ax, panel) in enumerate(zip(axes, panels, strict=True)):
        for label, sweep, color, marker in panel:
            _draw_sweep(panel_ax, label, sweep, color, marker, metric, stats, show_unfiltered)
        if show_references:
            _draw_references(panel_ax, panel, metric)
        cutoffs = np.unique(np.concatenate([s.cutoffs for _, s, _, _ in panel]))
        if cutoffs.min() > 0:
            panel_ax.set_xscale("log")
            _plain_log_axis(panel_ax.xaxis, cutoffs)
        panel_ax.margins(y=0.08)
        panel_ax.set_xlabel("cutoff σ (cycles per image)")
        if not created or index % ncols == 0:
            panel_ax.set_ylabel(f"{_metric_label(metric)}\n({_better(higher)})")
        if layout == "grid":
            panel_ax.set_title(panel[0][0])
        handles += panel_ax.get_legend_handles_labels()[0]
        if not created:
            _add_legend(panel_ax, handles + _style_handles(level, show_unfiltered), created=False, grow=False)
            handles = []
    if created:
        handles.sort(key=lambda h: "(black-box" in h.get_label())  # curves first, then references (stable)
        _add_legend(
            axes[0], handles + _style_handles(level, show_unfiltered), created=True, grow=figsize is None
        )
    if title is not None:
        (axes[0].set_title if layout == "overlay" else axes[0].figure.suptitle)(title)
    return axes[0].figure


# ---------------------------------------------------------------------------------------------------- faithfulness


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
    ax : matplotlib.axes.Axes, optional
        Axes to draw into.
    figsize : tuple of float, optional
        Size of a new figure (default: rcParams ``figure.figsize``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> result = FaithfulnessResult("deletion", np.array([0.3, 0.5]), False, {},
    ...                             curves=np.array([[0.9, 0.2, 0.0], [0.9, 0.6, 0.1]]), x=np.array([0, 0.5, 1]))
    >>> faithfulness_curves(result).axes[0].get_xlabel()
    'fraction of pixels removed'
    """
    items = _result_entries(result)
    _z(level)
    created = ax is None
    if created:
        ax = _new_figure(figsize, tuple(mpl.rcParams["figure.figsize"])).add_subplot()
    fig = _check_axes(ax).figure
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


# ---------------------------------------------------------------------------------------------------- comparison


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


def architecture_comparison(
    comparison: ArchitectureComparison,
    metric: str | None = None,
    method: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    ax: Sequence[Axes] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """sigma* per architecture with its interval (left), and the faithfulness gain at sigma* (right).

    Left: one point per model x method at sigma* (log y-axis), the error bar being the ``level`` bootstrap
    interval of sigma* over images, coloured by method and grouped by model. Right: bars of the gain of FORGrad at
    sigma* over the unfiltered map, signed so that positive is better (``improvement`` of
    :meth:`ArchitectureComparison.rows`). A short horizontal line in a black-box method's colour over each bar
    marks that black-box method's gain over the same unfiltered map (its score minus the unfiltered score, same
    sign convention): a bar that reaches the line means FORGrad at sigma* matches that black-box method. Scores
    are in the metric's own units, no normalisation.

    Parameters
    ----------
    comparison : ArchitectureComparison
        The comparison.
    metric : str, optional
        Metric; default the comparison's first.
    method : str or sequence of str, optional
        White-box method(s) to show; default all.
    level : float
        Coverage of the sigma* interval.
    n_boot : int
        Bootstrap resamples.
    seed : int
        Seed of the bootstrap.
    ax : sequence of two matplotlib.axes.Axes, optional
        Axes for the two panels.
    figsize : tuple of float, optional
        Size of a new figure (default: the rcParams figure width, 0.45 of it high).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(comparison, ArchitectureComparison):
        raise TypeError(f"comparison must be an ArchitectureComparison; got {type(comparison).__name__}")
    metric = comparison.metrics[0] if metric is None else metric
    if metric not in comparison.metrics:
        raise ValueError(f"metric must be one of {comparison.metrics}; got {metric!r}")
    methods = _selected_methods(comparison, method)
    rows = [
        r
        for r in comparison.rows(level=level, n_boot=n_boot, seed=seed)
        if r["metric"] == metric and r["method"] in methods
    ]
    models = comparison.models
    created = ax is None
    if created:
        fig = _new_figure(figsize, (_width(), _width() * 0.5))
        left, right = fig.subplots(1, 2)
    else:
        left, right = _axes_list(ax, 2)
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
        yerr = [[row["sigma_star"] - row["sigma_low"]], [row["sigma_high"] - row["sigma_star"]]]
        left.errorbar([x], [row["sigma_star"]], yerr=yerr, fmt="o", color=color, capsize=3, label=label)
        right.bar([x], [row["improvement"]], width=width * 0.9, color=color, label=label)
        sign = 1.0 if higher[row["method"]] else -1.0
        for name, score in _reference_scores(comparison, row["model"], metric).items():
            ref_label = None if name in drawn else f"{name} (black-box)"
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
    for panel in (left, right):
        panel.set_xticks(
            range(len(models)),
            models,
            rotation=20 if len(models) > 2 else 0,
            ha="right" if len(models) > 2 else "center",
        )
        panel.set_xlim(-0.6, len(models) - 0.4)
    if all(r["sigma_low"] > 0 for r in rows):
        left.set_yscale("log")
        _plain_log_axis(left.yaxis)
    left.margins(y=0.12)
    left.set_ylabel("σ* (cycles per image)")
    left.set_title(f"best cutoff σ* ({level:.0%} interval)")
    right.axhline(0.0, color="black", linewidth=0.8)
    right.margins(y=0.08)
    right.set_ylabel(f"gain in {_metric_label(metric)}\n(> 0 is better)")
    right.set_title("gain over the unfiltered map")
    handles = left.get_legend_handles_labels()[0] + [
        h for h in right.get_legend_handles_labels()[0] if h.get_label().endswith("(black-box)")
    ]
    _add_legend(right, handles, created, grow=figsize is None)
    return left.figure
