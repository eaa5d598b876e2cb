"""Search strategies over the cutoff grid: ``"grid"`` scores every cutoff, ``"refine"`` a golden-section search.

Their names are :data:`~forgrad_viz.sweep.arguments.SEARCHES` (validated there, before any forward pass).
"""

from __future__ import annotations

import numpy as np

from forgrad_viz.results import HIGHER_IS_BETTER
from forgrad_viz.sweep.sweeper import MethodRun, Sweeper

_GOLDEN = 0.381966  # 2 - golden ratio: where a golden-section search places its next point


def run_search(sweeper: Sweeper, run: MethodRun, search: str) -> list[int]:
    """Run one method's search; the grid indices whose scores are known."""
    if search == "refine":
        return refine(sweeper, run)
    sweeper.run_round(run, sweeper.unique, True)
    return list(range(sweeper.cutoffs.shape[0]))


def next_point(best: int, evaluated: list[int], n: int) -> int | None:
    """The next grid index of a golden-section search around ``best``, or None once it is pinned to one step.

    Under a unimodal mean score, the optimum lies strictly between the evaluated neighbours of ``best`` (or the
    ends of the grid); the search stops when both gaps to them are at most 2 grid steps, so that the optimum is
    within one grid step of ``best``.
    """
    left = max((e for e in evaluated if e < best), default=-1)
    right = min((e for e in evaluated if e > best), default=n)
    gap_left, gap_right = best - left, right - best
    if max(gap_left, gap_right) <= 2:
        return None
    if gap_right > gap_left:
        return best + min(gap_right - 1, max(1, round(_GOLDEN * gap_right)))
    return best - min(gap_left - 1, max(1, round(_GOLDEN * gap_left)))


def refine(sweeper: Sweeper, run: MethodRun) -> list[int]:
    """Coarse-to-fine search of each metric's best cutoff; the grid indices whose scores are known.

    The search runs on the distinct filters of the grid (positions in ``sweeper.unique``): first the two
    golden-section points, then, each round, one golden-section point per metric around its current best
    (:func:`next_point`, the grid's ends included), until every metric's best is pinned within one grid step.
    """
    unique = sweeper.unique
    n = len(unique)
    metrics = sweeper.scorer.protocol.metrics
    evaluated: list[int] = []
    request = sorted({round(_GOLDEN * (n - 1)), round((1 - _GOLDEN) * (n - 1))})
    while request:
        sweeper.run_round(run, [unique[p] for p in request], not evaluated)
        evaluated = sorted(set(evaluated) | set(request))
        means = sweeper.means(run, [unique[p] for p in evaluated])
        proposals = set()
        for metric in metrics:
            sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
            best = evaluated[int(np.argmax(sign * means[metric]))]
            point = next_point(best, evaluated, n)
            if point is not None:
                proposals.add(point)
        request = sorted(proposals - set(evaluated))
    known = {unique[p] for p in evaluated}
    return [i for i, rep in enumerate(sweeper.representative) if rep in known]
