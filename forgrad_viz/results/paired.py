"""Paired statistics of a cutoff sweep: gain over the unfiltered map, held-out sigma*, and sigma* of two models.

Every function takes a sweep (duck-typed on the attributes of :class:`forgrad_viz.results.CutoffSweep`:
``cutoffs`` (S,) ascending, ``metrics``, ``scores[metric]`` (S, N), ``unfiltered[metric]`` (N,),
``higher_is_better[metric]``, ``image_ids`` (N,) and optionally ``model_name``).

The *paired gain* of a cutoff on one image is the score of the FORGrad map at that cutoff minus the score of the
unfiltered map on the same image, signed so that a positive gain means "better than unfiltered" for every metric
(for Deletion, where lower is better, the gain is ``unfiltered - score``).

Choosing sigma* on all images and reporting the gain at that sigma* on the same images is biased upwards (the
maximum of noisy means). :func:`held_out` chooses sigma* on the other folds and scores it on the fold left out,
which is the honest estimate of the gain that FORGrad brings.

Bootstrap intervals resample images with replacement; the same resamples serve every cutoff (and both sweeps in
:func:`compare_best_cutoffs`), and resample means are computed as one matrix product ``gains @ W.T``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forgrad_viz.results.statistics import _bootstrap_weights, _check_level, _check_n_boot, _percentiles

__all__ = [
    "HeldOutGain",
    "gain",
    "gain_interval",
    "held_out",
    "paired_gains",
]

#: Relative tolerance under which two mean gains count as tied (the smallest cutoff then wins).
_TIE_RTOL = 1e-12


# --------------------------------------------------------------------------------------------------- checks


def _check_metric(sweep: Any, metric: str, name: str = "sweep") -> str:
    available = tuple(sweep.metrics)
    if metric not in available:
        raise ValueError(f"metric must be one of {list(available)} (the metrics of {name}); got {metric!r}")
    return metric


def _argbest(means: np.ndarray) -> np.ndarray:
    """Index of the largest value along axis 0; ties (within a relative 1e-12) go to the smallest index."""
    best = means.max(axis=0)
    tolerance = _TIE_RTOL * np.maximum(1.0, np.abs(best))
    return np.argmax(means >= best - tolerance, axis=0)


# --------------------------------------------------------------------------------------------------- gains


def paired_gains(sweep: Any, metric: str) -> np.ndarray:
    """Per-image paired gain of every cutoff over the unfiltered map.

    Parameters
    ----------
    sweep : CutoffSweep
        The sweep (any object with ``metrics``, ``scores``, ``unfiltered`` and ``higher_is_better``).
    metric : str
        One of ``sweep.metrics``.

    Returns
    -------
    numpy.ndarray
        Shape (S, N): ``score - unfiltered`` where higher is better, ``unfiltered - score`` otherwise, so that
        a positive gain always means the filtered map is more faithful on that image.

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 2.0], ("deletion",),
    ...                     {"deletion": [[0.3, 0.2], [0.1, 0.4]]}, {"deletion": [0.2, 0.2]},
    ...                     {"deletion": False}, [0, 1])
    >>> paired_gains(sweep, "deletion").round(3).tolist()
    [[-0.1, 0.0], [0.1, -0.2]]
    """
    _check_metric(sweep, metric)
    scores = np.asarray(sweep.scores[metric], dtype=np.float64)
    unfiltered = np.asarray(sweep.unfiltered[metric], dtype=np.float64).reshape(-1)
    if scores.ndim != 2 or scores.shape[1] != unfiltered.shape[0]:
        raise ValueError(
            f"scores[{metric!r}] must have shape (S, {unfiltered.shape[0]}) to pair with unfiltered; "
            f"got {scores.shape}"
        )
    if bool(sweep.higher_is_better[metric]):
        return scores - unfiltered[None, :]
    return unfiltered[None, :] - scores


def gain(sweep: Any, metric: str) -> np.ndarray:
    """Mean paired gain of each cutoff over the unfiltered map (> 0: better than unfiltered).

    Parameters
    ----------
    sweep, metric
        As in :func:`paired_gains`.

    Returns
    -------
    numpy.ndarray
        Shape (S,), the mean over images of :func:`paired_gains`.

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> scores, unfiltered = {"insertion": [[0.2, 0.4], [0.6, 0.8]]}, {"insertion": [0.3, 0.3]}
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 2.0], ("insertion",), scores, unfiltered,
    ...                     {"insertion": True}, [0, 1])
    >>> gain(sweep, "insertion").round(3).tolist()
    [0.0, 0.4]
    """
    return paired_gains(sweep, metric).mean(axis=1)


def gain_interval(
    sweep: Any, metric: str, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Paired percentile bootstrap interval of the mean gain at each cutoff.

    Images are resampled with replacement; each resample keeps the pairing of an image's filtered and
    unfiltered scores and is the same for every cutoff.

    Parameters
    ----------
    sweep, metric
        As in :func:`paired_gains`.
    level : float
        Coverage of the interval, in (0, 1).
    n_boot : int
        Number of bootstrap resamples (>= 1).
    seed : int
        Seed of the resampling.

    Returns
    -------
    tuple of numpy.ndarray
        ``(low, high)``, each of shape (S,).

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> better = {"insertion": [[0.2, 0.4, 0.3], [0.6, 0.8, 0.7]]}  # the second cutoff beats 0.3 on each image
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 2.0], ("insertion",), better,
    ...                     {"insertion": [0.3, 0.3, 0.3]}, {"insertion": True}, [0, 1, 2])
    >>> low, high = gain_interval(sweep, "insertion", n_boot=200)
    >>> bool(low[1] > 0)
    True
    """
    gains = paired_gains(sweep, metric)
    level = _check_level(level)
    means = gains @ _bootstrap_weights(gains.shape[1], n_boot, seed).T  # (S, n_boot)
    return _percentiles(means, level)


