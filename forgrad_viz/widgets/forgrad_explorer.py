""":class:`ForgradExplorer`: an image, its raw attribution map and FORGrad map at a cutoff on a logarithmic
slider, their radial power spectra, and Deletion and Insertion of the current map on request.
"""

from __future__ import annotations

import html
import math
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from forgrad_viz._utils import (
    check_choice,
    check_finite_number,
    check_images,
    check_model,
    check_positive_int,
    iter_chunks,
    resolve_targets,
)
from forgrad_viz.filters import KINDS, max_cutoff
from forgrad_viz.palette import SEQUENTIAL_CMAP, color_for
from forgrad_viz.results import CutoffSweep, FaithfulnessResult
from forgrad_viz.widgets.base import ExplorerBase, control_value, status_html, titled
from forgrad_viz.widgets.checks import check_method_options, check_methods, check_names
from forgrad_viz.widgets.faithfulness import concatenate_results, deletion_and_insertion, faithfulness_figure
from forgrad_viz.widgets.maps import AttributionCache, map_array, map_spectrum
from forgrad_viz.widgets.rendering import CMAPS, enlarge, figure_png, heatmap_rgb, image_rgb, png_bytes
from forgrad_viz.widgets.spectrum_plot import SpectrumPlot

__all__ = ["DEFAULT_METHODS", "MIN_CUTOFF", "SLIDER_STEP", "ForgradExplorer"]

#: Smallest cutoff of the slider, in cycles per image.
MIN_CUTOFF = 1.0  # below 1 cycle per image only the mean survives (a constant map)
#: Step of the cutoff slider in log10 units (2.3% per step).
SLIDER_STEP = 0.01
#: Methods shown by default: the cheap white-box ones.
DEFAULT_METHODS = ("saliency", "gradient_input", "integrated_gradients", "smoothgrad", "guided_backprop")


def _log_grid(cutoff: float, maximum: float) -> tuple[float, float]:
    """Exponent range of the cutoff slider: about [log10(MIN_CUTOFF), log10(maximum)], on a grid through ``cutoff``.

    The browser's slider snaps to ``min + k * step``; aligning the grid keeps the initial cutoff exact.
    """
    start = math.log10(cutoff)
    low = start - SLIDER_STEP * math.floor((start - math.log10(MIN_CUTOFF)) / SLIDER_STEP + 1e-9)
    high = low + SLIDER_STEP * math.ceil((math.log10(maximum) - low) / SLIDER_STEP - 1e-9)
    return low, high


def _cutoff_slider(cutoff: float, maximum: float) -> widgets.FloatLogSlider:
    """The log slider of the cutoff, from about :data:`MIN_CUTOFF` to ``maximum``, set to ``cutoff``."""
    low, high = _log_grid(cutoff, maximum)
    return widgets.FloatLogSlider(
        value=cutoff,
        base=10,
        min=low,
        max=high,
        step=SLIDER_STEP,
        description="cutoff σ",
        readout_format=".3g",
    )


def _image_select(labels: list[str] | None, targets: torch.Tensor) -> widgets.Dropdown:
    """The image dropdown: ``labels``, or "image i (class t)" from the ``targets``; its values are the indices."""
    labels = labels or [f"image {i} (class {t})" for i, t in enumerate(targets.tolist())]
    return widgets.Dropdown(options=[(label, i) for i, label in enumerate(labels)], description="image")


