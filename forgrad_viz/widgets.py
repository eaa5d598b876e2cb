"""Notebook explorers of FORGrad maps and cutoff sweeps, built from ipywidgets and matplotlib only.

:class:`ForgradExplorer` shows an image, its raw attribution map, the FORGrad map at a cutoff chosen on a
logarithmic slider and the radial power spectra of both maps; Deletion and Insertion of the current map run on
request. :class:`CutoffCurveExplorer` shows faithfulness versus cutoff of a :class:`~forgrad_viz.CutoffSweep`
or an :class:`~forgrad_viz.ArchitectureComparison`, with bootstrap intervals and sigma*, and the maps at a chosen
cutoff.

Rendering needs no custom JavaScript: heatmaps are colour-mapped in NumPy and sent as PNG bytes to
``ipywidgets.Image`` widgets; plots are matplotlib Figures (object API, Agg canvas) whose artists are kept and
updated in place, then sent the same way. Attributions are computed once per (model, method, image) and cached,
so moving the cutoff slider only re-filters and redraws: it never calls the model.

The data on display is exposed for tests and scripts: ``filtered_map``, ``raw_map``, ``spectrum_lines``,
``last_update_ms`` (:class:`ForgradExplorer`) and ``curve_data``, ``filtered_map`` (:class:`CutoffCurveExplorer`).
Errors raised while handling a control are shown in the widget's status line (and kept in ``last_error``); bad
arguments raise at construction.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage
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
from forgrad_viz.attribution import METHODS, explain
from forgrad_viz.export import export_figure
from forgrad_viz.filters import KINDS, forgrad, max_cutoff
from forgrad_viz.metrics import deletion, insertion
from forgrad_viz.palette import SEQUENTIAL_CMAP, color_for
from forgrad_viz.results import ArchitectureComparison, CutoffSweep, FaithfulnessResult
from forgrad_viz.spectra import radial_spectrum

__all__ = ["CutoffCurveExplorer", "ForgradExplorer"]

#: Colour maps offered for the heatmaps.
CMAPS = (SEQUENTIAL_CMAP, "inferno", "viridis", "gray", "jet")
#: Smallest cutoff of the slider, in cycles per image.
MIN_CUTOFF = 0.5
#: Step of the cutoff slider in log10 units (2.3% per step).
SLIDER_STEP = 0.01
#: Heatmaps smaller than this many pixels per side are enlarged (nearest neighbour) for display.
DISPLAY_PX = 192
#: Size in inches (at 80 dpi on screen) of the cutoff-curve plot.
CURVE_FIGSIZE = (6.4, 3.6)
#: Methods shown by default: the cheap white-box ones.
DEFAULT_METHODS = ("saliency", "gradient_input", "integrated_gradients", "smoothgrad", "guided_backprop")


# ----------------------------------------------------------------------------------------------- rendering


def _png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 array (fast zlib level: these images live for one slider move)."""
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def _enlarge(rgb: np.ndarray, min_px: int = DISPLAY_PX) -> np.ndarray:
    """Repeat pixels by an integer factor so that the shorter side has at least ``min_px`` pixels."""
    factor = max(1, math.ceil(min_px / min(rgb.shape[:2])))
    return rgb if factor == 1 else np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def image_rgb(image: torch.Tensor) -> np.ndarray:
    """An image (C, H, W) in [0, 1] as (H, W, 3) uint8 (one channel is shown in grey; other counts averaged).

    Examples
    --------
    >>> image_rgb(torch.ones(3, 2, 2)).shape
    (2, 2, 3)
    """
    array = image.detach().to("cpu", torch.float32).clamp(0.0, 1.0).numpy()
    if array.shape[0] != 3:
        array = np.repeat(array.mean(axis=0, keepdims=True), 3, axis=0)
    return np.round(array.transpose(1, 2, 0) * 255.0).astype(np.uint8)


