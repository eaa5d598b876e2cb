"""compare_architectures: sigma* per model x method x metric, next to the unfiltered maps and black-box references."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from forgrad_viz._utils import check_model, check_positive_int
from forgrad_viz.metrics import DEFAULT_STEPS
from forgrad_viz.results import ArchitectureComparison, CutoffSweep
from forgrad_viz.sweep.arguments import (
    DEFAULT_REFERENCES,
    check_image_ids,
    check_method_options,
    check_references,
    check_settings,
    shared_arguments,
)
from forgrad_viz.sweep.blocks import DEFAULT_BLOCK_SIZE
from forgrad_viz.sweep.checkpoint import signature
from forgrad_viz.sweep.distributed import rank_device, rank_info, use_distributed
from forgrad_viz.sweep.per_model import plan_model, sweep_model
from forgrad_viz.sweep.progress import start
from forgrad_viz.sweep.protocol import DEFAULT_METRICS, describe
from forgrad_viz.sweep.source import ImageData, ImageSource
from forgrad_viz.sweep.sweeper import MethodRun


def compare_architectures(
    models: Mapping[str, nn.Module],
    images: ImageData,
    targets: Any = None,
    methods: Sequence[str] = ("saliency",),
    metrics: Sequence[str] = DEFAULT_METRICS,
    references: Sequence[str] = DEFAULT_REFERENCES,
    cutoffs: Sequence[float] | np.ndarray | None = None,
    kind: str = "ideal",
    *,
    search: str = "grid",
    order: int = 2,
    padding: str | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    reference_options: Mapping[str, Mapping[str, Any]] | None = None,
    steps: int = DEFAULT_STEPS,
    deletion_baseline: Any = 0.0,
    insertion_baseline: Any = "blur",
    score: str = "probability",
    mufidelity: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    precision: str = "fp32",
    backend: str = "torch",
    block_size: int = DEFAULT_BLOCK_SIZE,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    seed: int = 0,
    image_ids: Sequence[int] | np.ndarray | None = None,
    distributed: bool | None = None,
) -> ArchitectureComparison:
    """sigma* per model x method x metric, faithfulness unfiltered versus at sigma*, and black-box references.

    For every model, the targets and MuFidelity's perturbed predictions are computed once and shared by all the
    methods and references; each white-box method gets a :func:`sweep_cutoffs` sweep; each black-box reference
    (RISE, Occlusion) is scored unfiltered with the same metrics on the same images.

    Parameters
    ----------
    models : dict
        Name -> classifier (all taking the same images).
    images : torch.Tensor, Dataset or DataLoader
        (N, 3, H, W) images, or a Dataset/DataLoader read one block at a time, as in :func:`sweep_cutoffs`.
    targets : None, int or sequence of int
        Classes to explain; ``None`` uses the data's targets if any, else each model's predicted class.
    methods : sequence of str
        White-box methods to sweep.
    metrics, cutoffs, kind, search, order, padding, steps, deletion_baseline, insertion_baseline, score, mufidelity,
    batch_size, precision, backend, block_size, chunk_size, memory_budget, progress, seed, image_ids, distributed
        As in :func:`sweep_cutoffs`; ``progress=True`` prints one plan for every model and shows one bar.
    references : sequence of str
        Black-box methods scored unfiltered (``("rise", "occlusion")`` by default; ``()`` for none).
    method_options, reference_options : dict, optional
        Method name -> options for :func:`~forgrad_viz.attribution.explain` (e.g.
        ``{"rise": {"n_masks": 500}}``).
    checkpoint : path, optional
        A folder of checkpoints, one JSON Lines file per model (``<folder>/<model name>.jsonl``, created as
        needed): an interrupted comparison called again with the same arguments resumes where it stopped and
        returns the same result (see :func:`sweep_cutoffs`).

    Returns
    -------
    ArchitectureComparison
        ``.rows()``, ``.to_markdown()``, ``.to_csv()``, ``.plot()``, ``.save()``.

    Examples
    --------
    >>> import torch
    >>> def net():
    ...     return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
    ...                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> comparison = compare_architectures({"a": net(), "b": net()}, torch.rand(4, 3, 16, 16),
    ...                                    metrics=("insertion",), references=("rise",), cutoffs=[2.0, 8.0],
    ...                                    steps=4, reference_options={"rise": {"n_masks": 32}}, progress=False)
    >>> [row["method"] for row in comparison.rows()]
    ['saliency', 'rise', 'saliency', 'rise']
    """
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty dict of name -> torch.nn.Module")
    for name, model in models.items():
        check_model(model, f"models[{name!r}]")
    source = ImageSource(images, check_positive_int(block_size, "block_size"))
    distributed = use_distributed(distributed)
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if not methods:
        raise ValueError("methods must name at least one attribution method")
    method_options = dict(method_options or {})
    options = {m: check_method_options(m, method_options.get(m), "methods") for m in methods}
    refs = check_references(references, reference_options)
    settings = check_settings(source.shape, **shared_arguments(locals()))
    ids = check_image_ids(image_ids, source.n)
    folder = None if checkpoint is None else Path(checkpoint)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    described = {
        **settings.describe(),
        "methods": {m: {o: describe(v) for o, v in options[m].items()} for m in methods},
        "references": {k: {o: describe(v) for o, v in d.items()} for k, d in refs.items()},
    }
    sweeps: dict[str, dict[str, CutoffSweep]] = {}
    reference_scores: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    if distributed:
        for model in models.values():
            model.to(rank_device())

    def runs() -> list[MethodRun]:
        return [MethodRun(m, options[m], None, keep_maps=search == "refine") for m in methods]

    def job(name: str) -> dict[str, Any]:
        """Each model's checkpoint and its signature (the model's name in it: a file never mixes models)."""
        if folder is None:
            return {"checkpoint": None, "signature": {}, "distributed": distributed}
        common = {**described, "model": name}
        return {
            "checkpoint": folder / f"{name}.jsonl",
            "signature": signature(kind, source.n, ids, targets, common),
            "distributed": distributed,
        }

    bar = progress
    if progress is True and rank_info().rank == 0:  # one plan and one bar for every model
        plans = [
            plan_model(model, source, targets, settings, runs(), refs, label=name, probe=True, **job(name))
            for name, model in models.items()
        ]
        bar = start(plans, f"compare {', '.join(models)}")
    try:
        for name, model in models.items():
            sweeps[name], reference_scores[name] = sweep_model(
                model,
                source,
                targets,
                settings,
                runs(),
                refs,
                ids,
                name,
                label=f"compare {name}",
                progress=bar,
                **job(name),
            )
    finally:
        if bar is not progress:
            bar.close()
    return ArchitectureComparison(sweeps=sweeps, references=reference_scores)
