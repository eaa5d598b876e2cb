"""One model's sweeps: every method's search and every reference on shared blocks, assembled as CutoffSweeps."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from torch import nn

from forgrad_viz._utils import preserved_model
from forgrad_viz.attribution import METHODS
from forgrad_viz.results import HIGHER_IS_BETTER, CutoffSweep
from forgrad_viz.scoring import scoring_model
from forgrad_viz.sweep.arguments import Settings
from forgrad_viz.sweep.blocks import Blocks
from forgrad_viz.sweep.checkpoint import Checkpoint
from forgrad_viz.sweep.distributed import RankInfo, all_gather, block_share, rank_info
from forgrad_viz.sweep.forward_counter import ForwardCounter
from forgrad_viz.sweep.memory import plan_memory
from forgrad_viz.sweep.plan import Plan, make_plan
from forgrad_viz.sweep.probe import Probe, probe
from forgrad_viz.sweep.progress import Progress, feed, start
from forgrad_viz.sweep.protocol import describe
from forgrad_viz.sweep.scoring import UNFILTERED, Scorer
from forgrad_viz.sweep.search import run_search
from forgrad_viz.sweep.source import ImageSource
from forgrad_viz.sweep.sweeper import MethodRun, Sweeper


def sweep_model(
    model: nn.Module,
    source: ImageSource,
    targets: Any,
    settings: Settings,
    runs: Sequence[MethodRun],
    references: dict[str, dict[str, Any]],
    image_ids: np.ndarray,
    model_name: str,
    *,
    checkpoint: str | os.PathLike | None,
    signature: dict[str, Any],
    label: str,
    progress: bool | Progress,
    distributed: bool,
) -> tuple[dict[str, CutoffSweep], dict[str, dict[str, np.ndarray]]]:
    """Search every run's cutoffs and score every reference (name -> options) on ``model``, sharing the targets
    and MuFidelity's predictions; the sweeps (method -> CutoffSweep) and the references' per-image scores.

    A grid search scores every run and reference in one pass over the images. The model's mode is restored and
    no hook is left; ``params["forward_passes"]`` of every sweep counts all the images that went through the
    model in this call (on all ranks of a distributed run). ``progress=True`` prints the plan
    (:mod:`~forgrad_viz.sweep.plan`) on rank 0 and shows one bar for the call; a :class:`Progress` is fed
    instead (one bar for several calls, closed by its owner).
    """
    if not isinstance(progress, (bool, Progress)):
        raise TypeError(f"progress must be True, False or a forgrad_viz.sweep.Progress; got {progress!r}")
    counter = ForwardCounter()
    info = rank_info() if distributed else None
    sweeper = _sweeper(model, source, targets, settings, counter, checkpoint, signature, info)
    refs = [MethodRun(name, o, None, keep_maps=False, reference=True) for name, o in references.items()]
    bar = progress if isinstance(progress, Progress) else None
    shown = progress is True and (info is None or info.rank == 0)
    planned = 0
    if bar is not None or shown:
        plan = make_plan(
            label,
            sweeper,
            settings,
            runs,
            refs,
            targets,
            _world(info),
            _probe(model, sweeper, settings, runs) if shown else None,
        )
        planned = plan.forward_passes
        if shown:
            bar = start([plan], label)
    try:
        with feed(counter, bar, planned, distributed) as settle:
            with preserved_model(model), counter.attach(model, _scoring(model, settings)):
                if settings.search == "grid":
                    sweeper.run_pass(
                        [(run, sweeper.unique, True) for run in runs] + [(r, [], True) for r in refs]
                    )
                    found = [list(range(settings.grid.shape[0]))] * len(runs)
                else:
                    found = [run_search(sweeper, run, settings.search) for run in runs]
                    sweeper.run_pass([(r, [], True) for r in refs])
            passes = _total_passes(counter, distributed)
            settle(passes[0])
    finally:
        if shown and bar is not None:
            bar.close()
    reference_scores = {r.method: sweeper.unfiltered_scores(r) for r in refs}
    job = passes
    if checkpoint is not None:  # a resumed call made only part of the job's passes: count the whole job's
        whole = _sweeper(model, source, targets, settings, ForwardCounter(), None, signature, info)
        plan = make_plan(label, whole, settings, runs, refs, targets, _world(info), None)
        job = (plan.forward_passes, dict(plan.by_stage)) if plan.exact else None
    sweeps = {
        run.method: build_sweep(
            sweeper,
            run,
            indices,
            image_ids,
            model_name,
            {
                **params(settings, run.options, passes, job),
                "map_passes_per_image": map_costs(run, refs, settings),
            },
            reference_scores,
        )
        for run, indices in zip(runs, found, strict=True)
    }
    return sweeps, reference_scores


def plan_model(
    model: nn.Module,
    source: ImageSource,
    targets: Any,
    settings: Settings,
    runs: Sequence[MethodRun],
    references: dict[str, dict[str, Any]],
    *,
    checkpoint: str | os.PathLike | None,
    signature: dict[str, Any],
    label: str,
    distributed: bool,
    probe: bool,
) -> Plan:
    """The :class:`~forgrad_viz.sweep.plan.Plan` of :func:`sweep_model` with the same arguments, before any work
    (``probe=True`` times the model for an estimate: a few seconds)."""
    info = rank_info() if distributed else None
    sweeper = _sweeper(model, source, targets, settings, ForwardCounter(), checkpoint, signature, info)
    refs = [MethodRun(name, o, None, keep_maps=False, reference=True) for name, o in references.items()]
    measured = _probe(model, sweeper, settings, runs) if probe else None
    return make_plan(label, sweeper, settings, runs, refs, targets, _world(info), measured)


def _sweeper(
    model: nn.Module,
    source: ImageSource,
    targets: Any,
    settings: Settings,
    counter: ForwardCounter,
    checkpoint: str | os.PathLike | None,
    signature: dict[str, Any],
    info: RankInfo | None,
) -> Sweeper:
    mine = (
        block_share(len(source.rows), info.rank, info.world_size) if info else list(range(len(source.rows)))
    )
    memory = plan_memory(model, source.shape, max(r.stop - r.start for r in source.rows), settings)
    protocol = replace(settings.protocol, batch_size=memory.forward_batch)  # targets, MuFidelity, curves
    return Sweeper(
        Blocks(model, source, targets, protocol, counter),
        Scorer(model, protocol, counter),
        settings,
        Checkpoint(checkpoint, signature, rank=info.rank if info else None),
        mine,
        info is not None,
        memory,
    )


def _world(info: RankInfo | None) -> int:
    return 1 if info is None else info.world_size


def _probe(model: nn.Module, sweeper: Sweeper, settings: Settings, runs: Sequence[MethodRun]) -> Probe:
    """The model's speed at the sweep's forward batch and each white-box method's (attributions to compute), for
    the plan's estimate."""
    methods = {
        r.method: r.options for r in runs if r.attributions is None and METHODS[r.method].kind == "white-box"
    }
    shape, batch = sweeper.blocks.source.shape, sweeper.memory.forward_batch
    return probe(model, shape, methods, batch, settings.seed, _scoring(model, settings))