# --------------------------------------------------------------------------------------------------- held out


def _floats(values: Any) -> list[float]:
    return np.asarray(values, dtype=np.float64).tolist()


def _ints(values: Any) -> list[int]:
    return np.asarray(values, dtype=np.int64).tolist()


def plain_record(result: Any, kind: str, casts: dict[str, Any]) -> dict[str, Any]:
    """``{"type": kind, "metric": result.metric}``, then each field named in ``casts`` converted by its cast."""
    return {
        "type": kind,
        "metric": result.metric,
        **{name: cast(getattr(result, name)) for name, cast in casts.items()},
    }


@dataclass(frozen=True)
class HeldOutGain:
    """Gain of FORGrad over the unfiltered map with sigma* chosen out of sample (k-fold cross-fitting).

    Attributes
    ----------
    metric : str
        The metric.
    folds : int
        Number of folds.
    fold_cutoffs : numpy.ndarray
        sigma* chosen for each fold on the other folds, shape (folds,).
    fold_of_image : numpy.ndarray
        Fold of each image, shape (N,), in the order of ``sweep.image_ids``.
    per_image : numpy.ndarray
        Paired gain of each image at the sigma* of its fold, shape (N,).
    gain : float
        Mean of ``per_image``: the held-out gain.
    low, high : float
        Percentile bootstrap interval of ``gain`` over images.
    level : float
        Coverage of the interval.
    n_images : int
        Number of images N.

    Examples
    --------
    >>> result = HeldOutGain("insertion", 2, np.array([4.0, 4.0]), np.array([0, 1]), np.array([0.1, 0.3]),
    ...                      0.2, 0.1, 0.3, 0.95, 2)
    >>> result.excludes_zero
    True
    """

    metric: str
    folds: int
    fold_cutoffs: np.ndarray
    fold_of_image: np.ndarray
    per_image: np.ndarray
    gain: float
    low: float
    high: float
    level: float
    n_images: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above or entirely below zero."""
        return bool(self.low > 0.0 or self.high < 0.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of plain floats, ints and lists."""
        casts = {"folds": int, "fold_cutoffs": _floats, "fold_of_image": _ints, "per_image": _floats}
        casts.update(dict.fromkeys(("gain", "low", "high", "level"), float), n_images=int)
        return {**plain_record(self, "HeldOutGain", casts), "excludes_zero": self.excludes_zero}


