"""The images of a sweep in blocks, with what every map of a block shares: targets and MuFidelity predictions.

A block is the unit of checkpointing and of sharding: shards that start on a block boundary give bit-identical
scores to an unsharded run, because every forward pass sees the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import iter_chunks, resolve_targets
from forgrad_viz.metrics import MuFidelityPerturbations, mufidelity_perturbations
from forgrad_viz.sweep.forward_counter import ForwardCounter
from forgrad_viz.sweep.protocol import Protocol

#: Images per block (unit of checkpointing and sharding) by default.
DEFAULT_BLOCK_SIZE = 32


@dataclass
class Block:
    """One block of images with what every map of the block shares: targets and MuFidelity predictions."""

    index: int
    rows: slice
    images: torch.Tensor
    targets: torch.Tensor
    perturbations: MuFidelityPerturbations | None


class Blocks:
    """The images split into blocks of ``block_size``; each block's shared work is computed on first use."""

    def __init__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        targets: Any,
        protocol: Protocol,
        block_size: int,
        counter: ForwardCounter,
    ) -> None:
        self.model = model
        self.images = images
        self.protocol = protocol
        self.counter = counter
        self.rows = list(iter_chunks(images.shape[0], block_size))
        self._targets = None if targets is None else self._explicit_targets(targets)
        self._cache: dict[int, Block] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def _explicit_targets(self, targets: Any) -> torch.Tensor:
        with self.counter.stage("targets"):
            return resolve_targets(self.model, self.images, targets, self.protocol.batch_size)

    def block(self, index: int) -> Block:
        """The block's images, targets and MuFidelity predictions (computed on first use, then kept)."""
        if index not in self._cache:
            rows = self.rows[index]
            images = self.images[rows]
            if self._targets is None:
                with self.counter.stage("targets"):
                    targets = resolve_targets(self.model, images, None, self.protocol.batch_size)
            else:
                targets = self._targets[rows]
            perturbations = None
            if "mufidelity" in self.protocol.metrics:
                with self.counter.stage("mufidelity"):
                    perturbations = mufidelity_perturbations(
                        self.model,
                        images,
                        targets,
                        **self.protocol.mufidelity,
                        batch_size=self.protocol.batch_size,
                    )
            self._cache[index] = Block(index, rows, images, targets, perturbations)
        return self._cache[index]
