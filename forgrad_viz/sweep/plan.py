"""The work of a sweep before it starts: images x maps x forward passes, counted exactly, and an estimate of the time.

The count follows the engine unit by unit (:class:`~forgrad_viz.sweep.sweeper.Sweeper`: its chunks of cutoffs,
its distinct filters, the units already in the checkpoint, each rank's blocks), with the passes of each stage as
:class:`~forgrad_viz.sweep.forward_counter.ForwardCounter` counts them:

- ``targets``: ``n`` per block whose targets are predicted; one pass per process (the number of classes) when
  they are given (``targets=`` or all of a block's data targets);
- ``mufidelity``: ``n (n_subsets + 1)`` per block;
- ``attributions`` / ``reference attributions``: ``n x`` the method's forward passes per image
  (:meth:`~forgrad_viz.attribution.MethodInfo.cost`) ``+ 1`` (:func:`~forgrad_viz.attribution.explain` checks
  the targets) per call: one call per block (its maps are kept across its chunks of cutoffs, and across rounds in
  a ``"refine"`` search; none for given attributions);
- ``curves``: ``2 n + k n (steps - 1)`` per Deletion/Insertion call of ``k`` maps on ``n`` images (one call per
  unit of work and metric).

Only the blocks with work to do count (a resumed checkpoint's finished units are left out). A ``"refine"``
search depends on the scores it meets: its count is an upper bound (the worst case of the golden-section search,
:func:`refine_bound`), and so is the count of a Dataset whose targets are only known once read.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from forgrad_viz._utils import model_device
from forgrad_viz.attribution import METHODS
from forgrad_viz.metrics import DEFAULT_N_SUBSETS
from forgrad_viz.sweep.checkpoint import unit_key
from forgrad_viz.sweep.distributed import block_share
from forgrad_viz.sweep.probe import Probe
from forgrad_viz.sweep.search import _GOLDEN, next_point
from forgrad_viz.sweep.source import ImageSource
from forgrad_viz.sweep.sweeper import MethodRun, Sweeper

if TYPE_CHECKING:
    from forgrad_viz.sweep.arguments import Settings

#: An estimate above this many seconds comes with the options that shrink the work.
LONG_SECONDS = 30 * 60
#: The options that shrink a sweep, named in the plan when it is long.
_SHRINK = (
    "fewer cutoffs, search='refine', fewer steps or fewer MuFidelity subsets (mufidelity={'n_subsets': ...})"
)
#: States of the worst-case search explored by :func:`refine_bound` before it falls back to "every filter".
_BOUND_STATES = 20_000


@dataclass(frozen=True)
class Plan:
    """The work of a sweep (or of several, added with ``+``), stated before it starts.

    Attributes
    ----------
    label : str
        What is planned (``"sweep saliency"``, ``"compare"``...).
    images : int
        Images of the sweep.
    maps : int
        Maps scored per image: each method's distinct filters and unfiltered map, and each reference.
    forward_passes : int
        Images through the model, all stages and processes: exact when :attr:`exact`, else an upper bound.
    by_stage : Mapping[str, int]
        ``forward_passes`` by stage (the keys of ``params["forward_passes_by_stage"]``).
    exact : bool
        False for an upper bound (``search="refine"``, or targets known only once the images are read).
    seconds : float or None
        Estimated seconds: the forward passes at the probe's rate, the white-box attributions at their probed
        time per image (None without a probe). The filter, rankings and masks come on top.
    probe : Probe or None
        The measurement behind :attr:`seconds`.
    memory_budget : int or None
        Bytes of working memory the sweep's batches and chunk of cutoffs are sized to
        (:mod:`~forgrad_viz.sweep.memory`), or None without a budget (CUDA by default).
    chunk_size : int
        Cutoffs filtered and scored together.
    device : str
        The model's device.
    processes : int
        Processes sharing the blocks.
    notes : tuple of str
        What else the reader should know (checkpointed units, why the count is a bound).

    Examples
    --------
    >>> import forgrad_viz as fv
    >>> net = fv.models.load_demo("maxpool_cnn")
    >>> plan = fv.sweep.plan_sweep(net, fv.data.shapes_dataset(4).images, cutoffs=[2.0, 8.0], steps=4,
    ...                            metrics=("deletion",), probe=False)
    >>> plan.forward_passes, dict(plan.by_stage)  # curves: 2 x 4 endpoints + 3 maps x 4 images x 3 steps
    (53, {'attributions': 5, 'curves': 44, 'targets': 4})
    """

    label: str
    images: int
    maps: int
    forward_passes: int
    by_stage: Mapping[str, int]
    exact: bool
    seconds: float | None = None
    probe: Probe | None = None
    memory_budget: int | None = None
    chunk_size: int = 1
    device: str = "cpu"
    processes: int = 1
    notes: tuple[str, ...] = field(default=())

    def __add__(self, other: Plan) -> Plan:
        if not isinstance(other, Plan):
            return NotImplemented
        both = (self.seconds, other.seconds)
        return Plan(
            label=f"{self.label} + {other.label}",
            images=max(self.images, other.images),
            maps=self.maps + other.maps,
            forward_passes=self.forward_passes + other.forward_passes,
            by_stage=dict(Counter(self.by_stage) + Counter(other.by_stage)),
            exact=self.exact and other.exact,
            seconds=None if None in both else both[0] + both[1],
            probe=self.probe or other.probe,
            memory_budget=self.memory_budget,
            chunk_size=max(self.chunk_size, other.chunk_size),
            device=self.device,
            processes=self.processes,
            notes=tuple(dict.fromkeys(self.notes + other.notes)),
        )

    def describe(self, shrink: str = _SHRINK) -> str:
        """One short paragraph: the work, the estimate and the memory budget; past :data:`LONG_SECONDS`, the
        options that ``shrink`` the work."""
        bound = "" if self.exact else "at most "
        stages = ", ".join(
            f"{stage} {n:,}" for stage, n in sorted(self.by_stage.items(), key=lambda s: -s[1])
        )
        text = (
            f"Plan ({self.label}): {self.images:,} images x {bound}{self.maps:,} maps = {bound}"
            f"{self.forward_passes:,} forward passes ({stages or 'none'})"
        )
        if self.processes > 1:
            text += f" over {self.processes} processes"
        if self.seconds is not None and self.probe is not None:
            text += (
                f"; about {bound}{_duration(self.seconds)} at {self.probe.rate:,.0f} passes/s (probe: one batch of "
                f"{self.probe.batch} on {self.device}"
            )
            text += "".join(f", {m} {s:.2g} s/image" for m, s in self.probe.attribution.items()) + ")"
        if self.memory_budget is not None:
            text += f"; working-memory budget {self.memory_budget / 2**20:,.0f} MiB"
        text += f" ({self.chunk_size} cutoffs per chunk)."
        if self.notes:
            text += " " + " ".join(self.notes)
        if self.seconds is not None and self.seconds > LONG_SECONDS:
            text += f" This is over {LONG_SECONDS // 60} minutes: {shrink} shrink it."
        return text


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"
    )


def data_targets(source: ImageSource) -> np.ndarray | None:
    """The targets the data gives, one per image (-1: predicted), when known without reading the images.

    A tensor gives none (``np.full(n, -1)``); a Dataset (or a DataLoader's, through ``Subset``) gives its
    ``targets`` attribute (torchvision's convention) or its ``TensorDataset`` labels; otherwise None: unknown.
    """

    def targets_of(dataset: Any) -> np.ndarray | None:
        if isinstance(dataset, Subset):
            inner = targets_of(dataset.dataset)
            return None if inner is None else inner[np.asarray(dataset.indices, dtype=np.int64)]
        if isinstance(dataset, TensorDataset):
            tensors = dataset.tensors
            return np.full(len(dataset), -1) if len(tensors) == 1 else np.asarray(tensors[1]).reshape(-1)
        values = getattr(dataset, "targets", None)
        if values is None or len(values) != len(dataset):
            return None
        return np.asarray([-1 if v is None else int(v) for v in values], dtype=np.int64)

    images = source.images
    if isinstance(images, torch.Tensor):
        return np.full(source.n, -1)
    return targets_of(images.dataset if isinstance(images, DataLoader) else images)


def refine_bound(n_filters: int, n_metrics: int, chunk_size: int, steps: int) -> tuple[int, int]:
    """Worst case of the ``"refine"`` search on ``n_filters`` distinct filters: (cost, points).

    ``cost`` bounds ``2 units + (steps - 1) points`` over the search (the curve passes per image and curve metric,
    the unfiltered map apart) and ``points`` the filters scored, whatever the scores: after each round a metric's
    best is its previous best or one of the new points, and every such choice is explored (past
    :data:`_BOUND_STATES` states, every filter is counted instead).

    Examples
    --------
    >>> refine_bound(24, 1, 100, 2)[1], refine_bound(24, 3, 100, 2)[1]
    (5, 10)
    """
    first = sorted({round(_GOLDEN * (n_filters - 1)), round((1 - _GOLDEN) * (n_filters - 1))})
    weight = steps - 1
    memo: dict[tuple, tuple[int, int]] = {}

    def worst(evaluated: tuple[int, ...], bests: tuple[int, ...]) -> tuple[int, int]:
        if (evaluated, bests) in memo:
            return memo[evaluated, bests]
        if len(memo) > _BOUND_STATES:
            raise OverflowError
        proposals = {next_point(b, list(evaluated), n_filters) for b in bests} - {None}
        request = tuple(sorted(proposals - set(evaluated)))
        out = (0, 0)
        if request:
            later = tuple(sorted(set(evaluated) | set(request)))
            outcomes = [worst(later, tuple(sorted(c))) for c in _choices(bests, request)]
            cost = 2 * math.ceil(len(request) / chunk_size) + weight * len(request)
            out = (cost + max(o[0] for o in outcomes), len(request) + max(o[1] for o in outcomes))
        memo[evaluated, bests] = out
        return out

    start = (2 * math.ceil(len(first) / chunk_size) + weight * len(first), len(first))
    try:
        outcomes = [worst(tuple(first), tuple(sorted(c))) for c in _choices((), tuple(first), n_metrics)]
        return start[0] + max(o[0] for o in outcomes), start[1] + max(o[1] for o in outcomes)
    except OverflowError:
        rest = n_filters - len(first)
        return start[0] + (2 + weight) * rest, n_filters


def _choices(bests: tuple[int, ...], request: tuple[int, ...], n: int | None = None) -> set[tuple[int, ...]]:
    """Every metric's possible next best (its best or a new point), as sorted tuples (metrics are alike)."""
    options = [(b, *request) for b in bests] if n is None else [request] * n
    out: set[tuple[int, ...]] = {()}
    for choice in options:
        out = {tuple(sorted((*c, o))) for c in out for o in choice}
    return out


@dataclass
class Work:
    """What :func:`count_work` counts: forward passes by stage, white-box attributions, filters scored, notes."""

    passes: Counter = field(default_factory=Counter)
    explained: Counter = field(default_factory=Counter)  # white-box method -> images explained
    whitebox_passes: int = 0  # of those explanations
    filters: int = 0  # distinct filters scored per method (a bound for "refine")
    notes: list[str] = field(default_factory=list)


def count_work(
    sweeper: Sweeper,
    runs: Sequence[MethodRun],
    references: Sequence[MethodRun],
    search: str,
    given: np.ndarray | None,
    explicit_targets: bool,
    world_size: int,
) -> Work:
    """The work of one model's sweeps (``runs``) and ``references`` over every rank's blocks, unit by unit."""
    protocol = sweeper.scorer.protocol
    curve_metrics = sum(m in ("deletion", "insertion") for m in protocol.metrics)
    n_subsets = protocol.mufidelity.get("n_subsets", DEFAULT_N_SUBSETS)
    image_size = tuple(sweeper.blocks.source.shape[1:])
    rows = sweeper.blocks.rows
    work = Work(filters=len(sweeper.unique))
    skipped = 0

    def attribute(run: MethodRun, n: int, calls: int) -> None:
        if run.attributions is None and calls:
            passes = calls * (n * METHODS[run.method].cost(image_size, **run.options)["forward"] + 1)
            work.passes["reference attributions" if run.reference else "attributions"] += passes
            if METHODS[run.method].kind == "white-box":
                work.explained[run.method] += calls * n
                work.whitebox_passes += passes

    bound = None
    if search == "refine":
        bound = refine_bound(len(sweeper.unique), len(protocol.metrics), sweeper.chunk_size, protocol.steps)
        work.filters = bound[1]
    tasks = [(r, sweeper.unique, True) for r in runs] + [(r, [], True) for r in references]
    for rank in range(world_size):
        classes = False
        for index in block_share(len(rows), rank, world_size):
            n = rows[index].stop - rows[index].start
            busy = False
            for run, indices, first in tasks:
                if bound is not None and not run.reference:  # the worst case, checkpoint or not
                    work.passes["curves"] += curve_metrics * n * (bound[0] + protocol.steps - 1)
                    attribute(run, n, 1)
                    busy = True
                    continue
                units = sweeper._units(indices, first)
                todo = [u for u in units if unit_key(run.method, index, *u) not in sweeper.checkpoint.units]
                skipped += len(units) - len(todo)
                busy = busy or bool(todo)
                for part, with_unfiltered in todo:
                    maps = len(part) + int(with_unfiltered)
                    work.passes["curves"] += curve_metrics * (2 * n + maps * n * (protocol.steps - 1))
                attribute(run, n, min(len(todo), 1))  # one explain call per block (maps kept across chunks)
            if not busy:
                continue
            block_given = None if given is None else given[rows[index]]
            if explicit_targets or (block_given is not None and bool((block_given >= 0).all())):
                classes = True  # the number of classes, once per process
            else:
                work.passes["targets"] += n
            if "mufidelity" in protocol.metrics:
                work.passes["mufidelity"] += n * (n_subsets + 1)
        work.passes["targets"] += int(classes)
    work.passes = +work.passes
    if skipped:
        work.notes.append(f"{skipped:,} units of work already in the checkpoint are left out.")
    if bound is not None:
        work.notes.append("search='refine' stops once sigma* is pinned: these counts are its worst case.")
    if given is None and not explicit_targets:
        work.notes.append("The data's targets are known once read: their passes are counted as predicted.")
    return work


def make_plan(
    label: str,
    sweeper: Sweeper,
    settings: Settings,
    runs: Sequence[MethodRun],
    references: Sequence[MethodRun],
    targets: Any,
    world_size: int,
    probe: Probe | None,
) -> Plan:
    """The :class:`Plan` of one model's sweeps (``runs``) and ``references`` on the sweeper's blocks.

    ``probe`` (or None) gives the estimate of the time.
    """
    given = data_targets(sweeper.blocks.source)
    work = count_work(sweeper, runs, references, settings.search, given, targets is not None, world_size)
    total = sum(work.passes.values())
    seconds = None
    if probe is not None:
        attributions = sum(n * probe.attribution[m] for m, n in work.explained.items())
        seconds = (total - work.whitebox_passes) / probe.rate + attributions
    device = model_device(sweeper.scorer.model)
    return Plan(
        label=label,
        images=sweeper.blocks.source.n,
        maps=len(runs) * (work.filters + 1) + len(references),
        forward_passes=total,
        by_stage=dict(sorted(work.passes.items())),
        exact=settings.search != "refine" and (given is not None or targets is not None),
        seconds=seconds,
        probe=probe,
        memory_budget=sweeper.memory.budget,
        chunk_size=min(sweeper.chunk_size, max(work.filters, 1)),
        device=str(device),
        processes=world_size,
        notes=tuple(work.notes),
    )