def heatmap_rgb(
    values: np.ndarray,
    cmap: str = SEQUENTIAL_CMAP,
    clip: float = 100.0,
    background: np.ndarray | None = None,
    opacity: float = 1.0,
) -> np.ndarray:
    """A non-negative map (H, W) colour-mapped to (H, W, 3) uint8.

    The map is divided by its ``clip`` percentile (100: its maximum) and clipped to [0, 1]; with a
    ``background`` image (H, W, 3) uint8 and ``opacity`` < 1 the colours are blended over it.

    Examples
    --------
    >>> heatmap_rgb(np.array([[0.0, 1.0]]), cmap="gray")[0, :, 0].tolist()
    [0, 255]
    """
    top = float(values.max()) if clip >= 100.0 else float(np.percentile(values, clip))
    scaled = np.clip(values / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    rgb = matplotlib.colormaps[cmap](scaled, bytes=True)[..., :3]
    if background is None or opacity >= 1.0:
        return rgb
    blended = opacity * rgb.astype(np.float32) + (1.0 - opacity) * background.astype(np.float32)
    return np.round(blended).astype(np.uint8)


def _figure_png(figure: Figure) -> bytes:
    """Draw ``figure`` on its Agg canvas and return PNG bytes."""
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return _png(np.asarray(canvas.buffer_rgba())[..., :3])


class _SpectrumPlot:
    """Raw and FORGrad radial power spectra with the cutoff (and sigma*) line, redrawn by blitting.

    The static part (axes, ticks, raw spectrum, sigma*) is drawn once and kept as a background; a cutoff move
    restores it and draws only the FORGrad line and the cutoff line. The power axis only grows while the image
    and method stay the same: when a FORGrad spectrum leaves it, the whole plot is redrawn with wider limits.
    On a log axis the limits reach at most two decades below the raw spectrum's smallest value.
    """

    def __init__(self, raw_color: str, filtered_color: str, size: tuple[float, float] = (4.4, 2.7)) -> None:
        self.figure = Figure(figsize=size, dpi=80)
        self.canvas = FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.17, right=0.97, bottom=0.18, top=0.9)
        self.axes = self.figure.add_subplot()
        self.axes.set_xscale("log")
        self.axes.set_yscale("log", nonpositive="mask")
        self.axes.set_xlabel("frequency (cycles per image)")
        self.axes.set_ylabel("power")
        self.axes.set_title("radially averaged power spectrum", fontsize=9)
        (self.raw,) = self.axes.plot([], [], color=raw_color, lw=1.2, label="raw map")
        (self.filtered,) = self.axes.plot(
            [], [], color=filtered_color, lw=1.4, label="FORGrad map", animated=True
        )
        self.cutoff = self.axes.axvline(1.0, color="black", ls="--", lw=1.0, label="cutoff", animated=True)
        self.sigma_star = self.axes.axvline(1.0, color="0.45", ls=":", lw=1.2, visible=False)
        self.axes.legend(loc="lower left", fontsize=7, frameon=False)
        self._background: Any = None
        self._limits: tuple[float, float] | None = None

    def set_raw(self, frequencies: np.ndarray, power: np.ndarray, color: str) -> None:
        self.raw.set_data(frequencies, power)
        self.raw.set_color(color)
        self.axes.set_xlim(float(frequencies.min()) / 1.2, float(frequencies.max()) * 1.2)
        self._background, self._limits = None, None

    def set_sigma_star(self, value: float | None) -> None:
        self.sigma_star.set_visible(value is not None)
        self.sigma_star.set_label("_hidden" if value is None else f"σ* = {value:.3g}")
        if value is not None:
            self.sigma_star.set_xdata([value, value])
        self.axes.legend(loc="lower left", fontsize=7, frameon=False)
        self._background = None

    def _limits_for(self, power: np.ndarray, log_power: bool) -> tuple[float, float]:
        raw = np.asarray(self.raw.get_ydata())
        if log_power:
            positive = np.concatenate([raw, power])
            positive = positive[np.isfinite(positive) & (positive > 0)]
            if positive.size == 0:
                return 1e-12, 1.0
            raw_floor = float(raw[raw > 0].min()) / 100.0 if np.any(raw > 0) else 0.0
            low, high = max(float(positive.min()) / 1.5, raw_floor), float(positive.max()) * 1.5
        else:
            low, high = 0.0, 1.05 * max(float(raw.max()), float(power.max()), 1e-12)
        if self._limits is not None and (self.axes.get_yscale() == "log") == log_power:
            low, high = min(low, self._limits[0]), max(high, self._limits[1])
        return low, high

    def render(self, frequencies: np.ndarray, power: np.ndarray, cutoff: float, log_power: bool) -> bytes:
        """Update the FORGrad line and the cutoff line and return the plot as PNG bytes."""
        self.filtered.set_data(frequencies, power)
        self.cutoff.set_xdata([cutoff, cutoff])
        limits = self._limits_for(power, log_power)
        if (
            self._background is None
            or limits != self._limits
            or (self.axes.get_yscale() == "log") != log_power
        ):
            if (self.axes.get_yscale() == "log") != log_power:
                self.axes.set_yscale("log" if log_power else "linear")
            self.axes.set_ylim(*limits)
            self._limits = limits
            self.canvas.draw()  # everything but the animated lines
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        else:
            self.canvas.restore_region(self._background)
        self.axes.draw_artist(self.filtered)
        self.axes.draw_artist(self.cutoff)
        return _png(np.asarray(self.canvas.buffer_rgba())[..., :3])


