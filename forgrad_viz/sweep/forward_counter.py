"""Counting the images that go through a model, in total and by stage of a sweep."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


class ForwardCounter:
    """Counts the images that go through ``model.forward`` (a forward hook, removed on exit)."""

    def __init__(self) -> None:
        self.count = 0
        self.stages: dict[str, int] = {}

    @contextlib.contextmanager
    def attach(self, model: nn.Module) -> Iterator[ForwardCounter]:
        def hook(_module: nn.Module, inputs: tuple, _output: Any) -> None:
            if inputs and isinstance(inputs[0], torch.Tensor):
                self.count += int(inputs[0].shape[0])

        handle = model.register_forward_hook(hook)
        try:
            yield self
        finally:
            handle.remove()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = self.count
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0) + self.count - start
