"""Working-memory budgets and the measured activation memory of a model's forward pass (internal).

A sweep's peak memory is set by a few buffers whose sizes it chooses: the inputs of one forward pass (their
activations), the inputs of one attribution pass (activations kept for the backward pass) and the filtered maps
of one chunk of cutoffs. :func:`activation_bytes` measures what one input costs in a forward pass, once per
model and input shape: it follows the outputs of every module (forward hooks) and, for a pass that keeps its
activations for a backward pass, every tensor autograd saves (``saved_tensors_hooks``), each counted from its
creation until its storage is freed, and keeps the peak. The sizes are then derived from a budget
(:mod:`forgrad_viz.sweep.memory`). (A ``TorchDispatchMode`` would see every operation's output, but entering one
imports ``torch._dynamo``: 3 s and 150 MB.)

The measurement counts the storages of module outputs and saved tensors only: intermediates inside a module's
``forward``, libraries' scratch buffers (oneDNN's reorders, cuDNN's workspaces) and the allocator's slack are not
seen, hence the margins :data:`FORWARD_MARGIN` and :data:`BACKWARD_MARGIN`. Measured as the growth of resident memory per input over the
measured bytes: 1.6 to 1.7 for EfficientNet-Lite0's forward pass at 224 x 224 (batches of 4 and 16), 1.5 to 2
for a small NCHW CNN's, 0.96 for Lite0's forward and backward pass (32 images).
"""

from __future__ import annotations

import ctypes
import functools
import math
import platform
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from forgrad_viz._utils import model_device, preserved_model

#: Default working-memory budget on the CPU (bytes): what a sweep's buffers may take on top of the model, the
#: libraries (about 0.7 GB for torch with EfficientNet-Lite0) and the caller's own data; about 2 GB of resident
#: memory in all for a real model at 224 x 224.
CPU_MEMORY_BUDGET = 1280 * 2**20
#: The smallest budget accepted: twice what the libraries and the allocator take on top of the buffers a plan
#: sizes (:data:`RESERVED_BYTES`).
MIN_MEMORY_BUDGET = 128 * 2**20
#: Part of a budget left to the libraries' per-shape buffers (oneDNN's), the threads' allocator arenas and the
#: allocator's slack: measured at 30 to 50 MiB over the planned buffers for a small CNN's sweep at 224 x 224.
RESERVED_BYTES = 64 * 2**20
#: Factor applied to the measured bytes of a forward pass for what the measurement does not see (module notes).
FORWARD_MARGIN = 2.0
#: The same for a forward pass whose activations are kept for the backward pass (they are nearly all seen).
BACKWARD_MARGIN = 1.25

_MEASURED: weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]] = weakref.WeakKeyDictionary()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on other C libraries."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Give the allocator's free memory back to the system (glibc: ``malloc_trim(0)``; elsewhere nothing).

    glibc keeps freed buffers of up to 32 MB in its heaps for reuse, so after the activations of one batch size
    are freed, buffers of another size (a chunk's maps, another pass's activations) can add to them instead of
    reusing them, and resident memory grows past what is alive. A sweep calls this between its phases (after an
    attribution call, after each unit of work): a few milliseconds each.

    Examples
    --------
    >>> release_free_memory()
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


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
    if not math.isfinite(value) or value < MIN_MEMORY_BUDGET:
        raise ValueError(f"{name} must be at least 128 MiB (2**27 bytes); got {value!r}")
    return int(value)


def default_memory_budget(device: torch.device) -> int | None:
    """The working-memory budget when none is given: :data:`CPU_MEMORY_BUDGET` on the CPU; ``None`` elsewhere
    (on CUDA the batch sizes start large and halve on out-of-memory errors instead)."""
    return CPU_MEMORY_BUDGET if device.type == "cpu" else None


class _LiveBytes:
    """Bytes of the tensor storages seen while they live (now, at most, and the largest one); storages that
    existed before (``outside``: the input, the parameters) and views of storages seen are not counted again."""

    def __init__(self, outside: list[torch.Tensor]) -> None:
        self.live: dict[int, int] = {}
        self.outside = {tensor.untyped_storage().data_ptr() for tensor in outside}
        self.current = self.peak = self.largest = 0

    def _freed(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def see(self, value: Any) -> None:
        for tensor in tree_leaves(value):
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if size == 0 or key in self.live or key in self.outside:
                continue
            self.live[key] = size
            self.current += size
            self.peak = max(self.peak, self.current)
            self.largest = max(self.largest, size)
            weakref.finalize(storage, self._freed, key)


def _measure(model: nn.Module, sample: torch.Tensor, backward: bool) -> int:
    """Peak bytes of one pass of ``sample`` (see :func:`activation_bytes`), without the margin."""
    tracker = _LiveBytes([sample, *model.parameters(), *model.buffers()])
    handles = [m.register_forward_hook(lambda _m, _i, out: tracker.see(out)) for m in model.modules()]
    try:
        if not backward:
            with torch.inference_mode():
                model(sample)
            return tracker.peak
        leaf = sample.detach().clone().requires_grad_(True)
        tracker.outside.add(leaf.untyped_storage().data_ptr())
        with torch.autograd.graph.saved_tensors_hooks(lambda t: tracker.see(t) or t, lambda t: t):
            output = model(leaf)
        if not output.requires_grad:
            return tracker.peak
        # the backward pass holds what the forward pass saved, and a gradient or two of the largest activation
        return max(tracker.peak, tracker.current + 2 * tracker.largest)
    finally:
        for handle in handles:
            handle.remove()


def activation_bytes(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, backward: bool) -> int:
    """Peak bytes of the tensors one input of ``shape`` allocates in a forward pass of ``model`` (with
    ``backward``: a forward pass that keeps its activations and the gradient of the input's first output, as an
    attribution pass does), times :data:`FORWARD_MARGIN` (:data:`BACKWARD_MARGIN`).

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
        with preserved_model(model):
            peak = _measure(model, sample, backward)
        margin = BACKWARD_MARGIN if backward else FORWARD_MARGIN
        measured[key] = math.ceil(margin * max(peak, sample.numel() * sample.element_size()))
    return measured[key]
