"""Forward passes of the metrics (internal): target logits, and target scores of perturbed inputs in chunks.

Forward passes run in chunks of ``batch_size`` (on the CPU by default the fastest of 16 to 256, measured on the
first chunks by :class:`~forgrad_viz._utils.BatchSizer`) under ``torch.inference_mode()`` with no host
synchronisation inside the loop.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from forgrad_viz._threads import same_tensors, thread_check, torch_threads, wanted_threads
from forgrad_viz._utils import (
    BatchSizer,
    check_targets,
    class_scores,
    forward_logits,
    input_key,
    preserved_model,
)

#: Per model: whether its forward pass gives the same bits on fewer threads, per (input shape, dtype, counts).
_VERDICTS: weakref.WeakKeyDictionary[nn.Module, dict[tuple, bool]] = weakref.WeakKeyDictionary()


class _FreeCoreForward:
    """``model(inputs)`` for the chunks of one call, on the cores other processes leave free where bits agree.

    On a free machine (or off the CPU) this is ``model(inputs)``. When other processes hold cores, chunks run on
    fewer threads (the count follows the load, read at most every second; it changes between chunks only when the
    load does: switching costs about a millisecond). The first chunk of each input shape on a new count also runs on
    the full count: the outputs are compared bit for bit and the full count's is kept (that repeat pass runs in
    :func:`~forgrad_viz._threads.thread_check`: forward counters leave it out). Where they differ
    (EfficientNet-Lite0's do, the demo CNNs' do not) the rest of the call runs on the full count, so the scores
    never depend on the machine's load. See :mod:`forgrad_viz._threads`.
    """

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.model, self.device = model, device
        self.full = self.threads = torch.get_num_threads()
        # a backend with its own thread pool (ONNX Runtime) is not governed by torch's count
        self.adapt = device.type == "cpu" and self.full > 1 and getattr(model, "follows_torch_threads", True)
        self.verdicts = _VERDICTS.setdefault(model, {})

    def __enter__(self) -> _FreeCoreForward:
        return self

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.full)

    def _use(self, threads: int) -> None:
        if threads != self.threads:
            torch.set_num_threads(threads)
            self.threads = threads

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.adapt:
            self._use(wanted_threads(self.device, self.full))
        if self.threads == self.full:
            return self.model(inputs)
        key = (tuple(inputs.shape), inputs.dtype, self.threads, self.full)
        if self.verdicts.get(key) is True:
            return self.model(inputs)
        if key in self.verdicts:  # known to differ: the rest of the call on the full count
            self.adapt = False
            self._use(self.full)
            return self.model(inputs)
        fewer = self.model(inputs)
        with torch_threads(self.full), thread_check():
            reference = self.model(inputs)
        self.verdicts[key] = same_tensors(fewer, reference)
        if not self.verdicts[key]:
            self.adapt = False
            self._use(self.full)
        return reference


def target_logits(
    model: nn.Module, images: torch.Tensor, targets: Any, batch_size: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of the unperturbed images and the target classes (predicted ones for ``targets=None``)."""
    logits = forward_logits(model, images, batch_size)
    if logits.dim() != 2:
        raise ValueError(f"model must return logits of shape (N, classes); got shape {tuple(logits.shape)}")
    if targets is None:
        return logits, logits.argmax(dim=1)
    return logits, check_targets(targets, images.shape[0], logits.shape[1], images.device)


def job_groups(start: int, stop: int, period: int) -> list[tuple[int, int, int]]:
    """Jobs ``start..stop`` cut into runs of one group (job ``j`` is in group ``j // period``).

    Returns ``(group, first, last)`` triples, ``last`` exclusive: builders use them to broadcast one image against
    the masks of its run of jobs instead of gathering a copy of the image per job.

    Examples
    --------
    >>> job_groups(7, 13, 4)
    [(1, 7, 8), (2, 8, 12), (3, 12, 13)]
    """
    groups, first = [], start
    while first < stop:
        group = first // period
        last = min(stop, (group + 1) * period)
        groups.append((group, first, last))
        first = last
    return groups


def score_jobs(
    model: nn.Module,
    total: int,
    build: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]],
    score: str,
    batch_size: int | None,
    images: torch.Tensor,
    out_dtype: torch.dtype,
    progress: bool = False,
    description: str = "",
) -> torch.Tensor:
    """Target scores (total,) of perturbed inputs, on the images' device, without host synchronisation.

    ``build(start, stop)`` receives a chunk of jobs ``start..stop - 1`` (Python ints: no host synchronisation) and
    returns the chunk's inputs (shaped like ``images[0]``) and target classes. Chunk sizes come from
    :class:`~forgrad_viz._utils.BatchSizer`.
    """
    device = images.device
    sizer = BatchSizer(model, batch_size, device, input_key(images))
    out = torch.empty(total, device=device, dtype=out_dtype)
    start = 0
    with (
        preserved_model(model),
        torch.inference_mode(),
        tqdm(total=total, desc=description, disable=not progress, leave=False) as bar,
        _FreeCoreForward(model, device) as forward,
    ):
        while start < total:
            stop = min(start + sizer.next_size(total - start), total)
            began = time.perf_counter()
            try:
                inputs, targets = build(start, stop)
                out[start:stop] = class_scores(forward(inputs), targets, score)
            except RuntimeError as error:
                if sizer.back_off(error):
                    continue
                raise
            sizer.record(stop - start, time.perf_counter() - began)
            bar.update(stop - start)
            start = stop
    return out