# ----------------------------------------------------------------------------------------------- validation


def _check_methods(methods: Any) -> tuple[str, ...]:
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if not methods:
        raise ValueError(f"methods must name at least one of {list(METHODS)}")
    for method in methods:
        check_choice(method, "methods", tuple(METHODS))
    return tuple(dict.fromkeys(methods))


def _check_method_options(options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``{method: {option: value}}``, validated against :data:`METHODS`."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(f"method_options must map method names to option dicts; got {type(options).__name__}")
    checked = {}
    for method, values in options.items():
        check_choice(method, "method_options key", tuple(METHODS))
        METHODS[method].resolve_options(dict(values))
        checked[method] = dict(values)
    return checked


def _check_names(names: Sequence[str] | None, n_images: int, argument: str) -> list[str] | None:
    if names is None:
        return None
    names = [str(name) for name in names]
    if len(names) != n_images:
        raise ValueError(f"{argument} must have one name per image ({n_images}); got {len(names)}")
    return names


def _status_html(text: str, error: bool = False) -> str:
    colour = "#b00020" if error else "#444"
    return f"<span style='color:{colour}'>{html.escape(text)}</span>"


class _AttributionCache:
    """Attributions (1, C, H, W) per (model name, method, image index), each computed once with ``explain``.

    Each image is explained on its own, so a map does not depend on which other images were computed before
    (the noise of the stochastic methods is drawn per call from ``seed``).
    """

    def __init__(self, method_options: Mapping[str, Mapping[str, Any]], batch_size: int | None, seed: int):
        self.method_options = method_options
        self.batch_size = batch_size
        self.seed = seed
        self.maps: dict[tuple[str, str, int], torch.Tensor] = {}

    def get(
        self,
        name: str,
        model: nn.Module,
        images: torch.Tensor,
        targets: torch.Tensor,
        method: str,
        index: int,
    ) -> torch.Tensor:
        key = (name, method, index)
        if key not in self.maps:
            self.maps[key] = explain(
                model,
                images[index : index + 1],
                targets[index : index + 1],
                method=method,
                batch_size=self.batch_size,
                seed=self.seed,
                **self.method_options.get(method, {}),
            )
        return self.maps[key]


@contextlib.contextmanager
def _one_cpu_thread() -> Iterator[None]:
    """Run the work of one map (a 2-D FFT) on one CPU thread, then restore torch's thread count.

    Measured at 224 x 224 on a busy 2-core machine: 1.4 ms on one thread, 20-240 ms on two competing threads.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _map_array(attributions: torch.Tensor, cutoff: float | None, kind: str, order: int) -> np.ndarray:
    """The FORGrad map (H, W) of one attribution (1, C, H, W), or the unfiltered one (``cutoff=None``).

    The unfiltered map is the first half of the pipeline: channel mean, absolute value.
    """
    with _one_cpu_thread():
        if cutoff is None:
            maps = attributions.mean(dim=1).abs()
        else:
            maps = forgrad(attributions, cutoff, kind=kind, order=order)
        return maps[0].detach().cpu().numpy()


def _spectrum(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of one map as float64 arrays (frequencies, power)."""
    with _one_cpu_thread():
        frequencies, power = radial_spectrum(values)
    return np.asarray(frequencies, dtype=np.float64), np.asarray(power, dtype=np.float64)


def _log_grid(cutoff: float, maximum: float) -> tuple[float, float]:
    """Exponent range of the cutoff slider: about [log10(0.5), log10(maximum)], on a grid through ``cutoff``.

    The browser's slider snaps to ``min + k * step``; aligning the grid keeps the initial cutoff exact.
    """
    start = math.log10(cutoff)
    low = start - SLIDER_STEP * math.floor((start - math.log10(MIN_CUTOFF)) / SLIDER_STEP + 1e-9)
    high = low + SLIDER_STEP * math.ceil((math.log10(maximum) - low) / SLIDER_STEP - 1e-9)
    return low, high


def _titled(title: str, child: widgets.Widget) -> widgets.VBox:
    return widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), child])


# ----------------------------------------------------------------------------------------------- base


