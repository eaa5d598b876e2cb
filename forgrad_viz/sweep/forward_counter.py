"""Counting the images that go through a model, in total and by stage of a sweep."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from forgrad_viz._threads import in_thread_check


class ForwardCounter:
    """Counts the images that go through ``model.forward`` (a forward hook, removed on exit).

    The repeat passes of a bit-for-bit thread check (:func:`forgrad_viz._threads.thread_check`: at most one chunk
    per input shape and process, only when other processes hold cores) are not counted, so that the count is the
    protocol's and does not depend on the machine's load. ``listener(n, stage)``, when set, is called after every forward pass of ``n`` images during ``stage`` (the
    innermost :meth:`stage`, ``""`` outside any).
    """

    def __init__(self) -> None:
        self.count = 0
        self.stages: dict[str, int] = {}
        self.current = ""
        self.listener: Callable[[int, str], None] | None = None

    @contextlib.contextmanager
    def attach(self, model: nn.Module, scoring: nn.Module | None = None) -> Iterator[ForwardCounter]:
        """Count the passes through ``model``, and through ``scoring`` (the metrics' module, see
        :func:`~forgrad_viz.scoring.scoring_model`) when its passes do not go through ``model`` (ONNX Runtime)."""

        def hook(_module: nn.Module, inputs: tuple, _output: Any) -> None:
            if inputs and isinstance(inputs[0], torch.Tensor) and not in_thread_check():
                n = int(inputs[0].shape[0])
                self.count += n
                if self.listener is not None:
                    self.listener(n, self.current)

        modules = [model]
        if scoring is not None and scoring is not model and not getattr(scoring, "calls_model", True):
            modules.append(scoring)
        handles = [module.register_forward_hook(hook) for module in modules]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start, outer = self.count, self.current
        self.current = name
        try:
            yield
        finally:
            self.current = outer
            self.stages[name] = self.stages.get(name, 0) + self.count - start
