"""Radially averaged power spectra of attribution maps, raw and FORGrad-filtered, on log-log axes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from forgrad_viz._utils import check_choice, check_finite_number
from forgrad_viz.filters import forgrad
from forgrad_viz.plot._figure import _add_legend, _plain_log_axis, _single_axes
from forgrad_viz.plot._inputs import _as_array, _check_level
from forgrad_viz.plot._labels import _set_colors
from forgrad_viz.plot.maps import raw_map
from forgrad_viz.results import bootstrap_ci
from forgrad_viz.spectra import radial_spectrum

#: Power below this fraction of the smallest mean power of the unfiltered maps is left off the y-range (the
#: numerically-zero power an ideal filter leaves above its cutoff, about 1e-30).
_SPECTRUM_DEPTH = 1e-3
#: The y-range is the drawn data's, widened by this factor on each side (log axis).
_Y_MARGIN = 1.25


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


def _draw_spectrum(
    ax: Axes, freqs: np.ndarray, power: np.ndarray, color: str, band: Any, level: float, **line: Any
) -> np.ndarray:
    """Draw the mean spectrum and its band; return the values drawn (mean and band edges)."""
    mean = power.mean(axis=0)
    ax.plot(freqs, mean, color=color, **line)
    bounds = _band(power, band, level)
    if bounds is None:
        return mean
    ax.fill_between(freqs, bounds[0], bounds[1], color=color, alpha=0.18, linewidth=0)
    return np.concatenate([mean, bounds[0], bounds[1]])


def _total_power(values: np.ndarray) -> np.ndarray:
    """Total non-DC power of each (H, W) map, (N,): by Parseval, its sum of squared deviations from its mean
    (the sum of ``power * counts`` of :func:`radial_spectrum` over every bin). 1 for a constant map."""
    total = ((values - values.mean(axis=(-2, -1), keepdims=True)) ** 2).sum(axis=(-2, -1))
    return np.where(total > 0, total, 1.0)


def _draw_sets(
    ax: Axes,
    sets: list[tuple[str | None, np.ndarray]],
    band: str | None,
    level: float,
    filtered_at: float | None,
    options: dict[str, Any],
) -> tuple[float, float, float, np.ndarray]:
    """Draw each set's mean spectrum up to Nyquist, and with ``filtered_at`` that of its FORGrad maps at that
    cutoff (dashed); return the lowest and highest frequency drawn, the smallest positive mean power of the
    unfiltered maps and every value drawn. With ``options["normalize"]`` each map's power (and its FORGrad
    map's) is divided by the map's total non-DC power before the mean over images."""
    fmin, fmax, floor, drawn = math.inf, 0.0, math.inf, []
    for (label, values), color in zip(sets, _set_colors([label for label, _ in sets]), strict=True):
        freqs, power = radial_spectrum(values)
        keep = np.asarray(freqs) <= min(values.shape[-2:]) / 2.0  # complete rings only: up to Nyquist
        freqs = np.asarray(freqs, dtype=np.float64)[keep]
        scale = _total_power(values)[:, None] if options["normalize"] else 1.0
        power = np.asarray(power, dtype=np.float64).reshape(values.shape[0], -1)[:, keep] / scale
        fmin, fmax = min(fmin, float(freqs.min())), max(fmax, float(freqs.max()))
        drawn.append(_draw_spectrum(ax, freqs, power, color, band, level, label=label or "raw"))
        positive = power.mean(axis=0)[power.mean(axis=0) > 0]
        floor = min(floor, float(positive.min()) if positive.size else math.inf)
        if filtered_at is not None:
            maps = forgrad(values, filtered_at, kind=options["kind"], order=options["order"])
            _, filtered = radial_spectrum(np.asarray(maps))
            filtered = np.asarray(filtered, dtype=np.float64).reshape(values.shape[0], -1)[:, keep] / scale
            name = "FORGrad" if label is None else f"{label}, FORGrad"
            drawn.append(
                _draw_spectrum(
                    ax,
                    freqs,
                    filtered,
                    color,
                    band,
                    level,
                    linestyle="--",
                    label=f"{name} σ = {filtered_at:g}",
                )
            )
    return fmin, fmax, floor, np.concatenate(drawn)


def _limit_y(ax: Axes, drawn: np.ndarray, floor: float) -> None:
    """Log y-range of the drawn values, widened by ``_Y_MARGIN``; values under ``floor * _SPECTRUM_DEPTH`` (an
    ideal filter's numerically-zero power) are left off."""
    if not math.isfinite(floor):
        return
    shown = drawn[drawn >= floor * _SPECTRUM_DEPTH]
    if shown.size:
        ax.set_ylim(float(shown.min()) / _Y_MARGIN, float(shown.max()) * _Y_MARGIN)


def spectrum(
    maps: Any,
    cutoff: float | None = None,
    *,
    show_filtered: bool = False,
    kind: str = "ideal",
    order: int = 2,
    band: str | None = "ci",
    level: float = 0.95,
    normalize: bool = False,
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
    ``forgrad(maps, cutoff, kind=kind)`` is drawn dashed in the same colour.

    Normalisation: by default none, powers are compared on the same absolute scale. With ``normalize=True`` each
    map's power is divided by its total non-DC power (by Parseval, the sum of its squared deviations from its
    mean) before the mean over images, so that the spectra of methods with different scales compare: each map's
    ``power * counts`` sums to 1 over all the rings (:func:`~forgrad_viz.spectra.radial_spectrum`'s
    ``normalize``). A FORGrad spectrum is divided by the same total as its unfiltered map, so it shows the share
    of the unfiltered power left at each frequency.

    The y-range is the drawn values' (means and bands), widened by a factor 1.25 on each side; values more than
    3 decades below the smallest mean power of the unfiltered maps (the numerically-zero power an ideal filter
    leaves above the cutoff, about 1e-30) are left off.

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
    normalize : bool
        Divide each map's power by its total non-DC power (unit total power) before averaging.
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
    _check_level(level)
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
    ax = _single_axes(ax, figsize)
    fig = ax.figure
    ax.set_xscale("log")
    ax.set_yscale("log")
    filtered_at = cutoff if show_filtered else None
    options = {"kind": kind, "order": order, "normalize": bool(normalize)}
    fmin, fmax, floor, drawn = _draw_sets(ax, sets, band, level, filtered_at, options)
    ax.set_xlim(fmin, fmax)
    _plain_log_axis(ax.xaxis)
    _limit_y(ax, drawn, floor)
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
    ax.set_ylabel("power (share of each map's total)" if normalize else "power")
    if title is not None:
        ax.set_title(title)
    return fig
