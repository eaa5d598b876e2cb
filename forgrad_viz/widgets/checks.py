"""Checks of the explorers' arguments: they raise at construction, before any widget is built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from forgrad_viz._utils import check_choice, check_model
from forgrad_viz.attribution import METHODS

__all__ = ["check_method_options", "check_methods", "check_models", "check_names"]


def check_methods(methods: Any) -> tuple[str, ...]:
    """A method name or names as a tuple of known methods, without repeats (order kept)."""
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if not methods:
        raise ValueError(f"methods must name at least one of {list(METHODS)}")
    for method in methods:
        check_choice(method, "methods", tuple(METHODS))
    return tuple(dict.fromkeys(methods))


def check_method_options(options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``{method: {option: value}}``, validated against :data:`METHODS`."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(f"method_options must map method names to option dicts; got {type(options).__name__}")
    checked = {}
    for method, values in options.items():
        check_choice(method, "method_options key", tuple(METHODS))
        METHODS[method].resolve_options(dict(values))
        checked[method] = dict(values)
    return checked


def check_names(names: Sequence[str] | None, n_images: int, argument: str) -> list[str] | None:
    """One label per image as strings, or ``None``."""
    if names is None:
        return None
    names = [str(name) for name in names]
    if len(names) != n_images:
        raise ValueError(f"{argument} must have one name per image ({n_images}); got {len(names)}")
    return names


def check_models(models: Any, names: list[str]) -> dict[str, nn.Module]:
    """Model name -> module for every model of the sweeps (a lone module serves a lone model)."""
    if isinstance(models, nn.Module):
        if len(names) != 1:
            raise ValueError(f"models must map each model name {names} to a module; got a single module")
        return {names[0]: models}
    if not isinstance(models, Mapping):
        raise TypeError(
            f"models must be an nn.Module or a dict of name -> nn.Module; got {type(models).__name__}"
        )
    missing = [name for name in names if name not in models]
    if missing:
        raise ValueError(f"models lacks the model(s) {missing} of the sweeps")
    return {name: check_model(models[name], f"models[{name!r}]") for name in names}
