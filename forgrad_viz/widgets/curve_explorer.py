""":class:`CutoffCurveExplorer`: faithfulness versus cutoff of a :class:`~forgrad_viz.CutoffSweep` or an
:class:`~forgrad_viz.ArchitectureComparison`, with bootstrap intervals and sigma*, and the maps at a chosen cutoff.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

from forgrad_viz._utils import (
    check_choice,
    check_finite_number,
    check_images,
    check_positive_int,
    resolve_targets,
)
from forgrad_viz.palette import SEQUENTIAL_CMAP, color_for
from forgrad_viz.results import ArchitectureComparison, CutoffSweep
from forgrad_viz.widgets.base import ExplorerBase, control_value, status_html, titled
from forgrad_viz.widgets.checks import check_method_options, check_models
from forgrad_viz.widgets.maps import AttributionCache, map_array
from forgrad_viz.widgets.rendering import CMAPS, enlarge, figure_png, heatmap_rgb, image_rgb, png_bytes

__all__ = ["CURVE_FIGSIZE", "CutoffCurveExplorer"]

#: Size in inches (at 80 dpi on screen) of the cutoff-curve plot.
CURVE_FIGSIZE = (6.4, 3.6)


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


class CutoffCurveExplorer(ExplorerBase):
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
        self._cache = AttributionCache(check_method_options(method_options), batch_size, seed)
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
        self.models = None if models is None else check_models(models, list(self.sweeps))
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
                titled("image", self.image_view),
                titled("raw map", self.raw_view),
                titled("FORGrad map at σ", self.filtered_view),
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

    cutoff = control_value("cutoff_slider", float, "The chosen cutoff.")

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
        best = sweep.best_cutoff(
            metric, level=self.level, n_boot=self.n_boot, seed=self.seed, warn_at_edge=False
        )
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
        self.curve_view.value = figure_png(self._figure)
        if self.images is not None:
            self._show_maps()
        self.status.value = status_html(f"σ = {self.cutoff:.3g}")

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
        self.raw_map = map_array(attributions, None, self.sweep.kind, order)
        self.filtered_map = map_array(attributions, self.cutoff, self.sweep.kind, order)
        self.image_view.value = png_bytes(enlarge(image_rgb(self.images[index])))
        self.raw_view.value = png_bytes(enlarge(heatmap_rgb(self.raw_map, self.cmap, 99.5)))
        self.filtered_view.value = png_bytes(enlarge(heatmap_rgb(self.filtered_map, self.cmap, 99.5)))

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