def held_out(
    sweep: Any, metric: str, folds: int = 2, seed: int = 0, level: float = 0.95, n_boot: int = 1000
) -> HeldOutGain:
    """Held-out gain: sigma* chosen on the other folds, scored on the fold left out, paired with unfiltered.

    The images are split at random (a permutation seeded by ``seed``) into ``folds`` folds whose sizes differ
    by at most one. For each fold, sigma* is the cutoff with the largest mean paired gain over the images of
    the other folds (ties go to the smallest cutoff); each image of the fold is then scored by its paired gain
    at that sigma*. The mean of these per-image gains is an unbiased estimate of the gain of the procedure
    "choose sigma* on data, apply it to new images", unlike the in-sample ``gain(sweep, metric).max()``.

    Parameters
    ----------
    sweep : CutoffSweep
        The sweep.
    metric : str
        One of ``sweep.metrics``.
    folds : int
        Number of folds, 2 <= folds <= N.
    seed : int
        Seed of the split into folds and of the bootstrap.
    level : float
        Coverage of the interval, in (0, 1).
    n_boot : int
        Number of bootstrap resamples of the images (>= 1).

    Returns
    -------
    HeldOutGain

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> rng = np.random.default_rng(0)
    >>> scores = 0.5 + 0.01 * rng.standard_normal((3, 20))
    >>> scores[1] += 0.2  # cutoff 2.0 is best
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 2.0, 4.0], ("insertion",), {"insertion": scores},
    ...                     {"insertion": np.full(20, 0.5)}, {"insertion": True}, np.arange(20))
    >>> result = held_out(sweep, "insertion", folds=2)
    >>> result.fold_cutoffs.tolist(), result.excludes_zero
    ([2.0, 2.0], True)
    """
    gains = paired_gains(sweep, metric)
    n_cutoffs, n_images = gains.shape
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)):
        raise ValueError(f"folds must be an integer; got {folds!r}")
    if not 2 <= folds <= n_images:
        raise ValueError(f"folds must lie between 2 and the number of images ({n_images}); got {folds}")
    folds = int(folds)
    level = _check_level(level)
    _check_n_boot(n_boot)
    cutoffs = np.asarray(sweep.cutoffs, dtype=np.float64).reshape(-1)
    if cutoffs.shape[0] != n_cutoffs:
        raise ValueError(f"sweep.cutoffs must have {n_cutoffs} entries to match scores[{metric!r}]")

    # Split: a seeded permutation dealt round-robin, so fold sizes differ by at most one. The split uses its
    # own stream (entropy [seed, 1]) so that it is independent of the bootstrap draws made with ``seed``.
    fold_of_image = np.empty(n_images, dtype=np.int64)
    fold_of_image[np.random.default_rng([int(seed), 1]).permutation(n_images)] = np.arange(n_images) % folds

    # Mean gain of every cutoff over the images outside each fold: (S, N) @ (N, folds).
    outside = (fold_of_image[:, None] != np.arange(folds)[None, :]).astype(np.float64)
    outside /= outside.sum(axis=0, keepdims=True)
    best = _argbest(gains @ outside)  # (folds,)
    per_image = gains[best[fold_of_image], np.arange(n_images)]

    means = _bootstrap_weights(n_images, n_boot, seed) @ per_image  # (n_boot,)
    low, high = _percentiles(means, level)
    return HeldOutGain(
        metric=metric,
        folds=folds,
        fold_cutoffs=cutoffs[best],
        fold_of_image=fold_of_image,
        per_image=per_image,
        gain=float(per_image.mean()),
        low=float(low),
        high=float(high),
        level=level,
        n_images=n_images,
    )


# --------------------------------------------------------------------------------------------------- two models
