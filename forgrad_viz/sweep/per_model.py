"""One model's sweeps: every method's search and every reference on shared blocks, assembled as CutoffSweeps."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from forgrad_viz._utils import preserved_model
from forgrad_viz.results import HIGHER_IS_BETTER, CutoffSweep
from forgrad_viz.sweep.arguments import Settings
from forgrad_viz.sweep.blocks import Blocks
from forgrad_viz.sweep.checkpoint import Checkpoint
from forgrad_viz.sweep.forward_counter import ForwardCounter
from forgrad_viz.sweep.protocol import describe
from forgrad_viz.sweep.scoring import UNFILTERED, Scorer
from forgrad_viz.sweep.search import run_search
from forgrad_viz.sweep.sweeper import MethodRun, Sweeper


def sweep_model(
    model: nn.Module,
    images: torch.Tensor,
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
    progress: bool,
) -> tuple[dict[str, CutoffSweep], dict[str, dict[str, np.ndarray]]]:
    """Search every run's cutoffs and score every reference (name -> options) on ``model``, sharing the targets
    and MuFidelity's predictions; the sweeps (method -> CutoffSweep) and the references' per-image scores.

    The model's mode is restored and no hook is left; ``params["forward_passes"]`` of every sweep counts all the
    images that went through the model in this call.
    """
    counter = ForwardCounter()
    with preserved_model(model), counter.attach(model):
        blocks = Blocks(model, images, targets, settings.protocol, settings.block_size, counter)
        sweeper = Sweeper(
            blocks,
            Scorer(model, settings.protocol, counter),
            settings.grid,
            settings.kind,
            settings.order,
            settings.chunk_size,
            settings.seed,
            Checkpoint(checkpoint, signature),
        )
        with tqdm(desc=label, disable=not progress, unit="unit") as bar:
            found = [run_search(sweeper, run, settings.search, bar) for run in runs]
            reference_scores = {name: sweeper.reference(name, o, bar) for name, o in references.items()}
    sweeps = {
        run.method: build_sweep(
            sweeper,
            run,
            indices,
            image_ids,
            model_name,
            params(settings, run.options, counter),
            reference_scores,
        )
        for run, indices in zip(runs, found, strict=True)
    }
    return sweeps, reference_scores


def params(settings: Settings, options: dict[str, Any], counter: ForwardCounter) -> dict[str, Any]:
    """The ``params`` of a sweep's result: the protocol, the method's options and the forward passes."""
    out = {
        **settings.protocol.describe(),
        "search": settings.search,
        "order": settings.order,
        "method_options": {k: describe(v) for k, v in options.items()},
        "seed": settings.seed,
        "block_size": settings.block_size,
        "unfiltered": UNFILTERED,
        "forward_passes": counter.count,
        "forward_passes_by_stage": dict(sorted(counter.stages.items())),
    }
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
