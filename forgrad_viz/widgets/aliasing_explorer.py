""":class:`AliasingExplorer`: the maps of a model and of its anti-aliased copy side by side, per downsampling layer.

The aliasing report (:func:`forgrad_viz.aliasing`) is computed once at construction; the anti-aliased copies are
built when a layer is first shown and each (image, layer) attribution is computed once and cached, so moving the
cutoff slider only re-filters cached maps: it never calls a model.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from forgrad_viz._utils import check_choice, check_finite_number, check_images, check_model, resolve_targets
from forgrad_viz.downsampling import AliasingReport, DownsamplingLayer, aliasing, antialias
from forgrad_viz.filters import KINDS, max_cutoff
from forgrad_viz.palette import SEQUENTIAL_CMAP
from forgrad_viz.widgets.base import ExplorerBase, control_value, status_html, titled
from forgrad_viz.widgets.checks import check_names
from forgrad_viz.widgets.forgrad_explorer import MIN_CUTOFF, _cutoff_slider, _image_select
from forgrad_viz.widgets.maps import AttributionCache, map_array
from forgrad_viz.widgets.rendering import CMAPS, enlarge, heatmap_rgb, image_rgb, png_bytes

__all__ = ["ALL_LAYERS", "AliasingExplorer"]

#: The entry of the layer menu that anti-aliases every downsampling layer at once.
ALL_LAYERS = "all"
#: The four maps on display, in order.
_VIEWS = ("original_raw", "original_forgrad", "antialiased_raw", "antialiased_forgrad")


class AliasingExplorer(ExplorerBase):
    """Maps of the original model and of a copy with one layer (or all) anti-aliased, with the report's numbers.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits; never modified (the anti-aliased models are deep copies).
    images : Tensor
        Images (N, C, H, W) in [0, 1], on the model's device.
    names : sequence of str, optional
        Labels of the images in the image menu.
    method : str
        Attribution method (as in :func:`forgrad_viz.aliasing`).
    targets : None, int, sequence of ints or 1-D tensor, optional
        Class explained per image; ``None`` uses the original model's predicted class.
    cutoff : float, optional
        Initial FORGrad cutoff of the slider (default: the report's high-frequency cutoff).
    report_cutoff : None, float or CutoffSweep
        ``cutoff`` of :func:`forgrad_viz.aliasing` (where high frequencies start for the report's numbers).
    kind : str
        Low-pass filter of the FORGrad maps.
    cmap : str
        Colour map of the heatmaps.
    batch_size : int, optional
        Batch size of the passes.
    seed : int
        Seed of stochastic methods.
    progress : bool
        Show the progress bar while the maps of a new image or layer are explained.
    export_path : str or Path
        Initial path (without suffix) of the export button.

    Examples
    --------
    >>> from forgrad_viz.models import build_demo_model
    >>> explorer = AliasingExplorer(build_demo_model("maxpool_cnn"), torch.rand(2, 3, 64, 64))
    >>> explorer.layer_select.value = "13"  # the copy with layer 13 anti-aliased; its maps are cached
    >>> explorer.cutoff_slider.value = 8.0  # re-filters cached maps: no model call
    >>> sorted(explorer.maps)
    ['antialiased_forgrad', 'antialiased_raw', 'original_forgrad', 'original_raw']
    """

    def __init__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        names: Sequence[str] | None = None,
        method: str = "saliency",
        *,
        targets: Any = None,
        cutoff: float | None = None,
        report_cutoff: Any = None,
        kind: str = "ideal",
        cmap: str = SEQUENTIAL_CMAP,
        batch_size: int | None = None,
        seed: int = 0,
        progress: bool = True,
        export_path: str | Path = "aliasing_view",
    ) -> None:
        super().__init__(export_path)
        self.model = check_model(model)
        self.images = check_images(images)
        labels = check_names(names, images.shape[0], "names")
        check_choice(kind, "kind", KINDS)
        check_choice(cmap, "cmap", CMAPS)
        self.show_progress = bool(progress)
        height, width = images.shape[-2:]
        self.max_cutoff = float(max_cutoff(height, width))
        if cutoff is not None:
            self._check_cutoff(check_finite_number(cutoff, "cutoff", positive=True))
        self.report: AliasingReport = aliasing(
            model, images, targets, method, report_cutoff, batch_size=batch_size, seed=seed
        )
        self.targets = resolve_targets(model, images, targets, batch_size)
        start = self._check_cutoff(self.report.cutoff if cutoff is None else float(cutoff))
        self.method = method
        self._cache = AttributionCache({}, batch_size, seed)
        self._copies: dict[str, nn.Module] = {}
        self.maps: dict[str, np.ndarray] = {view: np.zeros((height, width)) for view in _VIEWS}
        self._build(labels, start, kind, cmap)
        self._guard(self._select)()
        if self.last_error is not None:
            raise self.last_error

    # -- construction

    def _build(self, labels: list[str] | None, cutoff: float, kind: str, cmap: str) -> None:
        self.image_select = _image_select(labels, self.targets)
        rows = [*self.report.rows, self.report.all_layers]
        self.layer_select = widgets.Dropdown(
            options=[
                (f"{r.name} ({r.kind})" if r.name != ALL_LAYERS else "all layers", r.name) for r in rows
            ],
            description="layer",
        )
        self.cutoff_slider = _cutoff_slider(cutoff, self.max_cutoff)
        self.kind_select = widgets.Dropdown(options=list(KINDS), value=kind, description="filter")
        self.cmap_select = widgets.Dropdown(options=list(CMAPS), value=cmap, description="colours")
        self.clip_slider = widgets.FloatSlider(
            value=99.5, min=90.0, max=100.0, step=0.1, description="clip %"
        )
        self.image_select.observe(self._guard(lambda _c: self._select()), names="value")
        self.layer_select.observe(self._guard(lambda _c: self._select()), names="value")
        for control in (self.cutoff_slider, self.kind_select, self.cmap_select, self.clip_slider):
            control.observe(self._guard(lambda _c: self._refilter()), names="value")
        self.views = {view: widgets.Image(format="png") for view in ("image", *_VIEWS)}
        self.numbers_view = widgets.HTML("")
        controls = widgets.HBox(
            [
                widgets.VBox([self.image_select, self.layer_select]),
                widgets.VBox([self.cutoff_slider, self.kind_select]),
                widgets.VBox([self.cmap_select, self.clip_slider]),
            ]
        )
        grid = widgets.HBox(
            [
                titled("image", self.views["image"]),
                widgets.VBox(
                    [
                        titled("original, raw", self.views["original_raw"]),
                        titled("anti-aliased, raw", self.views["antialiased_raw"]),
                    ]
                ),
                widgets.VBox(
                    [
                        titled("original, FORGrad", self.views["original_forgrad"]),
                        titled("anti-aliased, FORGrad", self.views["antialiased_forgrad"]),
                    ]
                ),
            ]
        )
        actions = widgets.HBox([self.export_path, self.export_button, self.progress])
        self.widget = widgets.VBox([controls, grid, self.numbers_view, actions, self.status])
        self.widget.add_class("forgrad-aliasing-explorer")

    def _check_cutoff(self, cutoff: float) -> float:
        if not MIN_CUTOFF <= cutoff <= self.max_cutoff:
            raise ValueError(f"cutoff must lie in [{MIN_CUTOFF}, {self.max_cutoff:.4g}] for these images")
        return cutoff

    def _progress(self, total: int, description: str) -> None:
        if self.show_progress:
            self._start_progress(total, description)

    # -- state

    index = control_value("image_select", int, "Index of the image on display.")

    layer = control_value("layer_select", str, "Layer on display (a layer name, or :data:`ALL_LAYERS`).")

    @property
    def numbers(self) -> dict[str, float]:
        """The report's numbers for the layer on display, and the HF energy of this image's maps."""
        row = self.report.row(self.layer)
        return {
            "hf_energy": row.hf_energy,
            "hf_change": row.hf_change,
            "agreement": row.agreement,
            "prob_change": row.prob_change,
            "image_hf_original": float(self.report.hf_energy_images[self.index]),
            "image_hf_antialiased": float(row.hf_energy_images[self.index]),
        }

    def antialiased_model(self, layer: str) -> nn.Module:
        """The copy of the model with ``layer`` (or every layer, :data:`ALL_LAYERS`) anti-aliased; built once."""
        if layer not in self._copies:
            rows = self.report.rows if layer == ALL_LAYERS else [self.report.row(layer)]
            chosen = [
                DownsamplingLayer(r.name, r.kind, r.module_type, r.stride, r.in_size, r.out_size)
                for r in rows
            ]
            self._copies[layer] = antialias(self.model, chosen)
        return self._copies[layer]

    def _attributions(self, layer: str | None) -> torch.Tensor:
        """Cached attributions of the image on display: the original model (``layer=None``) or a copy."""
        key = "original" if layer is None else f"antialiased:{layer}"
        model = self.model if layer is None else self.antialiased_model(layer)
        return self._cache.get(key, model, self.images, self.targets, self.method, self.index)

    # -- updates

    def _select(self) -> None:
        """New image or layer: attributions (each computed once), then the maps."""
        missing = [
            k
            for k in ("original", f"antialiased:{self.layer}")
            if (k, self.method, self.index) not in self._cache.maps
        ]
        self._progress(len(missing), "explaining")
        self.status.value = status_html(
            f"{self.method}, image {self.index}, layer {self.layer}: computing ..."
        )
        for layer in (None, self.layer):
            self._attributions(layer)
            self._step_progress()
        self._end_progress()
        self.views["image"].value = png_bytes(enlarge(image_rgb(self.images[self.index])))
        self._refilter()
        self.status.value = status_html(f"{self.method}, image {self.index}, layer {self.layer}: ready")

    def _refilter(self) -> None:
        """Cutoff, filter or colours moved: filter the cached attributions and redraw (no model call)."""
        cutoff, kind = float(self.cutoff_slider.value), str(self.kind_select.value)
        for prefix, layer in (("original", None), ("antialiased", self.layer)):
            attributions = self._attributions(layer)
            self.maps[f"{prefix}_raw"] = map_array(attributions, None, kind, 2)
            self.maps[f"{prefix}_forgrad"] = map_array(attributions, cutoff, kind, 2)
        for stage in ("raw", "forgrad"):  # original and anti-aliased on one colour scale
            pair = np.concatenate([self.maps[f"original_{stage}"], self.maps[f"antialiased_{stage}"]], axis=1)
            rgb = heatmap_rgb(pair, self.cmap_select.value, self.clip_slider.value)
            half = rgb.shape[1] // 2
            self.views[f"original_{stage}"].value = png_bytes(enlarge(rgb[:, :half]))
            self.views[f"antialiased_{stage}"].value = png_bytes(enlarge(rgb[:, half:]))
        self.numbers_view.value = self._numbers_html()

    def _numbers_html(self) -> str:
        n = self.numbers
        what = "every downsampling layer" if self.layer == ALL_LAYERS else f"layer {self.layer}"
        return (
            f"{html.escape(what)} anti-aliased · HF energy above {self.report.cutoff:g} cycles/image: "
            f"{self.report.hf_energy:.3f} → {n['hf_energy']:.3f} ({n['hf_change']:+.3f}) over "
            f"{self.images.shape[0]} images; this image {n['image_hf_original']:.3f} → "
            f"{n['image_hf_antialiased']:.3f} · predicted class kept {n['agreement']:.0%} · "
            f"mean |Δp| {n['prob_change']:.3f}"
        )

    # -- export

    def current_figure(self) -> Figure:
        """A Figure of the current view: the image and the four maps."""
        figure = Figure(figsize=(12.5, 2.9), layout="constrained")
        axes = figure.subplots(1, 5)
        axes[0].imshow(image_rgb(self.images[self.index]))
        axes[0].set_title(f"image {self.index}")
        titles = ("original, raw", "original, FORGrad", "anti-aliased, raw", "anti-aliased, FORGrad")
        for ax, view, title in zip(axes[1:], _VIEWS, titles, strict=True):
            ax.imshow(self.maps[view], cmap=self.cmap_select.value)
            ax.set_title(title if "raw" in view else f"{title} σ = {self.cutoff_slider.value:.3g}")
        for ax in axes:
            ax.set_axis_off()
        figure.suptitle(
            f"{self.method}; {'all layers' if self.layer == ALL_LAYERS else 'layer ' + self.layer} anti-aliased"
        )
        return figure
