"""Do two models' sigma* differ? The bootstrap of log2(sigma*_a / sigma*_b) over the same image resamples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forgrad_viz.results.paired import _argbest, _check_metric, paired_gains, plain_record
from forgrad_viz.results.statistics import _bootstrap_weights, _check_level, _check_n_boot, _percentiles

__all__ = ["CutoffComparison", "compare_best_cutoffs"]


@dataclass(frozen=True)
class CutoffComparison:
    """Whether the best cutoffs sigma* of two sweeps over the same images differ.

    Attributes
    ----------
    metric : str
        The faithfulness metric whose paired gains choose each sigma*.
    cutoff_a, cutoff_b : float
        In-sample sigma* of each sweep (largest mean paired gain; ties go to the smallest cutoff).
    ratio : float
        ``cutoff_a / cutoff_b``.
    low, high, level : float
        Percentile bootstrap interval of the ratio (``2 **`` the percentiles of ``log2(sigma*_a / sigma*_b)``
        over resamples of the images, the same resamples for both sweeps) and its coverage.
    n_images : int
        Number of images N.
    name_a, name_b : str
        ``model_name`` of each sweep.

    Examples
    --------
    >>> comparison = CutoffComparison("insertion", 4.0, 16.0, 0.25, 0.125, 0.5, 0.95, 64, "a", "b")
    >>> comparison.differs
    True
    """

    metric: str
    cutoff_a: float
    cutoff_b: float
    ratio: float
    low: float
    high: float
    level: float
    n_images: int
    name_a: str = ""
    name_b: str = ""

    @property
    def differs(self) -> bool:
        """Whether the interval of the ratio excludes 1."""
        return bool(self.low > 1.0 or self.high < 1.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of plain floats, ints and strings."""
        casts = {"name_a": str, "name_b": str}
        casts.update(
            dict.fromkeys(("cutoff_a", "cutoff_b", "ratio", "low", "high", "level"), float), n_images=int
        )
        return {**plain_record(self, "CutoffComparison", casts), "differs": self.differs}


def _positive_cutoffs(sweep: Any, name: str) -> np.ndarray:
    cutoffs = np.asarray(sweep.cutoffs, dtype=np.float64).reshape(-1)
    if not np.all(cutoffs > 0):
        raise ValueError(f"{name}.cutoffs must all be positive to form a ratio; got {cutoffs.tolist()}")
    return cutoffs


def compare_best_cutoffs(
    sweep_a: Any, sweep_b: Any, metric: str, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> CutoffComparison:
    """Compare the best cutoffs sigma* of two sweeps (e.g. two architectures) over the same images.

    sigma* of each sweep maximises its mean paired gain over the unfiltered map (ties: smallest cutoff). The
    images are resampled ``n_boot`` times, the same resamples for both sweeps; on each resample both sigma*
    are recomputed, and the interval is the central ``level`` percentiles of ``log2(sigma*_a / sigma*_b)``
    (nearest attained values), mapped back with ``2 **``. The two sweeps may use different cutoff grids.

    Parameters
    ----------
    sweep_a, sweep_b : CutoffSweep
        Sweeps over the same set of ``image_ids`` (in any order: ``sweep_b`` is aligned to ``sweep_a``).
    metric : str
        A metric of both sweeps.
    level, n_boot
        As in :func:`~forgrad_viz.results.paired.held_out`.
    seed : int
        Seed of the resampling.

    Returns
    -------
    CutoffComparison
        sigma* of each sweep, their ratio and its interval.

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> def make(peak, name):
    ...     cutoffs = np.array([2.0, 4.0, 8.0, 16.0])
    ...     scores = 0.5 - 0.1 * np.abs(np.log2(cutoffs / peak))[:, None] + np.zeros((1, 30))
    ...     scores = scores + 0.01 * np.random.default_rng(1).standard_normal(scores.shape)
    ...     return CutoffSweep("saliency", "ideal", cutoffs, ("insertion",), {"insertion": scores},
    ...                        {"insertion": np.full(30, 0.4)}, {"insertion": True}, np.arange(30), name)
    >>> comparison = compare_best_cutoffs(make(4.0, "a"), make(16.0, "b"), "insertion", n_boot=200)
    >>> comparison.ratio, comparison.differs
    (0.25, True)
    """
    _check_metric(sweep_a, metric, "sweep_a")
    _check_metric(sweep_b, metric, "sweep_b")
    level = _check_level(level)
    _check_n_boot(n_boot)
    ids_a = np.asarray(sweep_a.image_ids).reshape(-1)
    ids_b = np.asarray(sweep_b.image_ids).reshape(-1)
    for ids, name in ((ids_a, "sweep_a"), (ids_b, "sweep_b")):
        if np.unique(ids).shape[0] != ids.shape[0]:
            raise ValueError(f"{name}.image_ids must be distinct to pair images")
    if ids_a.shape != ids_b.shape or not np.array_equal(np.sort(ids_a), np.sort(ids_b)):
        only_a = np.setdiff1d(ids_a, ids_b)
        only_b = np.setdiff1d(ids_b, ids_a)
        raise ValueError(
            "sweep_a and sweep_b must hold the same images (image_ids); "
            f"{only_a.shape[0]} only in sweep_a (e.g. {only_a[:5].tolist()}), "
            f"{only_b.shape[0]} only in sweep_b (e.g. {only_b[:5].tolist()})"
        )
    cutoffs_a = _positive_cutoffs(sweep_a, "sweep_a")
    cutoffs_b = _positive_cutoffs(sweep_b, "sweep_b")

    gains_a = paired_gains(sweep_a, metric)
    gains_b = paired_gains(sweep_b, metric)
    if not np.array_equal(ids_a, ids_b):  # align sweep_b's images to sweep_a's order
        order_b = np.argsort(ids_b, kind="stable")
        gains_b = gains_b[:, order_b[np.searchsorted(ids_b[order_b], ids_a)]]
    n_images = int(ids_a.shape[0])

    best_a = float(cutoffs_a[_argbest(gains_a.mean(axis=1)[:, None])[0]])
    best_b = float(cutoffs_b[_argbest(gains_b.mean(axis=1)[:, None])[0]])

    weights = _bootstrap_weights(n_images, n_boot, seed).T  # (N, n_boot), one matrix for both sweeps
    boot_a = cutoffs_a[_argbest(gains_a @ weights)]  # (n_boot,)
    boot_b = cutoffs_b[_argbest(gains_b @ weights)]
    low, high = _percentiles(np.log2(boot_a / boot_b), level, method="nearest")
    return CutoffComparison(
        metric=metric,
        cutoff_a=best_a,
        cutoff_b=best_b,
        ratio=best_a / best_b,
        low=float(2.0**low),
        high=float(2.0**high),
        level=level,
        n_images=n_images,
        name_a=str(getattr(sweep_a, "model_name", "")),
        name_b=str(getattr(sweep_b, "model_name", "")),
    )
