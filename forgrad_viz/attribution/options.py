"""Validation of the options of :func:`~forgrad_viz.attribution.explain`.

An option name has the same meaning for every method that takes it; each check returns the validated value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import check_choice, check_finite_number, check_positive_int


def _check_baseline(value: Any, name: str) -> float | torch.Tensor:
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point() or not bool(torch.isfinite(value).all()):
            raise TypeError(f"{name} must be a finite float or a finite floating-point tensor")
        return value
    return check_finite_number(value, name)


def _check_probability(value: Any, name: str) -> float:
    value = check_finite_number(value, name)
    if not 0 < value < 1:
        raise ValueError(f"{name} must lie in (0, 1); got {value}")
    return value


def _check_size_pair(value: Any, name: str) -> tuple[int, int] | None:
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"{name} must be None, an int or a pair of ints; got {value!r}")
    return (check_positive_int(pair[0], name), check_positive_int(pair[1], name))


def _check_layer(value: Any, name: str) -> nn.Module | str | None:
    if value is not None and not isinstance(value, (str, nn.Module)):
        raise TypeError(
            f"{name} must be None, an nn.Module or a dotted module name; got {type(value).__name__}"
        )
    return value


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {type(value).__name__}")
    return value


_OPTION_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "n_steps": check_positive_int,
    "n_samples": check_positive_int,
    "n_masks": check_positive_int,
    "grid": check_positive_int,
    "stdev": lambda value, name: check_finite_number(value, name, positive=True),
    "p": _check_probability,
    "baseline": _check_baseline,
    "window": _check_size_pair,
    "stride": _check_size_pair,
    "layer": _check_layer,
    "relu": _check_bool,
    "score": lambda value, name: check_choice(value, name, ("probability", "logit")),
}
