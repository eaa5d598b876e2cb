"""FORGrad against a black-box reference: the paired difference of FORGrad at held-out sigma* minus the reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forgrad_viz.results.paired import _check_metric, held_out, plain_record
from forgrad_viz.results.statistics import _bootstrap_weights, _check_level, _check_n_boot, _percentiles


@dataclass(frozen=True)
class ReferenceDifference:
    """FORGrad (held-out sigma*) minus a black-box reference on the same images, signed so that > 0 means FORGrad
    is better (for Deletion: the reference's area minus FORGrad's).

    Attributes
    ----------
    method, reference, metric : str
        The white-box method, the black-box reference and the metric.
    per_image : numpy.ndarray
        Signed difference per image, (N,).
    difference, low, high : float
        Its mean and percentile bootstrap interval over images (the same resamples as the held-out gain).
    forgrad, unfiltered, reference_score : float
        Mean scores of FORGrad at each image's held-out sigma*, of the unfiltered map and of the reference.
    level : float
        Coverage of the interval.
    n_images : int
        Number of images N.

    Examples
    --------
    >>> d = ReferenceDifference("saliency", "rise", "insertion", np.array([0.1, -0.3]), -0.1, -0.3, 0.1,
    ...                         0.5, 0.4, 0.6, 0.95, 2)
    >>> d.excludes_zero
    False
    """

    method: str
    reference: str
    metric: str
    per_image: np.ndarray
    difference: float
    low: float
    high: float
    forgrad: float
    unfiltered: float
    reference_score: float
    level: float
    n_images: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above or entirely below zero."""
        return bool(self.low > 0.0 or self.high < 0.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of plain values."""
        casts: dict[str, Any] = dict.fromkeys(
            ("difference", "low", "high", "forgrad", "unfiltered", "reference_score", "level"), float
        )
        casts.update(method=str, reference=str, per_image=lambda v: [float(x) for x in v], n_images=int)
        return {**plain_record(self, "ReferenceDifference", casts), "excludes_zero": self.excludes_zero}


def versus_reference(
    sweep: Any,
    metric: str,
    reference: str,
    folds: int = 5,
    seed: int = 0,
    level: float = 0.95,
    n_boot: int = 1000,
) -> ReferenceDifference:
    """Paired difference of FORGrad at the held-out sigma* and a black-box reference scored on the same images.

    Each image's FORGrad score is its score at the sigma* chosen on the other folds
    (:meth:`CutoffSweep.held_out`, the same ``folds`` and ``seed``), so sigma* is never chosen on the image it
    scores; the reference's per-image scores come from ``sweep.references``.

    Parameters
    ----------
    sweep : CutoffSweep
        A sweep whose ``references`` hold ``reference``'s per-image scores for ``metric``.
    metric : str
        One of ``sweep.metrics``.
    reference : str
        A black-box reference of the sweep (e.g. ``"rise"``).
    folds, seed, level, n_boot
        As in :meth:`CutoffSweep.held_out`.

    Returns
    -------
    ReferenceDifference

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> scores = np.array([[0.6, 0.7, 0.8, 0.7], [0.5, 0.6, 0.6, 0.5]])
    >>> sweep = CutoffSweep("saliency", "ideal", [2.0, 8.0], ("insertion",), {"insertion": scores},
    ...                     {"insertion": np.full(4, 0.5)}, {"insertion": True}, np.arange(4),
    ...                     references={"rise": {"insertion": np.full(4, 0.65)}})
    >>> round(versus_reference(sweep, "insertion", "rise", folds=2).difference, 3)
    0.05
    """
    metric = _check_metric(sweep, metric)
    if reference not in sweep.references or metric not in sweep.references[reference]:
        raise ValueError(
            f"reference {reference!r} has no {metric} scores in this sweep; it holds {sorted(sweep.references)}"
        )
    level = _check_level(level)
    _check_n_boot(n_boot)
    held = held_out(sweep, metric, folds=folds, seed=seed, level=level, n_boot=n_boot)
    sign = 1.0 if sweep.higher_is_better[metric] else -1.0
    unfiltered = np.asarray(sweep.unfiltered[metric], dtype=np.float64)
    reference_scores = np.asarray(sweep.references[reference][metric], dtype=np.float64)
    forgrad = unfiltered + sign * held.per_image
    per_image = sign * (forgrad - reference_scores)
    means = _bootstrap_weights(per_image.shape[0], n_boot, seed) @ per_image
    low, high = _percentiles(means, level)
    return ReferenceDifference(
        method=sweep.method,
        reference=reference,
        metric=metric,
        per_image=per_image,
        difference=float(per_image.mean()),
        low=float(low),
        high=float(high),
        forgrad=float(forgrad.mean()),
        unfiltered=float(unfiltered.mean()),
        reference_score=float(reference_scores.mean()),
        level=level,
        n_images=int(per_image.shape[0]),
    )
