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

Modules
-------
forgrad_explorer
    :class:`ForgradExplorer` (the cutoff slider, maps, spectra and faithfulness on request).
curve_explorer
    :class:`CutoffCurveExplorer` (faithfulness versus cutoff, sigma*, the maps at a chosen cutoff).
base
    What both explorers share: status line, export row, progress bar, error capture, notebook display.
checks
    Checks of the explorers' arguments (methods, method options, image names, models).
maps
    The cached attributions, their raw and FORGrad maps and the maps' radial spectra.
faithfulness
    Deletion and Insertion of one chunk of images, merging chunks, the figure of the curves.
spectrum_plot
    The spectrum plot of :class:`ForgradExplorer`, redrawn by blitting.
rendering
    Images and colour-mapped heatmaps as PNG bytes for ``ipywidgets.Image``.
sweep_browser
    :class:`SweepBrowser` (a saved sweep's images by held-out gain; maps and curves of the best and worst).
browser_data
    The browser's ranking and its maps and curves, computed once at construction.
"""

from __future__ import annotations

from forgrad_viz.widgets.aliasing_explorer import AliasingExplorer
from forgrad_viz.widgets.curve_explorer import CURVE_FIGSIZE as CURVE_FIGSIZE
from forgrad_viz.widgets.curve_explorer import CutoffCurveExplorer
from forgrad_viz.widgets.forgrad_explorer import DEFAULT_METHODS as DEFAULT_METHODS
from forgrad_viz.widgets.forgrad_explorer import MIN_CUTOFF as MIN_CUTOFF
from forgrad_viz.widgets.forgrad_explorer import SLIDER_STEP as SLIDER_STEP
from forgrad_viz.widgets.forgrad_explorer import ForgradExplorer
from forgrad_viz.widgets.rendering import CMAPS as CMAPS
from forgrad_viz.widgets.rendering import DISPLAY_PX as DISPLAY_PX
from forgrad_viz.widgets.rendering import heatmap_rgb as heatmap_rgb
from forgrad_viz.widgets.rendering import image_rgb as image_rgb
from forgrad_viz.widgets.sweep_browser import SweepBrowser

# the explorers are the public API; the constants and colour helpers above stay importable from here as well
__all__ = ["AliasingExplorer", "CutoffCurveExplorer", "ForgradExplorer", "SweepBrowser"]