class _Explorer:
    """Status line, export row, progress bar, error capture and notebook display shared by the explorers."""

    widget: widgets.VBox

    def __init__(self, export_path: str | Path) -> None:
        self.last_error: Exception | None = None
        self.status = widgets.HTML(_status_html("ready"))
        self.status.add_class("forgrad-status")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="", bar_style="info")
        self.progress.layout.visibility = "hidden"
        self.export_path = widgets.Text(
            value=str(export_path), description="export to", continuous_update=False
        )
        self.export_button = widgets.Button(description="Export figure", icon="download")
        self.export_button.on_click(self._guard(lambda _button: self.export()))

    def _guard(self, handler: Callable[..., Any]) -> Callable[..., None]:
        """Wrap a control's handler so that an error is shown in the status line rather than lost."""

        def guarded(*args: Any) -> None:
            try:
                handler(*args)
            except Exception as error:  # a notebook callback has nowhere else to report its error
                self.last_error = error
                self.status.value = _status_html(f"Error: {error}", error=True)
                self.progress.layout.visibility = "hidden"
            else:
                self.last_error = None

        return guarded

    def _start_progress(self, total: int, description: str) -> None:
        self.progress.max = max(1, total)
        self.progress.value = 0
        self.progress.description = description
        self.progress.layout.visibility = "visible"

    def _step_progress(self) -> None:
        self.progress.value += 1

    def _end_progress(self) -> None:
        self.progress.layout.visibility = "hidden"

    def current_figure(self) -> Figure:
        raise NotImplementedError

    def export(
        self, path: str | Path | None = None, formats: Sequence[str] = ("pdf", "svg", "png")
    ) -> list[Path]:
        """Write the current view with :func:`forgrad_viz.export_figure` (``path`` defaults to the text box).

        Returns the paths written.
        """
        paths = export_figure(
            self.current_figure(), path if path is not None else self.export_path.value, formats
        )
        self.status.value = _status_html("exported " + ", ".join(str(p) for p in paths))
        return paths

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


# ----------------------------------------------------------------------------------------------- explorer


class ForgradExplorer(_Explorer):
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
        Initial cutoff in cycles per image, in [0.5, ``max_cutoff(H, W)``].
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
        methods = _check_methods(methods)
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
        names = _check_names(image_names, images.shape[0], "image_names")
        self.targets = resolve_targets(model, images, targets, batch_size)
        self.batch_size = batch_size
        self._cache = _AttributionCache(_check_method_options(method_options), batch_size, seed)
        self._raw: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.raw_map = np.zeros((height, width))
        self.filtered_map = np.zeros((height, width))
        self.last_update_ms = math.nan
        self.timings: dict[str, float] = {}
        self.faithfulness: dict[str, FaithfulnessResult] = {}
        self._build_controls(names, methods, cutoff, kind, cmap)
        self._spectrum = _SpectrumPlot(color_for(methods[0]), "#D55E00")
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
        return sweep.best_cutoff(metric)

    def _build_controls(
        self, names: list[str] | None, methods: tuple[str, ...], cutoff: float, kind: str, cmap: str
    ) -> None:
        targets = self.targets.tolist()
        labels = names or [f"image {i} (class {t})" for i, t in enumerate(targets)]
        self.image_select = widgets.Dropdown(
            options=[(label, i) for i, label in enumerate(labels)], description="image"
        )
        self.method_select = widgets.Dropdown(options=list(methods), description="method")
        low, high = _log_grid(cutoff, self.max_cutoff)
        self.cutoff_slider = widgets.FloatLogSlider(
            value=cutoff,
            base=10,
            min=low,
            max=high,
            step=SLIDER_STEP,
            description="cutoff σ",
            readout_format=".3g",
        )
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
                _titled("image", self.image_view),
                _titled("raw map", self.raw_view),
                _titled("FORGrad map", self.filtered_view),
                self.spectrum_view,
            ]
        )
        actions = widgets.HBox(
            [self.scope_select, self.faithfulness_button, self.export_path, self.export_button, self.progress]
        )
        self.widget = widgets.VBox([controls, views, self.info, actions, self.faithfulness_view, self.status])
        self.widget.add_class("forgrad-explorer")

    # -- state

    @property
    def index(self) -> int:
        """Index of the image on display."""
        return int(self.image_select.value)

    @property
    def method(self) -> str:
        """Attribution method on display."""
        return str(self.method_select.value)

    @property
    def cutoff(self) -> float:
        """Cutoff on display, in cycles per image."""
        return float(self.cutoff_slider.value)

    @property
    def kind(self) -> str:
        """Low-pass filter on display."""
        return str(self.kind_select.value)

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
            self.status.value = _status_html(f"computing {self.method} for image {index} ...")
        maps = self._cache.get("model", self.model, self.images, self.targets, self.method, index)
        self._end_progress()
        return maps

    # -- updates

    def _select(self) -> None:
        """New image or method: attributions (cached), raw map and its spectrum, then the filtered views."""
        key = (self.method, self.index)
        if key not in self._raw:
            raw = _map_array(self._attributions(self.index), None, self.kind, self.order)
            self._raw[key] = (raw, *_spectrum(raw))
        self.raw_map, frequencies, power = self._raw[key]
        self._spectrum.set_raw(frequencies, power, color_for(self.method))
        self.image_view.value = _png(_enlarge(image_rgb(self.images[self.index])))
        self.faithfulness = {}
        self.faithfulness_view.layout.display = "none"
        self._recolour()
        self.status.value = _status_html(f"{self.method}, image {self.index}: ready")

    def _heatmap(self, values: np.ndarray) -> bytes:
        background = image_rgb(self.images[self.index])
        rgb = heatmap_rgb(
            values, self.cmap_select.value, self.clip_slider.value, background, self.opacity_slider.value
        )
        return _png(_enlarge(rgb))

    def _recolour(self) -> None:
        self.raw_view.value = self._heatmap(self.raw_map)
        self._refilter()

    def _refilter(self) -> None:
        """Cutoff or filter moved: filter the cached attributions, redraw the map and the spectrum (no model call)."""
        start = time.perf_counter()
        attributions = self.attributions
        self.filtered_map = _map_array(attributions, self.cutoff, self.kind, self.order)
        filtered_at = time.perf_counter()
        frequencies, power = _spectrum(self.filtered_map)
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
            maps = forgrad(attributions, self.cutoff, kind=self.kind, order=self.order)
            images, targets = self.images[chunk], self.targets[chunk]
            for name, metric in (("deletion", deletion), ("insertion", insertion)):
                parts[name].append(
                    metric(
                        self.model, images, maps, targets, batch_size=self.batch_size, **self.metric_options
                    )
                )
            self._step_progress()
        self._end_progress()
        self.faithfulness = {name: _concatenate(results) for name, results in parts.items()}
        self.faithfulness_view.value = _figure_png(self._faithfulness_figure())
        self.faithfulness_view.layout.display = None
        summary = ", ".join(f"{name} AUC {result.mean():.3f}" for name, result in self.faithfulness.items())
        self.status.value = _status_html(f"σ = {self.cutoff:.3g}, {len(indices)} image(s): {summary}")
        return self.faithfulness

    def _faithfulness_figure(self) -> Figure:
        figure = Figure(figsize=(7.0, 2.6), dpi=80)
        axes = figure.subplots(1, len(self.faithfulness), squeeze=False)[0]
        for ax, (name, result) in zip(axes, self.faithfulness.items(), strict=True):
            ax.plot(result.x, result.curves.T, color="0.75", lw=0.6)
            ax.plot(result.x, result.curves.mean(axis=0), color=color_for(self.method), lw=1.6)
            ax.set_title(f"{name}: AUC {result.mean():.3f} (σ = {self.cutoff:.3g})", fontsize=9)
            ax.set_xlabel("fraction of pixels")
            ax.set_ylabel("score")
        figure.subplots_adjust(left=0.11, right=0.98, bottom=0.2, top=0.86, wspace=0.35)
        return figure

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