class ForgradExplorer(ExplorerBase):
    """Raw versus FORGrad maps of a model's images, with a cutoff slider, spectra and faithfulness on request.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits, taking ``images`` as they are (pixel space).
    images : Tensor
        Images (N, C, H, W) in [0, 1], on the model's device.
    targets : None, int, sequence of ints or 1-D tensor, optional
        Class explained per image; ``None`` uses the predicted class.
    methods : str or sequence of str
        Attribution methods offered (keys of :data:`forgrad_viz.METHODS`); the first is shown first.
    cutoff : float
        Initial cutoff in cycles per image, in [1, ``max_cutoff(H, W)``].
    kind : str
        Initial low-pass filter: ``"ideal"``, ``"gaussian"`` or ``"butterworth"``.
    order : int
        Order of the Butterworth filter.
    sweep : CutoffSweep, optional
        A sweep whose sigma* (and its interval) is marked on the slider's label and on the spectrum plot.
    metric : str, optional
        The sweep's metric for sigma* (default: its first metric).
    image_names : sequence of str, optional
        Labels of the images in the image menu.
    method_options : dict, optional
        ``{method: {option: value}}`` passed to :func:`forgrad_viz.explain`.
    metric_options : dict, optional
        Keyword arguments of :func:`forgrad_viz.deletion` and :func:`forgrad_viz.insertion` (``steps``, ...).
    cmap : str
        Colour map of the heatmaps.
    batch_size : int, optional
        Batch size of the attribution and metric passes.
    seed : int
        Seed of the stochastic methods.
    chunk_size : int
        Images per chunk when Deletion/Insertion run over all images (the progress bar advances per chunk).
    export_path : str or Path
        Initial path (without suffix) of the export button.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    ...                           torch.nn.Flatten(), torch.nn.Linear(4 * 15 * 15, 3))
    >>> explorer = ForgradExplorer(net, torch.rand(2, 3, 32, 32), methods=("saliency",), cutoff=8.0)
    >>> explorer.cutoff_slider.value = 4.0  # re-filters the cached map; the model is not called
    >>> explorer.filtered_map.shape
    (32, 32)
    >>> explorer  # in a notebook, this displays the widget  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        targets: Any = None,
        methods: str | Sequence[str] = DEFAULT_METHODS,
        cutoff: float = 15.0,
        *,
        kind: str = "ideal",
        order: int = 2,
        sweep: CutoffSweep | None = None,
        metric: str | None = None,
        image_names: Sequence[str] | None = None,
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        metric_options: Mapping[str, Any] | None = None,
        cmap: str = SEQUENTIAL_CMAP,
        batch_size: int | None = None,
        seed: int = 0,
        chunk_size: int = 16,
        export_path: str | Path = "forgrad_view",
    ) -> None:
        super().__init__(export_path)
        self.model = check_model(model)
        self.images = check_images(images)
        height, width = images.shape[-2:]
        self.max_cutoff = float(max_cutoff(height, width))
        methods = check_methods(methods)
        cutoff = check_finite_number(cutoff, "cutoff", positive=True)
        if not MIN_CUTOFF <= cutoff <= self.max_cutoff:
            raise ValueError(
                f"cutoff must lie in [{MIN_CUTOFF}, {self.max_cutoff:.4g}] for {height}x{width} images"
            )
        check_choice(kind, "kind", KINDS)
        check_choice(cmap, "cmap", CMAPS)
        self.order = check_positive_int(order, "order")
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self.metric_options = dict(metric_options or {})
        self.sigma_star = self._sigma_star(sweep, metric)
        self.sweep = sweep
        names = check_names(image_names, images.shape[0], "image_names")
        self.targets = resolve_targets(model, images, targets, batch_size)
        self.batch_size = batch_size
        self._cache = AttributionCache(check_method_options(method_options), batch_size, seed)
        self._raw: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.raw_map = np.zeros((height, width))
        self.filtered_map = np.zeros((height, width))
        self.last_update_ms = math.nan
        self.timings: dict[str, float] = {}
        self.faithfulness: dict[str, FaithfulnessResult] = {}
        self._build_controls(names, methods, cutoff, kind, cmap)
        self._spectrum = SpectrumPlot(color_for(methods[0]), "#D55E00")
        self._spectrum.set_sigma_star(None if self.sigma_star is None else self.sigma_star.cutoff)
        self._build_views()
        self._guard(self._select)()
        if self.last_error is not None:
            raise self.last_error

    # -- construction

    @staticmethod
    def _sigma_star(sweep: CutoffSweep | None, metric: str | None) -> Any:
        if sweep is None:
            if metric is not None:
                raise ValueError("metric is only used with a sweep; pass sweep= as well")
            return None
        if not isinstance(sweep, CutoffSweep):
            raise TypeError(f"sweep must be a CutoffSweep; got {type(sweep).__name__}")
        metric = sweep.metrics[0] if metric is None else metric
        if metric not in sweep.metrics:
            raise ValueError(f"metric {metric!r} is not in the sweep; it holds {list(sweep.metrics)}")
        return sweep.best_cutoff(metric, warn_at_edge=False)

    def _build_controls(
        self, names: list[str] | None, methods: tuple[str, ...], cutoff: float, kind: str, cmap: str
    ) -> None:
        self.image_select = _image_select(names, self.targets)
        self.method_select = widgets.Dropdown(options=list(methods), description="method")
        self.cutoff_slider = _cutoff_slider(cutoff, self.max_cutoff)
        self.cutoff_slider.add_class("forgrad-cutoff")
        self.kind_select = widgets.Dropdown(options=list(KINDS), value=kind, description="filter")
        self.cmap_select = widgets.Dropdown(options=list(CMAPS), value=cmap, description="colours")
        self.clip_slider = widgets.FloatSlider(
            value=99.5, min=90.0, max=100.0, step=0.1, description="clip %"
        )
        self.opacity_slider = widgets.FloatSlider(
            value=1.0, min=0.0, max=1.0, step=0.05, description="opacity"
        )
        self.log_power = widgets.Checkbox(value=True, description="log power")
        best = self.sigma_star
        self.sigma_label = widgets.HTML(
            ""
            if best is None
            else f"σ* = {best.cutoff:.3g} [{best.low:.3g}, {best.high:.3g}] "
            f"({html.escape(self.sweep.method)}, {html.escape(best.metric)})"
        )
        self.sigma_button = widgets.Button(description="go to σ*", disabled=best is None)
        self.sigma_button.on_click(self._guard(lambda _b: setattr(self.cutoff_slider, "value", best.cutoff)))
        self.scope_select = widgets.Dropdown(options=["current image", "all images"], description="scope")
        self.faithfulness_button = widgets.Button(
            description="Deletion & Insertion", icon="play", layout=widgets.Layout(width="190px")
        )
        self.faithfulness_button.on_click(self._guard(lambda _b: self.run_faithfulness()))
        self.image_select.observe(self._guard(lambda _c: self._select()), names="value")
        self.method_select.observe(self._guard(lambda _c: self._select()), names="value")
        self.cutoff_slider.observe(self._guard(lambda _c: self._refilter()), names="value")
        self.kind_select.observe(self._guard(lambda _c: self._refilter()), names="value")
        self.log_power.observe(self._guard(lambda _c: self._refilter()), names="value")
        for control in (self.cmap_select, self.clip_slider, self.opacity_slider):
            control.observe(self._guard(lambda _c: self._recolour()), names="value")

    def _build_views(self) -> None:
        self.image_view = widgets.Image(format="png")
        self.raw_view = widgets.Image(format="png")
        self.filtered_view = widgets.Image(format="png")
        self.filtered_view.add_class("forgrad-filtered")
        self.spectrum_view = widgets.Image(format="png")
        self.faithfulness_view = widgets.Image(format="png", layout=widgets.Layout(width="560px"))
        self.faithfulness_view.add_class("forgrad-faithfulness")
        self.faithfulness_view.layout.display = "none"
        self.info = widgets.HTML("")
        self.info.add_class("forgrad-info")
        controls = widgets.HBox(
            [
                widgets.VBox([self.image_select, self.method_select, self.kind_select]),
                widgets.VBox([self.cutoff_slider, widgets.HBox([self.sigma_button, self.sigma_label])]),
                widgets.VBox([self.cmap_select, self.clip_slider, self.opacity_slider, self.log_power]),
            ]
        )
        views = widgets.HBox(
            [
                titled("image", self.image_view),
                titled("raw map", self.raw_view),
                titled("FORGrad map", self.filtered_view),
                self.spectrum_view,
            ]
        )
        actions = widgets.HBox(
            [self.scope_select, self.faithfulness_button, self.export_path, self.export_button, self.progress]
        )
        self.widget = widgets.VBox([controls, views, self.info, actions, self.faithfulness_view, self.status])
        self.widget.add_class("forgrad-explorer")

    # -- state

    index = control_value("image_select", int, "Index of the image on display.")

    method = control_value("method_select", str, "Attribution method on display.")

    cutoff = control_value("cutoff_slider", float, "Cutoff on display, in cycles per image.")

    kind = control_value("kind_select", str, "Low-pass filter on display.")

    @property
    def attributions(self) -> torch.Tensor:
        """The cached attributions (1, C, H, W) of the image and method on display."""
        return self._attributions(self.index)

    @property
    def spectrum_lines(self) -> dict[str, Any]:
        """The numbers drawn on the spectrum plot: ``raw`` and ``filtered`` (frequencies, power) and ``cutoff``."""
        plot = self._spectrum
        return {
            "raw": (np.asarray(plot.raw.get_xdata()), np.asarray(plot.raw.get_ydata())),
            "filtered": (np.asarray(plot.filtered.get_xdata()), np.asarray(plot.filtered.get_ydata())),
            "cutoff": float(np.asarray(plot.cutoff.get_xdata())[0]),
        }

    @property
    def checksum(self) -> str:
        """CRC-32 (8 hex digits) of the FORGrad map on display, shown in the info line."""
        return f"{zlib.crc32(np.ascontiguousarray(self.filtered_map).tobytes()):08x}"

    @property
    def attribution_calls(self) -> int:
        """How many (image, method) attributions have been computed so far."""
        return len(self._cache.maps)

    def _attributions(self, index: int) -> torch.Tensor:
        key = ("model", self.method, index)
        if key not in self._cache.maps:
            self._start_progress(1, "explaining")
            self.status.value = status_html(f"computing {self.method} for image {index} ...")
        maps = self._cache.get("model", self.model, self.images, self.targets, self.method, index)
        self._end_progress()
        return maps

    # -- updates

    def _select(self) -> None:
        """New image or method: attributions (cached), raw map and its spectrum, then the filtered views."""
        key = (self.method, self.index)
        if key not in self._raw:
            raw = map_array(self._attributions(self.index), None, self.kind, self.order)
            self._raw[key] = (raw, *map_spectrum(raw))
        self.raw_map, frequencies, power = self._raw[key]
        self._spectrum.set_raw(frequencies, power, color_for(self.method))
        self.image_view.value = png_bytes(enlarge(image_rgb(self.images[self.index])))
        self.faithfulness = {}
        self.faithfulness_view.layout.display = "none"
        self._recolour()
        self.status.value = status_html(f"{self.method}, image {self.index}: ready")

    def _heatmap(self, values: np.ndarray) -> bytes:
        background = image_rgb(self.images[self.index])
        rgb = heatmap_rgb(
            values, self.cmap_select.value, self.clip_slider.value, background, self.opacity_slider.value
        )
        return png_bytes(enlarge(rgb))

    def _recolour(self) -> None:
        self.raw_view.value = self._heatmap(self.raw_map)
        self._refilter()

    def _refilter(self) -> None:
        """Cutoff or filter moved: filter the cached attributions, redraw the map and the spectrum (no model call)."""
        start = time.perf_counter()
        attributions = self.attributions
        self.filtered_map = map_array(attributions, self.cutoff, self.kind, self.order)
        filtered_at = time.perf_counter()
        frequencies, power = map_spectrum(self.filtered_map)
        spectrum_at = time.perf_counter()
        self.filtered_view.value = self._heatmap(self.filtered_map)
        map_at = time.perf_counter()
        self.spectrum_view.value = self._spectrum.render(
            frequencies, power, self.cutoff, self.log_power.value
        )
        end = time.perf_counter()
        self.timings = {
            "filter_ms": 1e3 * (filtered_at - start),
            "spectrum_ms": 1e3 * (spectrum_at - filtered_at),
            "map_png_ms": 1e3 * (map_at - spectrum_at),
            "plot_png_ms": 1e3 * (end - map_at),
        }
        self.last_update_ms = 1e3 * (end - start)
        self.info.value = (
            f"σ = {self.cutoff:.4g} · {self.kind} · update {self.last_update_ms:.1f} ms · "
            f"map CRC-32 <span class='forgrad-checksum'>{self.checksum}</span>"
        )

    # -- faithfulness

    def run_faithfulness(self, scope: str | None = None) -> dict[str, FaithfulnessResult]:
        """Deletion and Insertion of the FORGrad maps at the current cutoff, shown as curves.

        ``scope`` (default: the scope menu) is ``"current image"`` or ``"all images"``; all images run in
        chunks of ``chunk_size`` with a progress bar. Returns ``{"deletion": ..., "insertion": ...}``.
        """
        scope = check_choice(
            self.scope_select.value if scope is None else scope, "scope", self.scope_select.options
        )
        indices = [self.index] if scope == "current image" else list(range(self.images.shape[0]))
        chunks = list(iter_chunks(len(indices), self.chunk_size))
        self._start_progress(len(chunks), "faithfulness")
        parts: dict[str, list[FaithfulnessResult]] = {"deletion": [], "insertion": []}
        for part in chunks:
            chunk = indices[part]
            attributions = torch.cat(
                [
                    self._cache.get("model", self.model, self.images, self.targets, self.method, i)
                    for i in chunk
                ]
            )
            chunk_results = deletion_and_insertion(
                self.model,
                self.images[chunk],
                attributions,
                self.targets[chunk],
                self.cutoff,
                self.kind,
                self.order,
                self.batch_size,
                self.metric_options,
            )
            for name, result in chunk_results.items():
                parts[name].append(result)
            self._step_progress()
        self._end_progress()
        self.faithfulness = {name: concatenate_results(results) for name, results in parts.items()}
        self.faithfulness_view.value = figure_png(
            faithfulness_figure(self.faithfulness, color_for(self.method), self.cutoff)
        )
        self.faithfulness_view.layout.display = None
        summary = ", ".join(f"{name} AUC {result.mean():.3f}" for name, result in self.faithfulness.items())
        self.status.value = status_html(f"σ = {self.cutoff:.3g}, {len(indices)} image(s): {summary}")
        return self.faithfulness

    # -- export

    def current_figure(self) -> Figure:
        """A Figure of the current view: image, raw map, FORGrad map and spectra."""
        figure = Figure(figsize=(12.0, 3.0), layout="constrained")
        image_ax, raw_ax, filtered_ax, spectrum_ax = figure.subplots(1, 4, width_ratios=(1, 1, 1, 1.5))
        image_ax.imshow(image_rgb(self.images[self.index]))
        image_ax.set_title(f"image {self.index}")
        raw_ax.imshow(self.raw_map, cmap=self.cmap_select.value)
        raw_ax.set_title(f"{self.method}, raw")
        filtered_ax.imshow(self.filtered_map, cmap=self.cmap_select.value)
        filtered_ax.set_title(f"FORGrad, σ = {self.cutoff:.3g} ({self.kind})")
        for ax in (image_ax, raw_ax, filtered_ax):
            ax.set_axis_off()
        lines = self.spectrum_lines
        spectrum_ax.loglog(*lines["raw"], color=color_for(self.method), label="raw map")
        spectrum_ax.loglog(*lines["filtered"], color="#D55E00", label="FORGrad map")
        spectrum_ax.axvline(lines["cutoff"], color="black", ls="--", label="cutoff")
        if self.sigma_star is not None:
            spectrum_ax.axvline(self.sigma_star.cutoff, color="0.45", ls=":", label="σ*")
        spectrum_ax.set_xlabel("frequency (cycles per image)")
        spectrum_ax.set_ylabel("power")
        spectrum_ax.legend(fontsize=7, frameon=False)
        return figure
