"""Checks of the figure functions' inputs: numeric arrays and confidence levels."""

from __future__ import annotations

from typing import Any

import numpy as np

from forgrad_viz._utils import check_finite_number


def _as_array(value: Any, name: str) -> np.ndarray:
    """A finite float64 numpy copy of a tensor or array-like."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a numpy array or torch tensor of numbers; got {type(value).__name__}"
        ) from error
    if array.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _check_level(level: float) -> None:
    """Check that a confidence level is a real number in (0, 1)."""
    check_finite_number(level, "level")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level}")