def _concatenate(results: list[FaithfulnessResult]) -> FaithfulnessResult:
    """One result from results of disjoint chunks of images (same metric and protocol)."""
    first = results[0]
    curves = None if first.curves is None else np.concatenate([r.curves for r in results], axis=0)
    return FaithfulnessResult(
        metric=first.metric,
        scores=np.concatenate([r.scores for r in results]),
        higher_is_better=first.higher_is_better,
        params=first.params,
        curves=curves,
        x=first.x,
    )


# ----------------------------------------------------------------------------------------------- curves


def _sweeps_of(
    result: Any,
) -> tuple[dict[str, dict[str, CutoffSweep]], dict[str, dict[str, dict[str, np.ndarray]]]]:
    """(model -> method -> sweep, model -> black-box method -> metric -> scores) of a sweep or a comparison."""
    if isinstance(result, CutoffSweep):
        name = result.model_name or "model"
        return {name: {result.method: result}}, {name: dict(result.references)}
    if isinstance(result, ArchitectureComparison):
        references = {
            model: {
                **{m: dict(r) for s in by_method.values() for m, r in s.references.items()},
                **result.references.get(model, {}),
            }
            for model, by_method in result.sweeps.items()
        }
        return result.sweeps, references
    raise TypeError(
        f"sweep_or_comparison must be a CutoffSweep or an ArchitectureComparison; got {type(result).__name__}"
    )


def _check_models(models: Any, names: list[str]) -> dict[str, nn.Module]:
    """Model name -> module for every model of the sweeps (a lone module serves a lone model)."""
    if isinstance(models, nn.Module):
        if len(names) != 1:
            raise ValueError(f"models must map each model name {names} to a module; got a single module")
        return {names[0]: models}
    if not isinstance(models, Mapping):
        raise TypeError(
            f"models must be an nn.Module or a dict of name -> nn.Module; got {type(models).__name__}"
        )
    missing = [name for name in names if name not in models]
    if missing:
        raise ValueError(f"models lacks the model(s) {missing} of the sweeps")
    return {name: check_model(models[name], f"models[{name!r}]") for name in names}


