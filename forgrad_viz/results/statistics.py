"""Statistics over images: percentile bootstrap intervals of means, and the resampling weights behind them.

The same resamples serve every row of an array (and every cutoff of a sweep), so that intervals of different rows
are comparable and deterministic in ``seed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Percentile bootstrap confidence interval of the mean over the last axis.

    Images are resampled with replacement ``n_boot`` times (the same resamples for every leading index, so
    intervals of different rows are comparable).

    Parameters
    ----------
    values : numpy.ndarray
        Per-image values, shape (..., N).
    level : float
        Coverage of the interval, in (0, 1).
    n_boot : int
        Number of bootstrap resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    tuple
        ``(low, high)``, each of shape (...,) (floats for 1-D input).

    Examples
    --------
    >>> low, high = bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    >>> bool(low < 2.5 < high)
    True
    """
    values = np.asarray(values, dtype=np.float64)
    _check_level(level)
    if values.ndim == 0 or values.shape[-1] == 0:
        raise ValueError(
            f"values must have at least one element along the last axis; got shape {values.shape}"
        )
    means = values @ _bootstrap_weights(values.shape[-1], n_boot, seed).T  # (..., n_boot)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail], axis=-1)
    if values.ndim == 1:
        return float(low), float(high)
    return low, high


def _bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) weights such that ``values @ weights.T`` are the means of ``n_boot`` resamples.

    Each row counts how often each image is drawn in one resample with replacement (divided by ``n``), so the
    memory stays (n_boot, n) whatever the number of rows of values. Deterministic in ``seed``.
    """
    n_boot = _check_n_boot(n_boot)
    draws = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts / n


def _check_level(level: float) -> float:
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number in (0, 1); got {level!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level!r}")
    return value


def _check_n_boot(n_boot: int) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer; got {n_boot!r}")
    return int(n_boot)


def _percentiles(values: np.ndarray, level: float, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` percentile interval over the last axis."""
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail], axis=-1, **kwargs)
    return low, high
