"""Do two models' sigma* differ? The bootstrap of log2(sigma*_a / sigma*_b) over the same image resamples.

sigma* is compared as a fraction of the Nyquist frequency of each sweep's maps (the unit that transfers across
input resolutions: 15 cycles per image at 224 px is the same fraction as 16.07 at 240 px) when both sweeps record
their image size (``params["image_size"]``), else in cycles per image; the result names its unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgrad_viz.results.paired import _argbest, _check_metric, paired_gains, plain_record
from forgrad_viz.results.statistics import _bootstrap_weights, _check_level, _check_n_boot, _percentiles

__all__ = ["CYCLES", "NYQUIST", "CutoffComparison", "compare_best_cutoffs"]

#: Unit of a comparison of sweeps that both record their image size: the fraction of Nyquist of the shorter side.
NYQUIST = "fraction of Nyquist"
#: Unit of a comparison of sweeps whose image sizes are not both known: cycles per image.
CYCLES = "cycles per image"


#: Relative error of a ratio of cutoffs below which it counts as 1 (float rounding of Nyquist conversions).
_ROUNDING = 1e-9


@dataclass(frozen=True)
class CutoffComparison:
    """Whether the best cutoffs sigma* of two sweeps over the same images differ.

    Attributes
    ----------
    metric : str
        The faithfulness metric whose paired gains choose each sigma*.
    cutoff_a, cutoff_b : float
        In-sample sigma* of each sweep in cycles per image (largest mean paired gain; ties go to the smallest
        cutoff).
    ratio : float
        sigma*_a / sigma*_b in ``unit``: ``nyquist_a / nyquist_b`` in fractions of Nyquist, else
        ``cutoff_a / cutoff_b``.
    low, high, level : float
        Percentile bootstrap interval of the ratio (``2 **`` the percentiles of ``log2(sigma*_a / sigma*_b)``
        over resamples of the images, the same resamples for both sweeps) and its coverage.
    n_images : int
        Number of images N.
    name_a, name_b : str
        ``model_name`` of each sweep.
    unit : str
        The unit that the ratio compares sigma* in: :data:`NYQUIST` (``"fraction of Nyquist"``) when both
        sweeps record their image size, else :data:`CYCLES` (``"cycles per image"``, which compares maps of
        different sizes at different physical frequencies).
    nyquist_a, nyquist_b : float or None
        sigma* of each sweep as a fraction of the Nyquist frequency of its maps' shorter side; None when that
        sweep's image size is unknown.

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
    unit: str = CYCLES
    nyquist_a: float | None = None
    nyquist_b: float | None = None

    @property
    def differs(self) -> bool:
        """Whether the interval of the ratio excludes 1 (by more than rounding: the same fraction of Nyquist at two
        resolutions, e.g. 16.016 cycles at 224 px and 17.16 at 240 px, gives a ratio of 1 - 2e-16)."""
        return bool(self.low > 1.0 + _ROUNDING or self.high < 1.0 - _ROUNDING)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of plain floats, ints and strings."""
        casts = {"name_a": str, "name_b": str, "unit": str}
        casts.update(dict.fromkeys(("cutoff_a", "cutoff_b", "ratio", "low", "high", "level"), float))
        casts.update(dict.fromkeys(("nyquist_a", "nyquist_b"), _float_or_none), n_images=int)
        return {**plain_record(self, "CutoffComparison", casts), "differs": self.differs}


def _positive_cutoffs(sweep: Any, name: str) -> np.ndarray:
    cutoffs = np.asarray(sweep.cutoffs, dtype=np.float64).reshape(-1)
    if not np.all(cutoffs > 0):
        raise ValueError(f"{name}.cutoffs must all be positive to form a ratio; got {cutoffs.tolist()}")
    return cutoffs


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def _image_size(sweep: Any) -> tuple[int, int] | None:
    """The sweep's ``image_size`` (None when unknown or when the object has none)."""
    return getattr(sweep, "image_size", None)


def _nyquist_scale(size: tuple[int, int] | None) -> float:
    """Fractions of Nyquist per cycle per image of maps of ``size`` (``1 / (min(H, W) / 2)``); NaN if unknown."""
    if size is None:
        return math.nan
    # imported here, not at the top: the results import without torch
    from forgrad_viz.filters import cutoff_to_nyquist

    return float(cutoff_to_nyquist(1.0, *size))


def compare_best_cutoffs(
    sweep_a: Any, sweep_b: Any, metric: str, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> CutoffComparison:
    """Compare the best cutoffs sigma* of two sweeps (e.g. two architectures) over the same images.

    sigma* of each sweep maximises its mean paired gain over the unfiltered map (ties: smallest cutoff). The
    images are resampled ``n_boot`` times, the same resamples for both sweeps; on each resample both sigma*
    are recomputed, and the interval is the central ``level`` percentiles of ``log2(sigma*_a / sigma*_b)``
    (nearest attained values), mapped back with ``2 **``. The two sweeps may use different cutoff grids and
    different image sizes: sigma* is compared as a fraction of the Nyquist frequency of each sweep's maps when
    both record their size (``sweep.image_size``, from ``params["image_size"]``), else in cycles per image
    (``unit`` says which).

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
        sigma* of each sweep, their ratio in ``unit`` and its interval.

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
    >>> comparison.ratio, comparison.differs, comparison.unit
    (0.25, True, 'cycles per image')
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
    scale_a, scale_b = _nyquist_scale(_image_size(sweep_a)), _nyquist_scale(_image_size(sweep_b))
    in_nyquist = not (math.isnan(scale_a) or math.isnan(scale_b))
    # sigma*_a / sigma*_b in the unit compared: cycles per image times scale_a / scale_b in fractions of Nyquist
    factor = scale_a / scale_b if in_nyquist else 1.0

    weights = _bootstrap_weights(n_images, n_boot, seed).T  # (N, n_boot), one matrix for both sweeps
    boot_a = cutoffs_a[_argbest(gains_a @ weights)]  # (n_boot,)
    boot_b = cutoffs_b[_argbest(gains_b @ weights)]
    low, high = _percentiles(np.log2(factor * boot_a / boot_b), level, method="nearest")
    return CutoffComparison(
        metric=metric,
        cutoff_a=best_a,
        cutoff_b=best_b,
        ratio=factor * best_a / best_b,
        low=float(2.0**low),
        high=float(2.0**high),
        level=level,
        n_images=n_images,
        name_a=str(getattr(sweep_a, "model_name", "")),
        name_b=str(getattr(sweep_b, "model_name", "")),
        unit=NYQUIST if in_nyquist else CYCLES,
        nyquist_a=None if math.isnan(scale_a) else best_a * scale_a,
        nyquist_b=None if math.isnan(scale_b) else best_b * scale_b,
    )