class CutoffCurveExplorer(_Explorer):
    """Faithfulness versus cutoff, with bootstrap intervals and sigma*, and the maps at a chosen cutoff.

    Parameters
    ----------
    sweep_or_comparison : CutoffSweep or ArchitectureComparison
        The results to explore; a comparison offers a menu of models and methods.
    images : Tensor, optional
        The full image set the sweep ran on (the sweep's ``image_ids`` index it); with ``models`` the maps of
        the chosen image at the chosen cutoff are shown.
    models : nn.Module or dict of name -> nn.Module, optional
        The model(s) of the sweep(s), needed with ``images``.
    targets : None, int, sequence of ints or 1-D tensor, optional
        Classes explained (``None``: predicted), indexed like ``images``.
    metric, method, model_name : str, optional
        Initial choices (default: the first of each). A metric absent from the chosen sweep raises a
        ``ValueError``.
    level : float
        Coverage of the bootstrap intervals.
    n_boot : int
        Bootstrap resamples.
    seed : int
        Seed of the bootstrap and of the stochastic attribution methods.
    method_options : dict, optional
        ``{method: {option: value}}`` passed to :func:`forgrad_viz.explain`.
    cmap : str
        Colour map of the heatmaps.
    batch_size : int, optional
        Batch size of the attribution passes.
    export_path : str or Path
        Initial path (without suffix) of the export button.

    Examples
    --------
    >>> import numpy as np
    >>> from forgrad_viz.results import CutoffSweep
    >>> sweep = CutoffSweep("saliency", "ideal", np.array([2.0, 4.0, 8.0]), ("insertion",),
    ...                     {"insertion": np.array([[0.2, 0.3], [0.5, 0.6], [0.4, 0.4]])},
    ...                     {"insertion": np.array([0.1, 0.2])}, {"insertion": True}, np.array([0, 1]))
    >>> explorer = CutoffCurveExplorer(sweep)
    >>> explorer.curve_data["sigma_star"]
    4.0
    """

    def __init__(
        self,
        sweep_or_comparison: CutoffSweep | ArchitectureComparison,
        images: torch.Tensor | None = None,
        models: nn.Module | Mapping[str, nn.Module] | None = None,
        targets: Any = None,
        *,
        metric: str | None = None,
        method: str | None = None,
        model_name: str | None = None,
        level: float = 0.95,
        n_boot: int = 1000,
        seed: int = 0,
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        cmap: str = SEQUENTIAL_CMAP,
        batch_size: int | None = None,
        export_path: str | Path = "forgrad_curves",
    ) -> None:
        super().__init__(export_path)
        self.sweeps, self.references = _sweeps_of(sweep_or_comparison)
        names = list(self.sweeps)
        model_name = check_choice(names[0] if model_name is None else model_name, "model_name", names)
        methods = list(self.sweeps[model_name])
        method = check_choice(methods[0] if method is None else method, "method", methods)
        sweep = self.sweeps[model_name][method]
        metric = sweep.metrics[0] if metric is None else metric
        if metric not in sweep.metrics:
            raise ValueError(
                f"metric {metric!r} is not in the sweep of {model_name}/{method}; it holds {list(sweep.metrics)}"
            )
        self.level = check_finite_number(level, "level")
        self.n_boot = check_positive_int(n_boot, "n_boot")
        self.seed = seed
        check_choice(cmap, "cmap", CMAPS)
        self.cmap = cmap
        self._set_images(images, models, targets, batch_size)
        self._cache = _AttributionCache(_check_method_options(method_options), batch_size, seed)
        self.curve_data: dict[str, Any] = {}
        self.raw_map: np.ndarray | None = None
        self.filtered_map: np.ndarray | None = None
        self._quiet = False
        self._build(names, model_name, method, metric)
        self._guard(self._redraw)()
        if self.last_error is not None:
            raise self.last_error

    # -- construction

    def _set_images(self, images: Any, models: Any, targets: Any, batch_size: int | None) -> None:
        if (images is None) != (models is None):
            raise ValueError("images and models go together: pass both to see the maps, or neither")
        self.images = None if images is None else check_images(images)
        self.models = None if models is None else _check_models(models, list(self.sweeps))
        self._targets_arg, self._batch_size, self._targets = targets, batch_size, {}
        if self.images is None:
            return
        largest = max(
            int(s.image_ids.max()) for by_method in self.sweeps.values() for s in by_method.values()
        )
        if largest >= self.images.shape[0]:
            raise ValueError(
                f"images must hold the sweep's whole image set: image_ids go up to {largest} but images has "
                f"{self.images.shape[0]}"
            )

    def _build(self, names: list[str], model_name: str, method: str, metric: str) -> None:
        self.model_select = widgets.Dropdown(options=names, value=model_name, description="model")
        self.method_select = widgets.Dropdown(
            options=list(self.sweeps[model_name]), value=method, description="method"
        )
        metrics = list(
            dict.fromkeys(m for by in self.sweeps.values() for s in by.values() for m in s.metrics)
        )
        self.metric_select = widgets.Dropdown(options=metrics, value=metric, description="metric")
        self.cutoff_slider = widgets.SelectionSlider(options=[("1", 1.0)], description="cutoff σ")
        self.cutoff_slider.add_class("forgrad-cutoff")
        self.sigma_label = widgets.HTML("")
        self.sigma_button = widgets.Button(description="go to σ*")
        self.sigma_button.on_click(
            self._guard(lambda _b: setattr(self.cutoff_slider, "value", self.curve_data["sigma_star"]))
        )
        self.image_select = widgets.Dropdown(description="image", disabled=self.images is None)
        self._figure = Figure(figsize=CURVE_FIGSIZE, dpi=80)
        FigureCanvasAgg(self._figure)
        self.curve_view = widgets.Image(
            format="png", layout=widgets.Layout(width=f"{80 * CURVE_FIGSIZE[0]:.0f}px")
        )
        self.image_view = widgets.Image(format="png")
        self.raw_view = widgets.Image(format="png")
        self.filtered_view = widgets.Image(format="png")
        self.filtered_view.add_class("forgrad-filtered")
        self.model_select.observe(self._guard(lambda _c: self._on_model()), names="value")
        for control in (self.method_select, self.metric_select):
            control.observe(self._guard(lambda _c: self._redraw()), names="value")
        self.cutoff_slider.observe(self._guard(lambda _c: self._on_cutoff()), names="value")
        self.image_select.observe(self._guard(lambda _c: self._on_cutoff()), names="value")
        self._selected_line: Any = None
        maps = widgets.HBox(
            [
                _titled("image", self.image_view),
                _titled("raw map", self.raw_view),
                _titled("FORGrad map at σ", self.filtered_view),
            ]
        )
        maps.layout.display = None if self.images is not None else "none"
        controls = widgets.HBox(
            [
                widgets.VBox([self.model_select, self.method_select, self.metric_select]),
                widgets.VBox(
                    [
                        self.cutoff_slider,
                        widgets.HBox([self.sigma_button, self.sigma_label]),
                        self.image_select,
                    ]
                ),
            ]
        )
        actions = widgets.HBox([self.export_path, self.export_button, self.progress])
        self.widget = widgets.VBox([controls, self.curve_view, maps, actions, self.status])
        self.widget.add_class("forgrad-curves")

    # -- state

    @property
    def sweep(self) -> CutoffSweep:
        """The sweep of the chosen model and method."""
        return self.sweeps[self.model_select.value][self.method_select.value]

    @property
    def cutoff(self) -> float:
        """The chosen cutoff."""
        return float(self.cutoff_slider.value)

    # -- updates

    def _on_model(self) -> None:
        methods = list(self.sweeps[self.model_select.value])
        keep = self.method_select.value if self.method_select.value in methods else methods[0]
        self._quiet = True
        try:
            self.method_select.options = methods
            self.method_select.value = keep
        finally:
            self._quiet = False
        self._redraw()

    def _redraw(self) -> None:
        """New model, method or metric: curves, intervals and sigma* recomputed and drawn."""
        if self._quiet:
            return
        sweep, metric = self.sweep, self.metric_select.value
        if metric not in sweep.metrics:
            raise ValueError(
                f"metric {metric!r} is not in the sweep of {self.model_select.value}/{sweep.method}; "
                f"it holds {list(sweep.metrics)}"
            )
        low, high = sweep.confidence_interval(metric, level=self.level, n_boot=self.n_boot, seed=self.seed)
        best = sweep.best_cutoff(metric, level=self.level, n_boot=self.n_boot, seed=self.seed)
        references = {
            name: float(scores[metric].mean())
            for name, scores in self.references.get(self.model_select.value, {}).items()
            if metric in scores
        }
        self.curve_data = {
            "metric": metric,
            "cutoffs": sweep.cutoffs.copy(),
            "mean": sweep.mean(metric),
            "low": low,
            "high": high,
            "unfiltered": float(sweep.unfiltered[metric].mean()),
            "sigma_star": best.cutoff,
            "sigma_low": best.low,
            "sigma_high": best.high,
            "references": references,
            "selected": best.cutoff,
        }
        self.sigma_label.value = (
            f"σ* = {best.cutoff:.3g} [{best.low:.3g}, {best.high:.3g}] ({html.escape(metric)})"
        )
        self._quiet = True
        try:
            self.cutoff_slider.options = [(f"{c:.3g}", float(c)) for c in sweep.cutoffs]
            self.cutoff_slider.value = best.cutoff
            ids = sweep.image_ids.tolist()
            if list(self.image_select.options) != [(f"image {i}", i) for i in ids]:
                self.image_select.options = [(f"image {i}", i) for i in ids]
            if self.image_select.value not in ids:
                self.image_select.value = ids[0]
        finally:
            self._quiet = False
        self._figure.clear()
        self._selected_line = self._draw_curves(self._figure.add_subplot())
        self._figure.subplots_adjust(left=0.14, right=0.97, bottom=0.15, top=0.9)
        self._on_cutoff()

    def _draw_curves(self, ax: Any) -> Any:
        """Draw the current curves on ``ax``; returns the line of the selected cutoff."""
        data, colour = self.curve_data, color_for(self.method_select.value)
        ax.set_xscale("log")
        ax.fill_between(data["cutoffs"], data["low"], data["high"], color=colour, alpha=0.25, lw=0)
        ax.plot(
            data["cutoffs"],
            data["mean"],
            color=colour,
            marker="o",
            ms=3,
            label=f"FORGrad {self.method_select.value}",
        )
        ax.axhline(data["unfiltered"], color=colour, ls="--", lw=1.0, label="unfiltered")
        for name, value in data["references"].items():
            ax.axhline(value, color=color_for(name), ls=":", lw=1.2, label=name)
        ax.axvspan(data["sigma_low"], data["sigma_high"], color="0.85", zorder=0)
        ax.axvline(data["sigma_star"], color="0.3", ls="-.", lw=1.0, label=f"σ* = {data['sigma_star']:.3g}")
        line = ax.axvline(data["selected"], color="black", lw=1.2)
        ax.set_xlabel("cutoff σ (cycles per image)")
        ax.set_ylabel(f"{data['metric']} (mean, {100 * self.level:.0f}% CI)")
        ax.set_title(f"{self.model_select.value}: {data['metric']} vs cutoff", fontsize=10)
        ax.legend(fontsize=7, frameon=False)
        return line

    def _on_cutoff(self) -> None:
        """New cutoff or image: move the cutoff line, show the maps at that cutoff."""
        if self._quiet:
            return
        self.curve_data["selected"] = self.cutoff
        self._selected_line.set_xdata([self.cutoff, self.cutoff])
        self.curve_view.value = _figure_png(self._figure)
        if self.images is not None:
            self._show_maps()
        self.status.value = _status_html(f"σ = {self.cutoff:.3g}")

    def _show_maps(self) -> None:
        name, method, index = self.model_select.value, self.method_select.value, int(self.image_select.value)
        model = self.models[name]
        if name not in self._targets:
            self._targets[name] = resolve_targets(model, self.images, self._targets_arg, self._batch_size)
        if (name, method, index) not in self._cache.maps:
            self._start_progress(1, "explaining")
        attributions = self._cache.get(name, model, self.images, self._targets[name], method, index)
        self._end_progress()
        order = int(self.sweep.params.get("order", 2))
        self.raw_map = _map_array(attributions, None, self.sweep.kind, order)
        self.filtered_map = _map_array(attributions, self.cutoff, self.sweep.kind, order)
        self.image_view.value = _png(_enlarge(image_rgb(self.images[index])))
        self.raw_view.value = _png(_enlarge(heatmap_rgb(self.raw_map, self.cmap, 99.5)))
        self.filtered_view.value = _png(_enlarge(heatmap_rgb(self.filtered_map, self.cmap, 99.5)))

    # -- export

    def current_figure(self) -> Figure:
        """A Figure of the current view: the curves and, with images, the maps at the chosen cutoff."""
        with_maps = self.images is not None and self.filtered_map is not None
        figure = Figure(figsize=(12.0 if with_maps else 5.6, 3.4), layout="constrained")
        axes = figure.subplots(1, 4, width_ratios=(2, 1, 1, 1)) if with_maps else [figure.add_subplot()]
        self._draw_curves(axes[0])
        if with_maps:
            index = int(self.image_select.value)
            axes[1].imshow(image_rgb(self.images[index]))
            axes[1].set_title(f"image {index}")
            axes[2].imshow(self.raw_map, cmap=self.cmap)
            axes[2].set_title(f"{self.method_select.value}, raw")
            axes[3].imshow(self.filtered_map, cmap=self.cmap)
            axes[3].set_title(f"FORGrad, σ = {self.cutoff:.3g}")
            for ax in axes[1:]:
                ax.set_axis_off()
        return figure
