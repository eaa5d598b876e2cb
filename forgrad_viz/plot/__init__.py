"""Figures: heatmaps, raw versus filtered maps, power spectra, cutoff curves, faithfulness curves, comparisons.

Every function returns a :class:`matplotlib.figure.Figure` made with the object-oriented API (no pyplot state,
nothing shown), and takes an optional ``ax`` to draw into an existing figure instead (then the figure of ``ax`` is
returned). Figure widths follow ``matplotlib.rcParams["figure.figsize"]``, so figures made inside
:func:`forgrad_viz.export.paper_style` fit the venue's column. Colours are fixed per method and per model
(:mod:`forgrad_viz.palette`) and colour-blind-safe. Maps are drawn with colour limits taken from percentiles of
their values (see :mod:`forgrad_viz.plot.maps`).

Modules
-------
maps
    :func:`heatmap` (one map, optionally over the image), :func:`before_after` (raw versus FORGrad-filtered maps
    per image and cutoff), :func:`raw_map`, the colour limits :func:`color_limits` and :func:`map_limits`, and :func:`is_constant`.
power_spectra
    :func:`spectrum`: radially averaged power spectra, raw and filtered, on log-log axes.
cutoffs
    :func:`cutoff_curves`: faithfulness versus cutoff of :class:`~forgrad_viz.results.CutoffSweep` results, with
    sigma* and the black-box references.
faithfulness
    :func:`faithfulness_curves`: Deletion/Insertion score versus fraction of pixels perturbed.
comparison
    :func:`architecture_comparison`: sigma* and the gain at sigma* per architecture.
cost
    :func:`faithfulness_cost`: faithfulness against seconds per image of raw, FORGrad and black-box maps.
_figure, _labels, _inputs
    Shared helpers: new figures and the caller's axes, log axes and legends; metric names (:data:`METRIC_LABELS`)
    and set colours; input checks.
"""

from __future__ import annotations

from forgrad_viz.plot._labels import METRIC_LABELS
from forgrad_viz.plot.aliasing import aliasing
from forgrad_viz.plot.comparison import architecture_comparison
from forgrad_viz.plot.cost import faithfulness_cost
from forgrad_viz.plot.cutoffs import cutoff_curves
from forgrad_viz.plot.faithfulness import faithfulness_curves
from forgrad_viz.plot.maps import before_after, color_limits, heatmap, is_constant, map_limits, raw_map
from forgrad_viz.plot.power_spectra import spectrum

__all__ = [
    "METRIC_LABELS",
    "aliasing",
    "architecture_comparison",
    "before_after",
    "color_limits",
    "cutoff_curves",
    "faithfulness_cost",
    "faithfulness_curves",
    "heatmap",
    "is_constant",
    "map_limits",
    "raw_map",
    "spectrum",
]