def _total_passes(counter: ForwardCounter, distributed: bool) -> tuple[int, dict[str, int]]:
    """The forward passes of this call, summed over the ranks of a distributed run: (total, by stage)."""
    if not distributed:
        return counter.count, dict(counter.stages)
    total, stages = 0, {}
    for count, by_stage in all_gather((counter.count, counter.stages)):
        total += count
        for stage, n in by_stage.items():
            stages[stage] = stages.get(stage, 0) + n
    return total, stages


def map_costs(run: MethodRun, references: Sequence[MethodRun], settings: Settings) -> dict[str, int]:
    """Forward passes per image of the run's method and of each reference (what one map costs; the passes of a
    sweep's counter mix every method and reference of the call)."""
    size = settings.image_size
    if size is None:
        return {}
    return {r.method: int(METHODS[r.method].cost(size, **r.options)["forward"]) for r in [run, *references]}


def params(
    settings: Settings,
    options: dict[str, Any],
    passes: tuple[int, dict[str, int]],
    job: tuple[int, dict[str, int]] | None = None,
) -> dict[str, Any]:
    """The ``params`` of a sweep's result: the protocol, the method's options and the forward passes.

    ``passes`` are the passes this call made (``forward_passes``, ``forward_passes_by_stage``); ``job`` those of
    the whole job, resumed checkpoints included, when known exactly (``job_forward_passes``,
    ``job_forward_passes_by_stage``: what the results cost, whatever the interruptions).
    """
    out = {
        **settings.protocol.describe(),
        "search": settings.search,
        "order": settings.order,
        "padding": settings.padding,
        "image_size": list(settings.image_size) if settings.image_size else None,
        "method_options": {k: describe(v) for k, v in options.items()},
        "seed": settings.seed,
        "block_size": settings.block_size,
        "unfiltered": UNFILTERED,
        "forward_passes": passes[0],
        "forward_passes_by_stage": dict(sorted(passes[1].items())),
    }
    if job is not None:
        out["job_forward_passes"] = job[0]
        out["job_forward_passes_by_stage"] = dict(sorted(job[1].items()))
    if settings.search == "refine":
        out["grid"] = settings.grid.tolist()
    return out


def build_sweep(
    sweeper: Sweeper,
    run: MethodRun,
    indices: list[int],
    image_ids: np.ndarray,
    model_name: str,
    params: dict[str, Any],
    references: dict[str, dict[str, np.ndarray]],
) -> CutoffSweep:
    """The :class:`~forgrad_viz.results.CutoffSweep` of one run at the grid ``indices`` it scored."""
    metrics = sweeper.scorer.protocol.metrics
    return CutoffSweep(
        method=run.method,
        kind=sweeper.kind,
        cutoffs=sweeper.cutoffs[indices],
        metrics=metrics,
        scores={m: sweeper.table(run, indices, m) for m in metrics},
        unfiltered=sweeper.unfiltered_scores(run),
        higher_is_better={m: HIGHER_IS_BETTER[m] for m in metrics},
        image_ids=image_ids,
        model_name=model_name,
        params=params,
        references=references,
    )


def _scoring(model: nn.Module, settings: Settings) -> nn.Module:
    """The module the metrics' forward passes go through (the model itself for fp32 on torch)."""
    return scoring_model(model, settings.protocol.precision, settings.protocol.backend)
