"""Working-memory budgets and the measured activation memory of a model's forward pass (internal).

A sweep's peak memory is set by a few buffers whose sizes it chooses: the inputs of one forward pass (their
activations), the inputs of one attribution pass (activations kept for the backward pass) and the filtered maps
of one chunk of cutoffs. :func:`activation_bytes` measures what one input costs in a forward pass, once per
model and input shape, by following every tensor the pass allocates (a ``TorchDispatchMode``: each output
storage is counted from its creation until it is freed) and keeping the peak. The sizes are then derived from a
budget (:mod:`forgrad_viz.sweep.memory`).

The measurement counts tensor storages only; libraries' scratch buffers (oneDNN, cuDNN) and the allocator's
slack are not seen, hence the margin :data:`ACTIVATION_MARGIN` (measured on EfficientNet-Lite0 at 224 x 224:
the process's resident memory grew by 1.06 times the measured bytes in an attribution pass of 32 images).
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from forgrad_viz._utils import model_device, preserved_model

#: Default working-memory budget on the CPU (bytes): what a sweep's buffers may take on top of the model, the
#: libraries (about 0.7 GB for torch with EfficientNet-Lite0) and the caller's own data; about 2 GB of resident
#: memory in all for a real model at 224 x 224.
CPU_MEMORY_BUDGET = 1280 * 2**20
#: Factor applied to measured activation bytes for what the measurement does not see (see the module notes).
ACTIVATION_MARGIN = 1.25

_MEASURED: weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]] = weakref.WeakKeyDictionary()


def check_memory_budget(value: Any, name: str = "memory_budget") -> int | None:
    """Return ``value`` (bytes) as an int if it is ``None`` or a positive number of bytes, else raise.

    Examples
    --------
    >>> check_memory_budget(2 * 2**30)
    2147483648
    >>> check_memory_budget(None) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number of bytes (e.g. 2 * 2**30) or None; got {type(value).__name__}"
        )
    if not math.isfinite(value) or value < 2**20:
        raise ValueError(f"{name} must be at least 1 MiB (2**20 bytes); got {value!r}")
    return int(value)


def default_memory_budget(device: torch.device) -> int | None:
    """The working-memory budget when none is given: :data:`CPU_MEMORY_BUDGET` on the CPU; ``None`` elsewhere
    (on CUDA the batch sizes start large and halve on out-of-memory errors instead)."""
    return CPU_MEMORY_BUDGET if device.type == "cpu" else None


class _PeakTensorBytes(TorchDispatchMode):
    """Bytes of the tensor storages that operations create inside the block: live now and at most."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0

    def _freed(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if size == 0 or key in self.live:
                continue  # a view of a storage already counted
            self.live[key] = size
            self.current += size
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._freed, key)
        return out


def _one_pass(model: nn.Module, sample: torch.Tensor, backward: bool) -> None:
    if not backward:
        with torch.inference_mode():
            model(sample)
        return
    leaf = sample.detach().clone().requires_grad_(True)
    output = model(leaf)
    if output.requires_grad:
        torch.autograd.grad(output.reshape(output.shape[0], -1)[:, 0].sum(), leaf)


def activation_bytes(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, backward: bool) -> int:
    """Peak bytes of the tensors one input of ``shape`` allocates in a forward pass of ``model`` (with
    ``backward``: a forward pass that keeps its activations and the gradient of the input's first output, as an
    attribution pass does), times :data:`ACTIVATION_MARGIN`.

    Measured on one random input on the model's device (the model in eval mode, restored after), once per model,
    shape, dtype and mode; the memory of a batch of ``b`` inputs is at most ``b`` times this (the measured part
    that does not grow with the batch, such as a backward pass's scratch, is counted once per input).

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(8 * 16 * 16, 2))
    >>> activation_bytes(net, (3, 16, 16), torch.float32, backward=False) >= 8 * 16 * 16 * 4
    True
    """
    key = (tuple(shape), dtype, backward)
    measured = _MEASURED.setdefault(model, {})
    if key not in measured:
        generator = torch.Generator().manual_seed(0)
        sample = torch.rand(1, *shape, generator=generator).to(device=model_device(model), dtype=dtype)
        tracker = _PeakTensorBytes()
        with preserved_model(model), tracker:
            _one_pass(model, sample, backward)
        measured[key] = math.ceil(
            ACTIVATION_MARGIN * max(tracker.peak, sample.numel() * sample.element_size())
        )
    return measured[key]
