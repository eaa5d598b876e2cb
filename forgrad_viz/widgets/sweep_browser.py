""":class:`SweepBrowser`: where FORGrad helps and where it hurts, image by image, in a saved cutoff sweep.

The images of a :class:`~forgrad_viz.CutoffSweep` are ordered by their held-out gain (the paired gain of each image
at the sigma* chosen on the other folds, :meth:`~forgrad_viz.CutoffSweep.held_out`); for the best and the worst of
them the browser shows the image, its raw and FORGrad maps at that sigma*, and their Deletion and Insertion curves.
A sweep's JSON holds per-image AUCs but neither maps nor curves, so these are made once at construction
(:func:`~forgrad_viz.widgets.browser_data.browse_data`); browsing only recolours cached maps and redraws cached
curves: it never calls the model.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

from forgrad_viz._utils import check_choice
from forgrad_viz.palette import SEQUENTIAL_CMAP, color_for
from forgrad_viz.results import CutoffSweep
from forgrad_viz.widgets.base import ExplorerBase, control_value, status_html, titled
from forgrad_viz.widgets.browser_data import (
    CURVE_MODES,
    BrowsedImage,
    browse_data,
    open_sweep,
    rank_by_held_out_gain,
)
from forgrad_viz.widgets.rendering import CMAPS, enlarge, heatmap_rgb, image_rgb, png_bytes

__all__ = ["SweepBrowser"]

#: Colour of the FORGrad map's curves (the raw map's take the method's colour), as in ForgradExplorer.
FORGRAD_COLOR = "#D55E00"
#: Size in inches (at 80 dpi on screen) of the gain-and-curves plot.
BROWSER_FIGSIZE = (10.5, 2.8)


class SweepBrowser(ExplorerBase):
    """The images of a sweep ordered by held-out gain; the maps and curves of the best and the worst.

    Parameters
    ----------
    sweep : CutoffSweep, str or path
        The sweep, or the path of its JSON file (:meth:`~forgrad_viz.CutoffSweep.save`).
    images : Tensor or Dataset
        The image set the sweep ran on: ``sweep.image_ids`` are its rows. A tensor (N, C, H, W) in [0, 1] or a
        map-style Dataset of images or ``(image, target)`` pairs (e.g.
        :class:`~forgrad_viz.image_folder.ImageFolderDataset` with the model's transform); only the shown rows
        are read.
    model : nn.Module, optional
        The sweep's model: used at construction only, to explain the shown images and compute their curves.
        Without it, pass ``attributions`` (maps only, no curves).
    targets : None, int or sequence of ints, optional
        Classes explained, indexed like ``images``; ``None``: the Dataset's targets where it gives them (-1: the
        predicted class), else the predicted class, as in :func:`~forgrad_viz.sweep_cutoffs`.
    attributions : Tensor or dict, optional
        Precomputed attributions, (N, C, H, W) or (N, H, W) indexed like ``images``, or a dict image id -> map.
    metric : str, optional
        The metric whose held-out sigma* orders the images (default: ``"insertion"`` when the sweep has it, else
        its first metric).
    show : int or None
        How many of the best and of the worst images to show (all when None or ``2 * show >= N``).
    folds, seed, level, n_boot
        As in :meth:`~forgrad_viz.CutoffSweep.held_out`.
    method_options : dict, optional
        Options of :func:`~forgrad_viz.explain` (default: the sweep's ``params["method_options"]``).
    metric_options : dict, optional
        The curves' protocol: ``steps``, ``deletion_baseline``, ``insertion_baseline``, ``score`` (and
        ``precision``, ``backend``); default: the sweep's ``params``. A baseline the sweep saved only as a
        description (a tensor or a callable) must be passed here.
    cmap : str
        Colour map of the heatmaps.
    batch_size : int, optional
        Batch size of the passes made at construction.
    export_path : str or Path
        Initial path (without suffix) of the export button.

    Examples
    --------
    >>> import forgrad_viz as fv
    >>> model = fv.models.load_demo("maxpool_cnn")
    >>> images = fv.data.shapes_dataset(8, size=64).images
    >>> sweep = fv.sweep_cutoffs(model, images, cutoffs=[4.0, 8.0, 16.0], metrics=("insertion",),
    ...                          steps=4, progress=False)
    >>> browser = SweepBrowser(sweep, images, model, show=2)  # explains and scores the 4 shown images
    >>> browser.image_select.value = browser.shown_ids[-1]  # the worst: cached maps and curves, no model call
    >>> browser.filtered_map.shape
    (64, 64)
    >>> browser  # in a notebook, this displays the widget  # doctest: +SKIP
    """

    def __init__(
        self,
        sweep: CutoffSweep | str | os.PathLike,
        images: torch.Tensor | Any,
        model: nn.Module | None = None,
        targets: Any = None,
        *,
        attributions: torch.Tensor | Mapping[int, torch.Tensor] | None = None,
        metric: str | None = None,
        show: int | None = 16,
        folds: int = 2,
        seed: int = 0,
        level: float = 0.95,
        n_boot: int = 1000,
        method_options: Mapping[str, Any] | None = None,
        metric_options: Mapping[str, Any] | None = None,
        cmap: str = SEQUENTIAL_CMAP,
        batch_size: int | None = None,
        export_path: str | Path = "forgrad_browser",
    ) -> None:
        super().__init__(export_path)
        self.sweep = open_sweep(sweep)
        if metric is None:
            metric = "insertion" if "insertion" in self.sweep.metrics else self.sweep.metrics[0]
        self.metric = metric
        self.cmap = check_choice(cmap, "cmap", CMAPS)
        ranking = rank_by_held_out_gain(self.sweep, metric, show, folds, seed, level, n_boot)
        self.held_out = ranking.held_out
        self._order = ranking.order
        items = browse_data(
            self.sweep,
            ranking,
            images,
            model,
            targets,
            attributions,
            method_options,
            metric_options,
            batch_size,
        )
        self.shown: dict[int, BrowsedImage] = {item.image_id: item for item in items}
        self._position = {int(i): p for p, i in enumerate(self.sweep.image_ids)}
        self._pngs: dict[int, tuple[bytes, bytes, bytes]] = {}
        self._build()
        self._guard(self._select)()
        if self.last_error is not None:
            raise self.last_error

    # -- state

    image_id = control_value("image_select", int, "Id (row of the image set) of the image on display.")

    @property
    def ranked_ids(self) -> np.ndarray:
        """Every image id of the sweep, largest held-out gain first (ties in the sweep's order)."""
        return self.sweep.image_ids[self._order]

    @property
    def ranked_gains(self) -> np.ndarray:
        """The held-out gain of each image of :attr:`ranked_ids` (descending)."""
        return self.held_out.per_image[self._order]

    @property
    def shown_ids(self) -> list[int]:
        """Ids of the images the browser shows (the best, then the worst), in the order of the image menu."""
        return list(self.shown)

    @property
    def current(self) -> BrowsedImage:
        """The cached data of the image on display."""
        return self.shown[self.image_id]

    @property
    def raw_map(self) -> np.ndarray:
        """The unfiltered map (H, W) of the image on display."""
        return self.current.raw_map

    @property
    def filtered_map(self) -> np.ndarray:
        """The FORGrad map (H, W) of the image on display, at its held-out sigma*."""
        return self.current.filtered_map

    @property
    def curve_data(self) -> dict[str, dict[str, np.ndarray]]:
        """The curves on display: mode -> ``{"x", "raw", "forgrad"}`` (empty without a model)."""
        item = self.current
        return {mode: {"x": item.x, "raw": c[0], "forgrad": c[1]} for mode, c in item.curves.items()}

    # -- construction

    def _build(self) -> None:
        held, n = self.held_out, self.sweep.n_images
        self.image_select = widgets.Dropdown(
            options=[(self._label(item, n), item.image_id) for item in self.shown.values()],
            description="image",
            layout=widgets.Layout(width="420px"),
        )
        cutoffs = ", ".join(f"{c:.3g}" for c in held.fold_cutoffs)
        self.summary = widgets.HTML(
            f"<b>{html.escape(self.sweep.model_name or 'model')}</b>, {html.escape(self.sweep.method)}, "
            f"{html.escape(self.metric)}: held-out gain {held.gain:+.4f} "
            f"[{held.low:+.4f}, {held.high:+.4f}] ({100 * held.level:.0f}%, {n} images, {held.folds} folds; "
            f"σ* per fold {cutoffs}). Showing {len(self.shown)} of {n} images, best and worst."
        )
        self.image_view = widgets.Image(format="png")
        self.raw_view = widgets.Image(format="png")
        self.filtered_view = widgets.Image(format="png")
        self.filtered_view.add_class("forgrad-filtered")
        self.info = widgets.HTML("")
        self.info.add_class("forgrad-info")
        self._figure, self._artists = self._plot()
        self._background: Any = None
        self.curve_view = widgets.Image(
            format="png", layout=widgets.Layout(width=f"{80 * self._figure.get_figwidth():.0f}px")
        )
        self.image_select.observe(self._guard(lambda _c: self._select()), names="value")
        views = widgets.HBox(
            [
                titled("image", self.image_view),
                titled("raw map", self.raw_view),
                titled("FORGrad map at held-out σ*", self.filtered_view),
            ]
        )
        actions = widgets.HBox([self.export_path, self.export_button, self.progress])
        self.widget = widgets.VBox(
            [self.summary, self.image_select, views, self.info, self.curve_view, actions, self.status]
        )
        self.widget.add_class("forgrad-browser")

    @staticmethod
    def _label(item: BrowsedImage, n: int) -> str:
        return f"#{item.rank}/{n} · image {item.image_id} · gain {item.gain:+.4f} · σ* {item.sigma_star:.3g}"

    def _plot(self) -> tuple[Figure, dict[str, Any]]:
        """The figure, drawn once: held-out gain by rank, one panel per curve mode; per-image artists animated."""
        items = list(self.shown.values())
        with_curves = bool(items[0].curves)
        width = BROWSER_FIGSIZE[0] if with_curves else BROWSER_FIGSIZE[0] / 3 + 0.5
        figure = Figure(figsize=(width, BROWSER_FIGSIZE[1]), dpi=80)
        FigureCanvasAgg(figure)
        axes = figure.subplots(1, 3 if with_curves else 1, squeeze=False)[0]
        ranks = np.arange(1, self.sweep.n_images + 1)
        gains = self.ranked_gains
        shown = np.isin(self.ranked_ids, self.shown_ids)
        ax = axes[0]
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.plot(ranks, gains, color=color_for(self.sweep.method), lw=1.2)
        ax.plot(ranks[shown], gains[shown], ls="none", marker="o", ms=2.5, color="0.35")
        (selected,) = ax.plot(
            [], [], ls="none", marker="o", ms=7, mfc="none", mec=FORGRAD_COLOR, mew=2, animated=True
        )
        ax.set_xlabel("rank (largest gain first)")
        ax.set_ylabel(f"held-out gain ({self.metric})")
        ax.set_title("where FORGrad helps and hurts", fontsize=9)
        artists: dict[str, Any] = {"selected": selected}
        score = str(self.sweep.params.get("score", "probability"))
        for ax, mode in zip(axes[1:], CURVE_MODES, strict=False):
            (raw,) = ax.plot(
                [], [], color=color_for(self.sweep.method), lw=1.4, ls="--", label="raw", animated=True
            )
            (filtered,) = ax.plot([], [], color=FORGRAD_COLOR, lw=1.6, label="FORGrad at σ*", animated=True)
            title = ax.text(0.5, 1.03, "", transform=ax.transAxes, ha="center", fontsize=9, animated=True)
            values = np.concatenate([item.curves[mode].ravel() for item in items])
            low, high = (0.0, 1.0) if score == "probability" else (float(values.min()), float(values.max()))
            pad = 0.02 * max(high - low, 1e-12)
            ax.set_xlim(0.0, 1.0)
            ax.set_ylim(low - pad, high + pad)
            ax.set_xlabel("fraction of pixels")
            ax.set_ylabel(score)
            ax.legend(fontsize=7, frameon=False)
            artists[mode] = (raw, filtered, title)
        figure.subplots_adjust(left=0.07, right=0.98, bottom=0.18, top=0.88, wspace=0.32)
        return figure, artists

    # -- updates

    def _select(self) -> None:
        """New image: cached images, maps and curves redrawn (no model call)."""
        item = self.current
        if item.image_id not in self._pngs:
            background = enlarge(image_rgb(item.image))
            self._pngs[item.image_id] = (
                png_bytes(background),
                png_bytes(enlarge(heatmap_rgb(item.raw_map, self.cmap, 99.5))),
                png_bytes(enlarge(heatmap_rgb(item.filtered_map, self.cmap, 99.5))),
            )
        self.image_view.value, self.raw_view.value, self.filtered_view.value = self._pngs[item.image_id]
        self.curve_view.value = self._render(item)
        self.info.value = self._info(item)
        self.status.value = status_html(f"image {item.image_id}: rank {item.rank} of {self.sweep.n_images}")

    def _render(self, item: BrowsedImage) -> bytes:
        """The figure with ``item``'s marker, curves and AUCs, as PNG bytes: the static part is drawn once and
        restored (blitting), only the animated artists are drawn per image."""
        canvas = self._figure.canvas
        if self._background is None:
            canvas.draw()  # everything but the animated artists
            self._background = canvas.copy_from_bbox(self._figure.bbox)
        else:
            canvas.restore_region(self._background)
        animated = [self._artists["selected"]]
        self._artists["selected"].set_data([item.rank], [item.gain])
        aucs = item.auc()
        for mode in CURVE_MODES:
            if mode in self._artists:
                raw, filtered, title = self._artists[mode]
                raw.set_data(item.x, item.curves[mode][0])
                filtered.set_data(item.x, item.curves[mode][1])
                title.set_text(f"{mode}: AUC {aucs[mode][0]:.3f} raw, {aucs[mode][1]:.3f} FORGrad")
                animated += [raw, filtered, title]
        for artist in animated:
            artist.axes.draw_artist(artist)
        return png_bytes(np.asarray(canvas.buffer_rgba())[..., :3])

    def _info(self, item: BrowsedImage) -> str:
        """The image's numbers: held-out gain and sigma*, and the sweep's AUCs at that sigma* for every metric."""
        position = self._position[item.image_id]
        column = int(np.flatnonzero(self.sweep.cutoffs == item.sigma_star)[0])
        scores = ", ".join(
            f"{html.escape(m)} {self.sweep.unfiltered[m][position]:.3f} → {self.sweep.scores[m][column, position]:.3f}"
            for m in self.sweep.metrics
        )
        target = "" if item.target is None else f" · class {item.target}"
        return (
            f"image {item.image_id}{target} · rank {item.rank} of {self.sweep.n_images} · held-out gain "
            f"{item.gain:+.4f} at σ* = {item.sigma_star:.3g} · sweep scores, raw → FORGrad: {scores}"
        )

    # -- export

    def current_figure(self) -> Figure:
        """A Figure of the current view: image, raw map, FORGrad map and, with a model, the two curves."""
        item = self.current
        panels = 3 + len(item.curves)
        figure = Figure(figsize=(2.6 * panels, 2.9), layout="constrained")
        axes = figure.subplots(1, panels)
        axes[0].imshow(image_rgb(item.image))
        axes[0].set_title(f"image {item.image_id} (#{item.rank})", fontsize=9)
        axes[1].imshow(item.raw_map, cmap=self.cmap)
        axes[1].set_title(f"{self.sweep.method}, raw", fontsize=9)
        axes[2].imshow(item.filtered_map, cmap=self.cmap)
        axes[2].set_title(f"FORGrad, σ* = {item.sigma_star:.3g}", fontsize=9)
        for ax in axes[:3]:
            ax.set_axis_off()
        aucs = item.auc()
        for ax, (mode, curves) in zip(axes[3:], item.curves.items(), strict=True):
            ax.plot(item.x, curves[0], color=color_for(self.sweep.method), ls="--", label="raw")
            ax.plot(item.x, curves[1], color=FORGRAD_COLOR, label="FORGrad")
            ax.set_title(f"{mode}: AUC {aucs[mode][0]:.3f} → {aucs[mode][1]:.3f}", fontsize=9)
            ax.set_xlabel("fraction of pixels")
            ax.set_ylabel(str(self.sweep.params.get("score", "probability")))
            ax.legend(fontsize=7, frameon=False)
        return figure
