"""The units of work of a sweep on one model: a method's maps, chunks of cutoffs, rounds over the blocks.

A round scores some cutoffs of the grid on every block, one unit of work (a chunk of ``chunk_size`` cutoffs of
one block) at a time, taking finished units from the checkpoint. The attributions are computed once per block
(one :func:`~forgrad_viz.attribution.explain` call) and the forward FFT of each map once for all the cutoffs of a
chunk (:func:`~forgrad_viz.filters.iter_forgrad`); cutoffs whose filter equals a smaller cutoff's are scored
once (:func:`representatives`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from forgrad_viz._memory import release_free_memory
from forgrad_viz._utils import iter_chunks
from forgrad_viz.attribution import METHODS, explain
from forgrad_viz.filters import frequency_mask, iter_forgrad
from forgrad_viz.filters.padding import padded_cutoffs, padded_size
from forgrad_viz.scoring import scoring_model
from forgrad_viz.sweep.blocks import Block, Blocks
from forgrad_viz.sweep.checkpoint import Checkpoint, fingerprint, unit_key
from forgrad_viz.sweep.distributed import all_gather, rank_info
from forgrad_viz.sweep.memory import MemoryPlan
from forgrad_viz.sweep.scoring import Scorer, unfiltered

if TYPE_CHECKING:
    from forgrad_viz.sweep.arguments import Settings


@dataclass
class MethodRun:
    """State of one method's sweep over the blocks: the maps kept for later rounds and the scores so far."""

    method: str
    options: dict[str, Any]
    attributions: torch.Tensor | None
    keep_maps: bool
    reference: bool = False
    maps: dict[int, torch.Tensor] = field(default_factory=dict)
    scores: dict[int, dict[int, dict[str, np.ndarray]]] = field(default_factory=dict)  # block -> index -> m
    unfiltered: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    current: tuple[int, torch.Tensor] | None = None  # the maps of the block being scored (block index, maps)


