"""The aliasing diagnosis of :func:`forgrad_viz.aliasing` as a figure: which downsampling layer puts the high
frequencies into the maps, whether anti-aliasing it keeps the predictions, and the gradient spectra layer by layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D

from forgrad_viz._utils import check_choice
from forgrad_viz.downsampling import AliasingReport, AliasingRow
from forgrad_viz.palette import OKABE_ITO
from forgrad_viz.plot._figure import _axes_list, _check_axes, _new_figure
from forgrad_viz.plot._inputs import _check_level
from forgrad_viz.results import bootstrap_ci

__all__ = ["PANELS", "aliasing"]

#: The panels of :func:`aliasing`.
PANELS = ("energy", "agreement", "spectra")

_LAYER_COLOR = OKABE_ITO["blue"]
_ALL_COLOR = OKABE_ITO["vermillion"]
_AGREEMENT_COLOR = OKABE_ITO["bluish_green"]
_PROB_COLOR = OKABE_ITO["orange"]
_ORIGINAL_COLOR = OKABE_ITO["vermillion"]
_SMOOTH_COLOR = OKABE_ITO["blue"]


def _row_label(row: AliasingRow, sep: str = "\n") -> str:
    """Label of a row: its name, then ``sep``, its kind and stride; or "all layers"."""
    if row.name == "all":
        return "all layers"
    stride = "" if row.stride is None else f" {row.stride[0]}×{row.stride[1]}"
    return f"{row.name}{sep}{row.kind}{stride}"


def _set_row_ticks(ax: Axes, rows: list[AliasingRow]) -> None:
    """Row labels under the bars; rotated when the longest line would not fit in its slot."""
    labels = [_row_label(row) for row in rows]
    fig = ax.get_figure(root=True)
    slot = ax.get_position().width * fig.get_figwidth() / len(rows)  # inches per bar group
    longest = max(len(part) for label in labels for part in label.split("\n"))
    ax.set_xticks(np.arange(len(rows)), labels, fontsize="small")
    if longest * 0.55 * mpl.rcParams["font.size"] * 0.83 / 72.0 > 0.95 * slot:
        ax.tick_params(axis="x", labelrotation=35)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def _draw_energy(ax: Axes, report: AliasingReport, interval: bool, level: float) -> None:
    """Bars: high-frequency energy removed (original minus anti-aliased) per intervention, with a CI over images."""
    rows = [*report.rows, report.all_layers]
    removed = [-row.hf_change for row in rows]
    colors = [_LAYER_COLOR] * len(report.rows) + [_ALL_COLOR]
    x = np.arange(len(rows))
    ax.bar(x, removed, color=colors, width=0.7, zorder=2)
    n_images = int(report.hf_energy_images.numel())
    if interval and n_images > 1:
        original = report.hf_energy_images.detach().cpu().double().numpy()
        per_image = np.stack(
            [original - row.hf_energy_images.detach().cpu().double().numpy() for row in rows]
        )
        low, high = bootstrap_ci(per_image, level=level)
        errors = np.stack([np.asarray(removed) - low, high - np.asarray(removed)]).clip(min=0.0)
        ax.errorbar(x, removed, yerr=errors, fmt="none", ecolor="0.15", elinewidth=1.0, capsize=3, zorder=3)
    ax.axhline(0.0, color="0.3", linewidth=0.8, zorder=1)
    _set_row_ticks(ax, rows)
    ax.set_ylabel(f"HF energy removed\n(share of power > {report.cutoff:g} cyc/img)")
    band = f"; {level:.0%} CI over {n_images} images" if interval and n_images > 1 else ""
    ax.set_title(
        f"HF energy removed by anti-aliasing\n(original {report.hf_energy:.3f}{band})", fontsize="medium"
    )
    ax.grid(axis="y", color="0.9", zorder=0)


def _draw_agreement(ax: Axes, report: AliasingReport, legend: bool) -> None:
    """Grouped bars: predicted class kept (agreement) and mean |change| of the target probability."""
    rows = [*report.rows, report.all_layers]
    x = np.arange(len(rows))
    width = 0.38
    ax.bar(
        x - width / 2,
        [row.agreement for row in rows],
        width,
        color=_AGREEMENT_COLOR,
        zorder=2,
        label="predicted class kept",
    )
    ax.bar(
        x + width / 2,
        [row.prob_change for row in rows],
        width,
        color=_PROB_COLOR,
        zorder=2,
        label="mean |Δp| of the target class",
        hatch="//",
        edgecolor="white",
        linewidth=0,
    )
    ax.set_ylim(0.0, 1.4)
    ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
    _set_row_ticks(ax, rows)
    ax.set_ylabel("fraction of images / |Δp|")
    ax.set_title("Predictions of the anti-aliased copies\n(against the original model)", fontsize="medium")
    ax.grid(axis="y", color="0.9", zorder=0)
    if legend:
        ax.legend(fontsize="x-small", loc="upper center", ncols=2, framealpha=0.9)


def _spectrum_handles() -> list[Line2D]:
    return [
        Line2D([], [], color=_ORIGINAL_COLOR, label="original model"),
        Line2D([], [], color=_SMOOTH_COLOR, linestyle="--", label="all layers anti-aliased"),
        Line2D([], [], color="0.2", linestyle=":", label="Nyquist of the layer's output"),
        Line2D([], [], color="0.55", linestyle="-.", label="Nyquist of the layer's input"),
    ]


def _draw_spectrum(ax: Axes, report: AliasingReport, name: str, legend: bool) -> None:
    """Gradient power at the input of layer ``name``, original and all-layers anti-aliased, log y."""
    row = report.row(name)
    for spectrum, color, style in (
        (report.spectrum(name), _ORIGINAL_COLOR, "-"),
        (report.spectrum(name, antialiased=True), _SMOOTH_COLOR, "--"),
    ):
        power = spectrum.power.detach().cpu().double().numpy()
        ax.plot(spectrum.frequencies, power, color=color, linestyle=style, linewidth=1.4, gid=spectrum.name)
    size = report.spectrum(name).size
    if row.out_size is not None:
        ax.axvline(min(row.out_size) / 2.0, color="0.2", linestyle=":", linewidth=1.1)
    ax.axvline(min(size) / 2.0, color="0.55", linestyle="-.", linewidth=1.1)
    ax.set_yscale("log")
    ax.set_xlim(left=0.0)
    ax.set_xlabel("cycles per image (layer input)", fontsize="small")
    ax.set_ylabel("gradient power")
    ax.set_title(f"{_row_label(row)}, input {size[0]}×{size[1]}", fontsize="small")
    if legend:
        ax.legend(handles=_spectrum_handles(), fontsize="x-small", framealpha=0.9)


def _spectra_layers(report: AliasingReport, layer: str | Sequence[str] | None) -> list[str]:
    if layer is None:
        return report.layers
    names = [layer] if isinstance(layer, str) else list(layer)
    if not names or not all(isinstance(name, str) for name in names):
        raise TypeError("layer must be a layer name or a non-empty sequence of layer names")
    unknown = [name for name in names if name not in report.layers]
    if unknown:
        raise ValueError(f"layer {unknown} not in the report; its layers: {report.layers}")
    return names


def _full_figure(
    report: AliasingReport, layers: list[str], interval: bool, level: float, figsize: Any
) -> Figure:
    n = len(layers)
    width = max(7.2, 2.6 * n)
    fig = _new_figure(figsize, (width, 6.6))
    top, bottom = fig.subfigures(2, 1, height_ratios=(1.0, 1.05))
    energy_ax, agreement_ax = top.subplots(1, 2)
    _draw_energy(energy_ax, report, interval, level)
    _draw_agreement(agreement_ax, report, legend=True)
    _draw_spectra(bottom, bottom.subplots(1, n, squeeze=False)[0], report, layers)
    return fig


def _draw_spectra(
    fig: Figure | SubFigure, axes: Sequence[Axes], report: AliasingReport, layers: list[str]
) -> None:
    """One panel per layer, one legend below them all."""
    for ax, name in zip(axes, layers, strict=True):
        _draw_spectrum(ax, report, name, legend=False)
        if ax is not axes[0]:
            ax.set_ylabel("")
    fig.legend(
        handles=_spectrum_handles(),
        loc="outside lower center",
        ncols=4 if len(layers) > 2 else 2,
        fontsize="small",
        frameon=False,
    )
    fig.suptitle(f"Radial spectra of the {report.method} gradient at each layer's input", fontsize="medium")


def aliasing(
    report: AliasingReport,
    panel: str | None = None,
    *,
    layer: str | Sequence[str] | None = None,
    interval: bool = True,
    level: float = 0.95,
    ax: Axes | Sequence[Axes] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Figure of an aliasing diagnosis (:func:`forgrad_viz.aliasing`): energy removed, predictions kept, spectra.

    Three panels: ``"energy"``, the high-frequency energy of the maps that anti-aliasing each downsampling layer
    removes (original minus anti-aliased, the report's ``-hf_change``; one bar per layer and one for all layers
    at once, with a percentile bootstrap interval over images); ``"agreement"``, how well the anti-aliased
    copies keep the predictions (fraction of images whose predicted class is kept, mean absolute change of the
    target-class probability); ``"spectra"``, the radially averaged power of the gradient at each layer's input,
    original against every layer anti-aliased, on a log scale, in cycles per image of that input, with the
    Nyquist frequencies of the layer's output (above it, a stride ``s`` puts replicas of the output gradient's
    spectrum) and of its input (beyond it, the corner bins hold incomplete rings).

    Parameters
    ----------
    report : AliasingReport
        The result of :func:`forgrad_viz.aliasing` (or :meth:`AliasingReport.load`).
    panel : {"energy", "agreement", "spectra"} or None
        One panel, or None for the full figure (energy and agreement above, one spectrum per layer below).
    layer : str or sequence of str, optional
        Layers whose spectra are drawn (default: all).
    interval : bool
        Draw the bootstrap interval of the energy removed (needs more than one image).
    level : float
        Coverage of that interval.
    ax : Axes or sequence of Axes, optional
        Where to draw a single panel (``panel`` must be given): one Axes, or for ``"spectra"`` one Axes per
        layer drawn. The figure of ``ax`` is returned.
    figsize : tuple of float, optional
        Size of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError, ValueError
        ``report`` not an AliasingReport, an unknown ``panel`` or ``layer``, ``ax`` without ``panel``, or too few
        axes for the spectra.

    Examples
    --------
    >>> import torch
    >>> from forgrad_viz.downsampling import aliasing as diagnose
    >>> from forgrad_viz.models import build_demo_model
    >>> report = diagnose(build_demo_model("maxpool_cnn"), torch.rand(2, 3, 64, 64))
    >>> fig = aliasing(report)
    >>> len(fig.axes)  # energy, agreement, one spectrum per max-pool
    5
    >>> fig = aliasing(report, "energy")  # one panel; or aliasing(report, "energy", ax=my_axes)
    """
    if not isinstance(report, AliasingReport):
        raise TypeError(
            f"report must be an AliasingReport (from forgrad_viz.aliasing); got {type(report).__name__}"
        )
    if panel is not None:
        check_choice(panel, "panel", PANELS)
    _check_level(level)
    layers = _spectra_layers(report, layer)
    if panel is None:
        if ax is not None:
            raise ValueError(f"ax draws a single panel: choose panel, one of {list(PANELS)}")
        return _full_figure(report, layers, interval, level, figsize)
    if panel == "spectra":
        if ax is None:
            fig = _new_figure(figsize, (max(4.0, 2.6 * len(layers)), 3.4))
            _draw_spectra(fig, fig.subplots(1, len(layers), squeeze=False)[0], report, layers)
            return fig
        axes = _axes_list(ax, len(layers))
        for target, name in zip(axes, layers, strict=True):
            _draw_spectrum(target, report, name, legend=target is axes[0])
        return axes[0].get_figure(root=True)
    target = _check_axes(ax) if ax is not None else _new_figure(figsize, (4.6, 3.4)).add_subplot()
    if panel == "energy":
        _draw_energy(target, report, interval, level)
    else:
        _draw_agreement(target, report, legend=True)
    return target.get_figure(root=True)
