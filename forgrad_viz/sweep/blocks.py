"""The images of a sweep in blocks, with what every map of a block shares: targets and MuFidelity predictions.

A block is the unit of checkpointing, of sharding and of distributed work: shards that start on a block boundary
give bit-identical scores to an unsharded run, because every forward pass sees the same batch. Only one block's
images are held at a time; each block's targets and MuFidelity predictions (a few numbers per image) are kept
once computed, for later rounds of a search and for other methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import check_targets, forward_logits, model_device, resolve_targets
from forgrad_viz.metrics import MuFidelityPerturbations, mufidelity_perturbations
from forgrad_viz.sweep.forward_counter import ForwardCounter
from forgrad_viz.sweep.protocol import Protocol
from forgrad_viz.sweep.source import ImageSource

#: Images per block (unit of checkpointing and sharding) by default.
DEFAULT_BLOCK_SIZE = 32


@dataclass
class Block:
    """One block of images; ``targets`` and ``perturbations`` are filled by :meth:`Blocks.complete`."""

    index: int
    rows: slice
    images: torch.Tensor
    given: torch.Tensor | None  # targets from the data, -1 for "predicted"
    targets: torch.Tensor | None = None
    perturbations: MuFidelityPerturbations | None = None


class Blocks:
    """The blocks of an :class:`~forgrad_viz.sweep.source.ImageSource`; each block's shared work is computed on
    first use (:meth:`complete`) and kept."""

    def __init__(
        self, model: nn.Module, source: ImageSource, targets: Any, protocol: Protocol, counter: ForwardCounter
    ) -> None:
        self.model = model
        self.source = source
        self.device = model_device(model)
        self.protocol = protocol
        self.counter = counter
        self.rows = source.rows
        self.explicit = targets
        self._targets: torch.Tensor | None = None
        self._classes: int | None = None
        self._shared: dict[int, tuple[torch.Tensor, MuFidelityPerturbations | None]] = {}
        self._subsets: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def read(self, wanted: list[int]) -> Iterator[Block]:
        """The blocks ``wanted`` (ascending), their images on the model's device, one at a time."""
        for index, images, given in self.source.read(wanted):
            yield Block(index, self.rows[index], images.to(self.device), given)

    def has_shared(self, index: int) -> bool:
        """Whether the block's targets and MuFidelity predictions are computed."""
        return index in self._shared

    def _n_classes(self, images: torch.Tensor) -> int:
        if self._classes is None:
            with self.counter.stage("targets"):
                self._classes = int(forward_logits(self.model, images[:1], self.protocol.batch_size).shape[1])
        return self._classes

    def _resolve(self, block: Block) -> torch.Tensor:
        if self.explicit is not None:
            if self._targets is None:
                classes = self._n_classes(block.images)
                self._targets = check_targets(self.explicit, self.source.n, classes, self.device)
            return self._targets[block.rows]
        given = block.given
        if given is not None and bool((given >= 0).all()):
            classes = self._n_classes(block.images)
            rows = block.rows
            return check_targets(given, rows.stop - rows.start, classes, self.device)
        with self.counter.stage("targets"):
            predicted = resolve_targets(self.model, block.images, None, self.protocol.batch_size)
        if given is None:
            return predicted
        return torch.where(given.to(self.device) >= 0, given.to(self.device), predicted)

    def complete(self, block: Block) -> Block:
        """Fill the block's targets and MuFidelity predictions (computed once per block, then kept)."""
        if block.targets is not None:
            return block
        if block.index not in self._shared:
            targets = self._resolve(block)
            perturbations = None
            if "mufidelity" in self.protocol.metrics:
                with self.counter.stage("mufidelity"):
                    perturbations = mufidelity_perturbations(
                        self.model,
                        block.images,
                        targets,
                        **self.protocol.mufidelity,
                        batch_size=self.protocol.batch_size,
                        precision=self.protocol.precision,
                        backend=self.protocol.backend,
                    )
                if self._subsets is not None and torch.equal(perturbations.subsets, self._subsets):
                    perturbations = replace(perturbations, subsets=self._subsets)  # kept once for all blocks
                self._subsets = perturbations.subsets
            self._shared[block.index] = (targets, perturbations)
        block.targets, block.perturbations = self._shared[block.index]
        return block
