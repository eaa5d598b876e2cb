"""A sweep's memory plan: the batch sizes and the chunk of cutoffs that keep its working memory within a budget.

A sweep holds one block's images and maps at a time (small) and does one of two things, each bounded here:

- an attribution pass of ``gradient_batch`` inputs: white-box methods keep every activation for the backward
  pass (:func:`~forgrad_viz._memory.activation_bytes` with ``backward=True``: about 120 MB per input for
  EfficientNet-Lite0 at 224 x 224, margin included); black-box methods (``black_box_batch``) a forward pass's;
- the scoring of one unit: the filtered maps of ``chunk_size`` cutoffs (and the unfiltered map) of the block,
  ranked pixel by pixel (:data:`BYTES_PER_MAP_PIXEL`), while forward passes of ``forward_batch`` perturbed inputs
  run (their activations, measured, and the inputs being built: :data:`BUILD_BYTES_PER_PIXEL`).

Of the budget, :data:`~forgrad_viz._memory.RESERVED_BYTES` are left to the libraries and the allocator; the
activations (of attribution or scoring passes) get half the rest and a unit's maps the other half: freed
activations can stay mapped for reuse (glibc keeps buffers of a few MB in its heaps; the sweep hands them back
between phases, :func:`~forgrad_viz._memory.release_free_memory`), so the peak is bounded by the largest
activations plus the largest maps, not only by the larger of the two. The
chunk of cutoffs shrinks as the images grow, so the number of cutoffs never raises the peak, and nothing held
grows with the number of images: blocks are read one at a time, and the scores are a few numbers per image.

On the CPU the forward batch is a fixed function of the input size and the budget
(:func:`~forgrad_viz._utils.cpu_batch_size`), never of timings, so that each perturbed input goes through the
model in the same batch composition in every run and on every rank (a row's logits depend on its batch's size:
EfficientNet-Lite0 and the demo CNNs give other bits for a row in a batch of 1 or 3 than of 4 or 16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from forgrad_viz._memory import RESERVED_BYTES, activation_bytes, default_memory_budget
from forgrad_viz._utils import cpu_batch_size, default_batch_size, input_key, model_device

if TYPE_CHECKING:
    from forgrad_viz.sweep.arguments import Settings

#: Bytes per pixel of a scored map while its chunk is ranked and scored, measured as resident memory on the CPU:
#: 29 inside :func:`~forgrad_viz.metrics.perturbation_curves` (the argsort, ranks and steps), 8 for the chunk's
#: filtered maps and their stack, and a margin.
BYTES_PER_MAP_PIXEL = 40
#: The same with ``padding``: the filter of a padded chunk peaks at 24 bytes per map pixel (measured) before the
#: ranking and leaves about 4 more.
BYTES_PER_MAP_PIXEL_PADDED = 48
#: Bytes per image pixel of one perturbed input while it is built (index, mask, image, fill and result).
BUILD_BYTES_PER_PIXEL = 48
#: Cutoffs per chunk without a budget (CUDA by default): the filtered maps of a chunk stay within this.
UNBUDGETED_CHUNK_BYTES = 1024 * 2**20


@dataclass(frozen=True)
class MemoryPlan:
    """What a sweep on one model holds at most, derived from its working-memory budget.

    Attributes
    ----------
    budget : int or None
        Working-memory budget in bytes (None: no budget, sizes as without one: CUDA by default).
    forward_batch : int or None
        Inputs per forward pass that scores maps (and targets, MuFidelity); None: automatic (CUDA).
    gradient_batch, black_box_batch : int or None
        Inputs per attribution pass of a white-box / black-box method; None: automatic.
    chunk_size : int
        Cutoffs filtered and scored together.
    """

    budget: int | None
    forward_batch: int | None
    gradient_batch: int | None
    black_box_batch: int | None
    chunk_size: int

    def explain_batch(self, kind: str) -> int | None:
        """Inputs per attribution pass for a method of ``kind`` (``"white-box"`` or ``"black-box"``)."""
        return self.gradient_batch if kind == "white-box" else self.black_box_batch

    def describe(self) -> str:
        """One line for a sweep's plan, e.g. ``"memory budget 1,280 MiB: 16 inputs per forward pass, ..."``."""
        if self.budget is None:
            return f"no memory budget ({self.chunk_size} cutoffs per chunk)"
        return (
            f"memory budget {self.budget / 2**20:,.0f} MiB: {self.forward_batch} inputs per forward pass, "
            f"{self.gradient_batch} per attribution pass, {self.chunk_size} cutoffs per chunk"
        )


def plan_memory(
    model: nn.Module, shape: tuple[int, ...], images_per_block: int, settings: Settings
) -> MemoryPlan:
    """The :class:`MemoryPlan` of a sweep of ``settings`` on ``model``, images of ``shape`` (C, H, W) in blocks of
    at most ``images_per_block``.

    Explicit ``batch_size`` and ``chunk_size`` are kept as given. Without a budget (``memory_budget=None`` on
    CUDA) the batch sizes stay automatic and the chunk's filtered maps take at most
    :data:`UNBUDGETED_CHUNK_BYTES`. Measures the model's activation memory once per model and shape
    (:func:`~forgrad_viz._memory.activation_bytes`: one forward pass of one input, and one with its backward
    pass; not counted in a sweep's ``forward_passes``).

    Examples
    --------
    >>> import forgrad_viz as fv
    >>> from forgrad_viz.sweep.arguments import check_settings
    >>> settings = check_settings((3, 64, 64), cutoffs=None, kind="ideal", search="grid", order=2, padding=None,
    ...     block_size=32, chunk_size=None, seed=0, memory_budget=2**30, metrics=("deletion",), steps=20,
    ...     deletion_baseline=0.0, insertion_baseline="blur", score="probability", mufidelity=None,
    ...     batch_size=None, precision="fp32", backend="torch")
    >>> plan = plan_memory(fv.models.load_demo("maxpool_cnn"), (3, 64, 64), 32, settings)
    >>> plan.forward_batch, plan.chunk_size >= 24
    (16, True)
    """
    device = model_device(model)
    budget = settings.memory_budget if settings.memory_budget is not None else default_memory_budget(device)
    given = settings.protocol.batch_size
    _, height, width = shape
    per_cutoff = images_per_block * height * width
    per_cutoff *= BYTES_PER_MAP_PIXEL_PADDED if settings.padding is not None else BYTES_PER_MAP_PIXEL
    if budget is None:
        chunk = settings.chunk_size or max(1, UNBUDGETED_CHUNK_BYTES // per_cutoff - 1)
        return MemoryPlan(None, given, given, given, chunk)
    usable = max(0, budget - RESERVED_BYTES)
    activations, maps = usable // 2, usable - usable // 2
    forward = activation_bytes(model, shape, torch.float32, backward=False)
    forward += BUILD_BYTES_PER_PIXEL * height * width
    backward = activation_bytes(model, shape, torch.float32, backward=True)
    largest = cpu_batch_size(input_key(torch.empty(1, *shape))) if device.type == "cpu" else None
    forward_batch = given or _fits(activations, forward, largest or default_batch_size(device))
    black_box = given or _fits(activations, forward, default_batch_size(device))
    gradient = given or _fits(activations, backward, default_batch_size(device))
    chunk = settings.chunk_size or max(1, maps // per_cutoff - 1)
    return MemoryPlan(budget, forward_batch, gradient, black_box, chunk)


def _fits(budget: int, per_input: int, largest: int) -> int:
    """The most inputs of ``per_input`` bytes within ``budget``: at least 1, at most ``largest``."""
    return max(1, min(largest, budget // max(per_input, 1)))
