"""What a sigma* at an end of the cutoff grid means: a near-constant map, the unfiltered map, or a grid too short.

At the smallest cutoff of a grid that starts at 1 cycle per image or below, the best map is (almost) a constant
blob: below 1 cycle per image an ideal filter keeps only the mean, so a lower cutoff cannot help. An ideal filter
with a cutoff between 1 and sqrt(2) cycles per image keeps the same frequencies as one of exactly 1 (no frequency
of a whole number of cycles lies between), so it counts as 1: a cutoff given as a fraction of Nyquist (0.00893 x
112 = 1.00016 at 224 px) is not mistaken for a grid to extend. At a largest
ideal cutoff that removes nothing (:func:`~forgrad_viz.filters.max_cutoff` of the sweep's image size), the best
map is the unfiltered one: the filter does not help on that metric. Anywhere else, the optimum may lie beyond
the grid: extend it.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["EDGE_LEGEND", "EDGE_NOTES", "edge_message", "grid_edge"]

#: Relative tolerance of the comparisons of a cutoff with 1 cycle per image and with the largest radius.
_TOLERANCE = 1e-9

#: Short note of a table row per kind of edge (:func:`grid_edge`).
EDGE_NOTES: dict[str, str] = {
    "mean": "σ* ≤ 1 cycle: near-constant map",
    "unfiltered": "σ* = unfiltered: filtering does not help",
    "grid": "σ* at grid edge: extend the grid",
}

#: One sentence per note, for the legend of a table.
EDGE_LEGEND = (
    f"{EDGE_NOTES['mean']}: sigma* is the smallest cutoff, at most 1 cycle per image, an almost constant map "
    "(below 1 cycle per image only the mean survives): a lower cutoff cannot help. "
    f"{EDGE_NOTES['unfiltered']}: sigma* is the largest cutoff, which removes nothing. "
    f"{EDGE_NOTES['grid']}: the optimum may lie beyond the grid."
)


def grid_edge(sweep: Any, index: int) -> str:
    """The kind of edge that the cutoff ``sweep.cutoffs[index]`` stands at, as a key of :data:`EDGE_NOTES`.

    Parameters
    ----------
    sweep : CutoffSweep
        The sweep (``cutoffs``, ``kind`` and, for the largest cutoff, ``image_size``).
    index : int
        Position of sigma* in ``sweep.cutoffs``.

    Returns
    -------
    str
        ``""`` inside the grid (or for a grid of one cutoff); ``"mean"`` at the smallest cutoff when it is at
        most 1 cycle per image (an ideal filter: below sqrt(2), the same filter as at 1); ``"unfiltered"`` at the largest cutoff of an ideal filter when it removes
        nothing (at least :func:`~forgrad_viz.filters.max_cutoff` of ``sweep.image_size`` and of the sweep's
        ``params["padding"]``); ``"grid"`` at
        either end otherwise (a smooth filter always removes something; an unknown image size says nothing).

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 4.0, 45.26], ("insertion",), {"insertion": [[0.1]] * 3},
    ...                     {"insertion": [0.1]}, {"insertion": True}, [0], params={"image_size": [64, 64]})
    >>> [grid_edge(sweep, i) for i in range(3)]
    ['mean', '', 'unfiltered']
    """
    cutoffs = sweep.cutoffs
    last = len(cutoffs) - 1
    if last < 1 or 0 < index < last:
        return ""
    cutoff = float(cutoffs[index])
    if index == 0:
        lowest = (
            cutoff < math.sqrt(2.0) * (1.0 - _TOLERANCE)
            if sweep.kind == "ideal"
            else cutoff <= 1.0 + _TOLERANCE
        )
        return "mean" if lowest else "grid"
    size = getattr(sweep, "image_size", None)
    if sweep.kind != "ideal" or size is None:
        return "grid"
    # imported here, not at the top: the results import without torch
    from forgrad_viz.filters import max_cutoff

    padding = getattr(sweep, "params", {}).get("padding")  # a padded map has higher frequencies on odd sizes
    return "unfiltered" if cutoff >= max_cutoff(*size, padding=padding) * (1.0 - _TOLERANCE) else "grid"


def edge_message(sweep: Any, metric: str, index: int) -> str:
    """The warning for a sigma* at ``sweep.cutoffs[index]``, saying what its edge means ("" inside the grid).

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 4.0], ("insertion",), {"insertion": [[0.2], [0.1]]},
    ...                     {"insertion": [0.1]}, {"insertion": True}, [0])
    >>> edge_message(sweep, "insertion", 0).split(": ", 1)[1][:60]
    'sigma* = 1 is the smallest cutoff, at most 1 cycle per image'
    """
    edge = grid_edge(sweep, index)
    if not edge:
        return ""
    cutoff = float(sweep.cutoffs[index])
    label = f"{getattr(sweep, 'model_name', '') or 'the model'}, {sweep.method}, {metric}"
    if edge == "mean":
        return (
            f"{label}: sigma* = {cutoff:.3g} is the smallest cutoff, at most 1 cycle per image: the best map is "
            "an almost constant blob (below 1 cycle per image only the mean survives), a lower cutoff cannot help"
        )
    if edge == "unfiltered":
        return (
            f"{label}: sigma* = {cutoff:.3g} is the largest cutoff, which removes nothing (the unfiltered map): "
            f"the filter does not help on {metric}"
        )
    end = "smallest" if index == 0 else "largest"
    return (
        f"{label}: sigma* = {cutoff:.3g} is the {end} cutoff of the grid; the optimum may lie beyond it: "
        "extend the grid"
    )