class Sweeper:
    """Runs the units of work of one or more sweeps on one model, sharing the blocks and the :class:`Scorer`.

    ``mine`` are the blocks this process scores; in a distributed run the scores of the others' blocks arrive
    by :func:`~forgrad_viz.sweep.distributed.all_gather` after each pass, so every rank holds every score.
    """

    def __init__(
        self,
        blocks: Blocks,
        scorer: Scorer,
        settings: Settings,
        checkpoint: Checkpoint,
        mine: list[int],
        distributed: bool,
        memory: MemoryPlan,
    ) -> None:
        self.blocks = blocks
        self.scorer = scorer
        self.cutoffs = settings.grid
        self.kind = settings.kind
        self.order = settings.order
        self.padding = settings.padding
        self.seed = settings.seed
        self.checkpoint = checkpoint
        self.mine = mine
        self.distributed = distributed
        _, h, w = blocks.source.shape
        self.memory = memory
        self.chunk_size = memory.chunk_size
        self.representative = representatives(self.cutoffs, h, w, self.kind, self.order, self.padding)
        self.unique = sorted(set(self.representative))

    def _maps(self, run: MethodRun, block: Block) -> torch.Tensor:
        """The block's unfiltered maps (n, H, W): given attributions or one :func:`explain` call."""
        if block.index in run.maps:
            return run.maps[block.index].to(block.images.device)
        if run.current is not None and run.current[0] == block.index:  # another chunk of cutoffs, same block
            return run.current[1]
        if run.attributions is not None:
            attributions = run.attributions[block.rows].to(block.images.device)
        else:
            with self.scorer.counter.stage("reference attributions" if run.reference else "attributions"):
                attributions = explain(
                    self._explainer(run.method),
                    block.images,
                    block.targets,
                    run.method,
                    batch_size=self.memory.explain_batch(METHODS[run.method].kind),
                    seed=self.seed,
                    **run.options,
                )
        maps = unfiltered(attributions)
        del attributions
        release_free_memory()  # the attribution passes' activations, before a unit's maps
        if run.keep_maps:
            run.maps[block.index] = maps.cpu()  # later rounds of a search; off the device
        run.current = (block.index, maps)  # one explain call per block, whatever the chunks of cutoffs
        return maps

    def _explainer(self, method: str) -> nn.Module:
        """The model a method's maps come from: black-box methods (forward passes only) run on the scoring
        model (the protocol's precision and backend), gradient methods on the model itself, in fp32."""
        if METHODS[method].kind != "black-box":
            return self.scorer.model
        protocol = self.scorer.protocol
        return scoring_model(self.scorer.model, protocol.precision, protocol.backend)

    def _units(self, indices: list[int], with_unfiltered: bool) -> list[tuple[list[int], bool]]:
        """Chunks of cutoff indices scored together; the unfiltered map joins the first chunk."""
        parts = [indices[part] for part in iter_chunks(len(indices), self.chunk_size)] or [[]]
        return [(part, with_unfiltered and i == 0) for i, part in enumerate(parts)]

    def run_round(self, run: MethodRun, indices: list[int], first: bool) -> None:
        """Score ``indices`` of the cutoff grid (and the unfiltered map on the first round) on every block."""
        self.run_pass([(run, indices, first)])

    def run_pass(self, tasks: list[tuple[MethodRun, list[int], bool]]) -> None:
        """One pass over this process's blocks, scoring every task ``(run, grid indices, with unfiltered)`` on
        each block while it is held; finished units come from the checkpoint."""
        plan = [(run, self._units(indices, first)) for run, indices, first in tasks]
        todo = self._expect(plan)
        done: list[tuple[int, int, list[int], bool, dict[str, np.ndarray]]] = []
        for block in self.blocks.read(self.mine) if self.mine else ():
            images = fingerprint(block.images) if self.checkpoint.path is not None else None
            for t, (run, units) in enumerate(plan):
                for part, with_unfiltered in units:
                    key = unit_key(run.method, block.index, part, with_unfiltered)
                    scores = self.checkpoint.get(key, images) if key not in todo else None
                    if scores is None:
                        self.blocks.complete(block)
                        scores = self._score_unit(run, block, part, with_unfiltered)
                        release_free_memory()  # the unit's maps and activations
                        self.checkpoint.put(key, images, scores)
                    self._store(run, block.index, part, with_unfiltered, scores)
                    done.append((t, block.index, part, with_unfiltered, scores))
        if self.distributed:
            for t, index, part, with_unfiltered, scores in _others(done):
                self._store(plan[t][0], index, part, with_unfiltered, scores)

    def _expect(self, plan: list[tuple[MethodRun, list[tuple[list[int], bool]]]]) -> set[str]:
        """The keys of the units to compute (not in the checkpoint; :mod:`~forgrad_viz.sweep.plan` counts them)."""
        todo = set()
        for index in self.mine:
            for run, units in plan:
                for part, with_unfiltered in units:
                    key = unit_key(run.method, index, part, with_unfiltered)
                    if key not in self.checkpoint.units:
                        todo.add(key)
        return todo

    def _score_unit(
        self, run: MethodRun, block: Block, part: list[int], with_unfiltered: bool
    ) -> dict[str, np.ndarray]:
        maps = self._maps(run, block)
        stack = []
        if part:
            chunks = iter_forgrad(
                maps, self.cutoffs[part], len(part), self.kind, self.order, padding=self.padding
            )
            _, filtered = next(chunks)
            stack.append(filtered)
        if with_unfiltered:
            stack.insert(0, maps.unsqueeze(0))
        return self.scorer.score(block, torch.cat(stack, dim=0))

    @staticmethod
    def _store(
        run: MethodRun, index: int, part: list[int], with_unfiltered: bool, scores: dict[str, np.ndarray]
    ) -> None:
        offset = int(with_unfiltered)
        if with_unfiltered:
            run.unfiltered[index] = {m: v[0] for m, v in scores.items()}
        by_index = run.scores.setdefault(index, {})
        for j, grid_index in enumerate(part):
            by_index[grid_index] = {m: v[offset + j] for m, v in scores.items()}

    def means(self, run: MethodRun, indices: list[int]) -> dict[str, np.ndarray]:
        """Mean over all images of each metric at the given grid indices: metric -> (len(indices),)."""
        return {m: self.table(run, indices, m).mean(axis=1) for m in self.scorer.protocol.metrics}

    def table(self, run: MethodRun, indices: list[int], metric: str) -> np.ndarray:
        """Scores (len(indices), N) of one metric, blocks concatenated in order.

        A cutoff whose filter equals a smaller cutoff's (the same ideal mask) takes the scores of that one.
        """
        rep = self.representative
        return np.concatenate(
            [np.stack([run.scores[b][rep[i]][metric] for i in indices]) for b in range(len(self.blocks))],
            axis=1,
        )

    def unfiltered_scores(self, run: MethodRun) -> dict[str, np.ndarray]:
        """Per-image scores (N,) of the run's unfiltered map, for every metric, blocks concatenated in order."""
        return {
            m: np.concatenate([run.unfiltered[b][m] for b in range(len(self.blocks))])
            for m in self.scorer.protocol.metrics
        }


def representatives(
    cutoffs: np.ndarray, height: int, width: int, kind: str, order: int, padding: str | None = None
) -> list[int]:
    """For each cutoff, the index of the smallest cutoff with the same filter (ideal masks repeat on a fine
    grid: 1 and 1.2 cycles per image keep the same bins), so that identical maps are scored once. With
    ``padding`` the filters compared are those of the padded map (a finer grid of frequencies)."""
    size = padded_size(height, width, padding)
    masks = frequency_mask(*size, padded_cutoffs(tuple(cutoffs.tolist()), padding), kind=kind, order=order)
    representative = [0]
    for i in range(1, cutoffs.shape[0]):
        same = bool(torch.equal(masks[i], masks[i - 1]))
        representative.append(representative[-1] if same else i)
    return representative


def _others(done: list) -> list:
    """The units the other ranks finished in this pass (gathered from every rank)."""
    rank = rank_info().rank
    return [unit for r, units in enumerate(all_gather(done)) if r != rank for unit in units]
