"""sweep_cutoffs: faithfulness of one method's FORGrad maps over many cutoffs on one model, resumable."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from forgrad_viz._utils import check_model, check_positive_int
from forgrad_viz.metrics import DEFAULT_STEPS
from forgrad_viz.results import CutoffSweep
from forgrad_viz.sweep.arguments import (
    check_attributions,
    check_image_ids,
    check_method_options,
    check_references,
    check_settings,
    shared_arguments,
)
from forgrad_viz.sweep.blocks import DEFAULT_BLOCK_SIZE
from forgrad_viz.sweep.checkpoint import fingerprint, signature
from forgrad_viz.sweep.distributed import rank_device, use_distributed
from forgrad_viz.sweep.per_model import plan_model, sweep_model
from forgrad_viz.sweep.plan import Plan
from forgrad_viz.sweep.progress import Progress
from forgrad_viz.sweep.protocol import DEFAULT_METRICS, describe
from forgrad_viz.sweep.source import ImageData, ImageSource
from forgrad_viz.sweep.sweeper import MethodRun


def sweep_cutoffs(
    model: nn.Module,
    images: ImageData,
    targets: Any = None,
    method: str = "saliency",
    cutoffs: Sequence[float] | np.ndarray | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    kind: str = "ideal",
    search: str = "grid",
    *,
    order: int = 2,
    padding: str | None = None,
    attributions: torch.Tensor | None = None,
    method_options: Mapping[str, Any] | None = None,
    references: Sequence[str] = (),
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
    progress: bool | Progress = True,
    checkpoint: str | os.PathLike | None = None,
    seed: int = 0,
    model_name: str = "",
    image_ids: Sequence[int] | np.ndarray | None = None,
    distributed: bool | None = None,
) -> CutoffSweep:
    """Faithfulness of FORGrad maps at many cutoffs, per image, with the unfiltered map as reference.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier taking [0, 1] images and returning logits; its mode is restored and no hook is left.
    images : torch.Tensor, Dataset or DataLoader
        (N, 3, H, W) float images in [0, 1] (never modified), or a ``torch.utils.data.Dataset`` of images
        (3, H, W) or pairs ``(image, target)``, or a ``DataLoader`` (not shuffling) of such batches: read one
        block at a time, never whole (see :mod:`forgrad_viz.sweep`). Blocks are moved to the model's device.
    targets : None, int or sequence of int
        Classes to explain and score; ``None`` (default) uses the data's targets when a Dataset/DataLoader gives
        them (``-1`` meaning the predicted class), else the predicted class, resolved once and shared by every
        metric and cutoff.
    method : str
        Attribution method of :data:`~forgrad_viz.attribution.METHODS` (``"saliency"`` by default).
    cutoffs : sequence of float, optional
        Ascending cutoffs in cycles per image. Default: :func:`~forgrad_viz.filters.default_cutoffs`, log-spaced
        from 1 to :func:`~forgrad_viz.filters.max_cutoff` (which removes nothing), one per distinct ideal filter
        (22 at 224 x 224).
    metrics : sequence of str
        Any of ``"deletion"``, ``"insertion"``, ``"mufidelity"``.
    kind : {"ideal", "gaussian", "butterworth"}
        Low-pass filter (``"ideal"`` is the paper's); ``order`` is the Butterworth order.
    padding : {None, "reflect", "zero"}
        Padding of the maps before the filter (:func:`~forgrad_viz.filters.forgrad`): ``None`` (default) is the
        paper's periodic FFT; ``"reflect"``/``"zero"`` pad each side by half the map so that a region at one
        edge does not spread onto the opposite one. Recorded in ``params["padding"]``.
    search : {"grid", "refine"}
        ``"grid"`` scores every cutoff. ``"refine"`` runs a coarse-to-fine (golden-section) search of each
        metric's best cutoff on the grid, assuming the mean score is unimodal in the cutoff (the inverted U of the
        paper): it scores the two golden points of the grid, then one point per metric per round, until the best
        cutoff is pinned within one grid step. The result holds only the cutoffs scored.
    attributions : torch.Tensor, optional
        Precomputed (N, C, H, W) or (N, H, W) attributions to reuse instead of calling ``explain``.
    method_options : dict, optional
        Options passed to :func:`~forgrad_viz.attribution.explain` (e.g. ``{"n_steps": 16}``).
    references : sequence of str
        Black-box methods (e.g. ``("rise", "occlusion")``) scored unfiltered on the same images; stored in
        ``sweep.references``. ``reference_options`` maps a reference to its ``explain`` options.
    steps : int
        Deletion/Insertion steps (curves of ``steps + 1`` points).
    deletion_baseline, insertion_baseline
        Baselines of Deletion (0.0, black) and Insertion (``"blur"``), see :mod:`forgrad_viz.metrics`.
    score : {"probability", "logit"}
        The target score of every metric.
    mufidelity : dict, optional
        MuFidelity options: ``grid_size`` (9), ``subset_fraction`` (0.2), ``n_subsets`` (200), ``baseline``
        (0.0), ``seed`` (0).
    batch_size : int, optional
        Inputs per forward pass; automatic by default.
    precision : {"fp32", "bf16", "fp16"}
        Precision of the forward passes that score maps (:func:`~forgrad_viz.scoring.scoring_model`;
        ``"fp16"`` on CUDA only). Attributions always run in fp32. Recorded in ``params``.
    backend : {"torch", "onnxruntime"}
        Backend of the scoring forward passes; ``"onnxruntime"`` (CPU, fp32, the ``onnx`` extra) runs an exported
        copy of the model, once per input shape.
    block_size : int
        Images per block: the unit of work of a checkpoint (and the boundary of exact sharding).
    chunk_size : int, optional
        Cutoffs filtered and scored together; ``None`` sizes the chunk to the memory budget (all the cutoffs at
        once when they fit, so the endpoints of the curves are computed once per image).
    memory_budget : int, optional
        Bytes of working memory the sweep may take on top of the model, the libraries and the caller's data: the
        forward and attribution batch sizes and the chunk of cutoffs are derived from it and the model's measured
        activation memory (:mod:`~forgrad_viz.sweep.memory`), whatever the number of cutoffs and images. ``None``:
        1.25 GiB on the CPU (about 2 GB of resident memory in all for EfficientNet-Lite0 at 224 x 224); no budget
        on CUDA (batch sizes halve on out-of-memory errors). An explicit ``batch_size`` or ``chunk_size`` wins.
    progress : bool or Progress
        ``True``: print the plan (images x maps x forward passes, estimated time, memory budget; see
        :func:`plan_sweep`) and show one bar (``tqdm.auto``) of the call's forward passes, exact total from the
        start, ETA from a smoothed rate (rank 0 only, showing every rank's passes, under ``torchrun``). A
        :class:`~forgrad_viz.sweep.progress.Progress` made from several plans is fed instead (one bar for several
        calls).
    checkpoint : path, optional
        A JSON Lines file that grows by one line per finished unit of work (:mod:`~forgrad_viz.sweep.checkpoint`):
        an interrupted (even killed) sweep called again with the same arguments and checkpoint resumes where it
        stopped and returns the same result. Distributed: each rank appends to ``checkpoint.rank<r>``.
    seed : int
        Seed of stochastic attribution methods (MuFidelity's subsets have their own ``seed`` option).
    model_name : str
        Label stored in the result.
    image_ids : sequence of int, optional
        Index of each image in the full set (default ``0 .. N-1``), used to merge shards.
    distributed : bool, optional
        ``None`` (default): distributed when a ``torch.distributed`` process group is initialised (see
        :func:`~forgrad_viz.sweep.distributed.distributed_session`); ``False`` forces one process. Distributed,
        each rank scores its share of the blocks on ``cuda:LOCAL_RANK`` (the model is moved there) or the CPU,
        and every rank returns the same full result.

    Returns
    -------
    CutoffSweep
        Scores per metric x cutoff x image, the unfiltered row, references, and ``params`` with the protocol
        and ``forward_passes`` (images through the model in this call; ``forward_passes_by_stage`` splits it).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> sweep = sweep_cutoffs(net, torch.rand(4, 3, 16, 16), cutoffs=[2.0, 4.0, 8.0], steps=4,
    ...                       mufidelity={"grid_size": 4, "n_subsets": 16}, progress=False)
    >>> sweep.scores["deletion"].shape
    (3, 4)
    >>> sweep.best_cutoff("insertion").cutoff in (2.0, 4.0, 8.0)
    True
    """
    sweeps, _ = sweep_model(**_prepare(locals()), progress=progress)
    return sweeps[method]


def plan_sweep(
    model: nn.Module,
    images: ImageData,
    targets: Any = None,
    method: str = "saliency",
    *,
    probe: bool = True,
    **options: Any,
) -> Plan:
    """The work of ``sweep_cutoffs(model, images, targets, method, **options)``, stated before doing it.

    Parameters
    ----------
    model, images, targets, method
        As in :func:`sweep_cutoffs`.
    probe : bool
        Time one forward batch and one attribution call (a few seconds) for an estimate of the time.
    **options
        Any other argument of :func:`sweep_cutoffs` (``progress`` is ignored).

    Returns
    -------
    Plan
        Images x maps x forward passes (exact for a grid search; the worst case of ``search="refine"``), the
        passes by stage as ``params["forward_passes_by_stage"]`` will count them, the memory budget and, with
        ``probe``, the estimated seconds. Plans add up (``plan_a + plan_b``); ``Progress(plan)`` is a bar for
        their sweeps (pass it as ``progress=``).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> plan = plan_sweep(net, torch.rand(4, 3, 16, 16), cutoffs=[2.0, 4.0, 8.0], steps=4,
    ...                   mufidelity={"grid_size": 4, "n_subsets": 16}, probe=False)
    >>> plan.forward_passes == sweep_cutoffs(net, torch.rand(4, 3, 16, 16), cutoffs=[2.0, 4.0, 8.0], steps=4,
    ...     mufidelity={"grid_size": 4, "n_subsets": 16}, progress=False).params["forward_passes"]
    True
    """
    arguments = inspect.signature(sweep_cutoffs).bind(model, images, targets, method, **options)
    arguments.apply_defaults()
    job = _prepare(arguments.arguments)
    del job["image_ids"], job["model_name"]  # what the result is labelled with: no work
    return plan_model(**job, probe=probe)


def _prepare(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments of :func:`sweep_cutoffs` validated, as the keyword arguments of one model's sweep."""
    model, method, search, kind, targets = (
        arguments[k] for k in ("model", "method", "search", "kind", "targets")
    )
    check_model(model)
    source = ImageSource(arguments["images"], check_positive_int(arguments["block_size"], "block_size"))
    settings = check_settings(source.shape, **shared_arguments(arguments))
    options = check_method_options(method, arguments["method_options"], "method")
    refs = check_references(arguments["references"], arguments["reference_options"])
    attributions = check_attributions(arguments["attributions"], source.n, source.shape)
    ids = check_image_ids(arguments["image_ids"], source.n)
    distributed = use_distributed(arguments["distributed"])
    if distributed:
        model.to(rank_device())
    described = {
        **settings.describe(),
        "method": method,
        "method_options": {k: describe(v) for k, v in options.items()},
        "attributions": None if attributions is None else fingerprint(attributions),
        "references": {k: {o: describe(v) for o, v in d.items()} for k, d in refs.items()},
    }
    return {
        "model": model,
        "source": source,
        "targets": targets,
        "settings": settings,
        "runs": [MethodRun(method, options, attributions, keep_maps=search == "refine")],
        "references": refs,
        "image_ids": ids,
        "model_name": arguments["model_name"],
        "checkpoint": arguments["checkpoint"],
        "signature": signature(kind, source.n, ids, targets, described),
        "label": f"sweep {method}",
        "distributed": distributed,
    }
