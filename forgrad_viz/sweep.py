"""Cutoff sweeps: faithfulness of FORGrad maps over many cutoffs, sigma* selection, architecture comparisons.

A sweep scores the FORGrad maps ``forgrad(attributions, sigma)`` of a set of images at many cutoffs ``sigma``
with Deletion, Insertion and MuFidelity, per image, next to the *unfiltered* map: the FORGrad pipeline without
the low-pass, ``abs(mean over channels)`` of the attributions (the map the paper filters). The result is a
:class:`~forgrad_viz.results.CutoffSweep` (means, bootstrap intervals, sigma* with an interval over images,
plots, JSON).

Work done once, not once per cutoff
-----------------------------------
- the attributions (one :func:`~forgrad_viz.attribution.explain` call per block of images);
- the target classes (resolved once, predicted class by default, shared by every metric and cutoff);
- the forward FFT of each map (:func:`~forgrad_viz.filters.iter_forgrad`: one FFT for all cutoffs);
- the endpoints of the Deletion/Insertion curves (the image's and the baseline's scores), shared by all the
  maps scored in one call of :func:`~forgrad_viz.metrics.perturbation_curves`: all the cutoffs of a block at
  once unless ``chunk_size`` splits them;
- MuFidelity's perturbed predictions (:func:`~forgrad_viz.metrics.mufidelity_perturbations`), computed once per
  image and reused for every cutoff and every method.

Images are processed in blocks of ``block_size``; a block is the unit of checkpointing and of sharding (shards
that start on a block boundary give bit-identical scores to an unsharded run, because every forward pass sees the
same batch).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from forgrad_viz._utils import (
    check_choice,
    check_images,
    check_model,
    check_positive_int,
    iter_chunks,
    model_device,
    preserved_model,
    resolve_targets,
)
from forgrad_viz.attribution import METHODS, explain
from forgrad_viz.filters import KINDS, default_cutoffs, forgrad, frequency_mask, iter_forgrad
from forgrad_viz.metrics import (
    DEFAULT_STEPS,
    MuFidelityPerturbations,
    auc,
    mufidelity_perturbations,
    mufidelity_scores,
    perturbation_curves,
)
from forgrad_viz.results import HIGHER_IS_BETTER, ArchitectureComparison, CutoffSweep

__all__ = ["DEFAULT_METRICS", "DEFAULT_REFERENCES", "SEARCHES", "compare_architectures", "sweep_cutoffs"]

#: Metrics scored by default.
DEFAULT_METRICS: tuple[str, ...] = ("deletion", "insertion", "mufidelity")
#: Black-box references scored (unfiltered) by :func:`compare_architectures` by default.
DEFAULT_REFERENCES: tuple[str, ...] = ("rise", "occlusion")
#: Search strategies of :func:`sweep_cutoffs`.
SEARCHES: tuple[str, ...] = ("grid", "refine")
#: Images per block (unit of checkpointing and sharding) by default.
DEFAULT_BLOCK_SIZE = 32
#: Memory budget (bytes) for the filtered maps of one Deletion/Insertion call when ``chunk_size=None``.
_CHUNK_BYTES = {"cpu": 256 * 2**20, "cuda": 1024 * 2**20}
#: Bytes per map pixel held while scoring (maps, per-pixel steps, argsort buffers).
_BYTES_PER_PIXEL = 24
_GOLDEN = 0.381966  # 2 - golden ratio: where a golden-section search places its next point
_UNFILTERED = "abs(channel mean) of the attributions: the FORGrad pipeline without the low-pass"


# ------------------------------------------------------------------------------------------- bookkeeping


class _ForwardCounter:
    """Counts the images that go through ``model.forward`` (a forward hook, removed on exit)."""

    def __init__(self) -> None:
        self.count = 0
        self.stages: dict[str, int] = {}

    @contextlib.contextmanager
    def attach(self, model: nn.Module) -> Iterator[_ForwardCounter]:
        def hook(_module: nn.Module, inputs: tuple, _output: Any) -> None:
            if inputs and isinstance(inputs[0], torch.Tensor):
                self.count += int(inputs[0].shape[0])

        handle = model.register_forward_hook(hook)
        try:
            yield self
        finally:
            handle.remove()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = self.count
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0) + self.count - start


@dataclass
class _Protocol:
    """The metrics and their parameters, validated once."""

    metrics: tuple[str, ...]
    steps: int
    deletion_baseline: Any
    insertion_baseline: Any
    score: str
    mufidelity: dict[str, Any]
    batch_size: int | None

    def describe(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "deletion_baseline": _describe(self.deletion_baseline),
            "insertion_baseline": _describe(self.insertion_baseline),
            "score": self.score,
            "mufidelity": {k: _describe(v) for k, v in self.mufidelity.items()},
        }


def _describe(value: Any) -> Any:
    """A JSON-friendly description of an option value (tensors and callables by type)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}"
    if isinstance(value, nn.Module):
        return type(value).__name__
    return getattr(value, "__name__", type(value).__name__)


def _check_metrics(metrics: Any) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError(f"metrics must name at least one of {list(HIGHER_IS_BETTER)}")
    for metric in metrics:
        check_choice(metric, "metrics", tuple(HIGHER_IS_BETTER))
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics must not repeat a metric; got {list(metrics)}")
    return metrics


def _check_cutoffs(cutoffs: Any, height: int, width: int) -> np.ndarray:
    if cutoffs is None:
        return default_cutoffs(height, width)
    values = np.asarray(cutoffs, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("cutoffs must be a non-empty sequence of finite positive numbers (cycles per image)")
    if np.any(np.diff(values) <= 0):
        raise ValueError("cutoffs must be strictly ascending")
    return values


def _check_image_ids(image_ids: Any, n: int) -> np.ndarray:
    if image_ids is None:
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(image_ids).reshape(-1)
    if ids.shape[0] != n or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"image_ids must hold one integer per image ({n}); got {ids.shape[0]} of {ids.dtype}"
        )
    if np.unique(ids).shape[0] != n:
        raise ValueError("image_ids must be distinct")
    return ids.astype(np.int64)


def _unfiltered(attributions: torch.Tensor) -> torch.Tensor:
    """abs(channel mean) of (N, C, H, W) attributions (abs of (N, H, W)): the map FORGrad filters."""
    maps = attributions.mean(dim=1) if attributions.dim() == 4 else attributions
    return maps.abs()


# ------------------------------------------------------------------------------------------------ scoring


@dataclass
class _Block:
    """One block of images with what every map of the block shares: targets and MuFidelity predictions."""

    index: int
    rows: slice
    images: torch.Tensor
    targets: torch.Tensor
    perturbations: MuFidelityPerturbations | None


class _Scorer:
    """Scores maps of blocks of images with every metric, sharing each block's targets and MuFidelity work."""

    def __init__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        targets: Any,
        protocol: _Protocol,
        block_size: int,
        counter: _ForwardCounter,
    ) -> None:
        self.model = model
        self.images = images
        self.protocol = protocol
        self.counter = counter
        self.blocks = list(iter_chunks(images.shape[0], block_size))
        self._targets = None if targets is None else self._explicit_targets(targets)
        self._cache: dict[int, _Block] = {}

    def _explicit_targets(self, targets: Any) -> torch.Tensor:
        with self.counter.stage("targets"):
            return resolve_targets(self.model, self.images, targets, self.protocol.batch_size)

    def block(self, index: int) -> _Block:
        """The block's images, targets and MuFidelity predictions (computed on first use, then kept)."""
        if index not in self._cache:
            rows = self.blocks[index]
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
            self._cache[index] = _Block(index, rows, images, targets, perturbations)
        return self._cache[index]

    def score(self, block: _Block, maps: torch.Tensor) -> dict[str, np.ndarray]:
        """Scores of maps (k, n, H, W) of one block: metric -> (k, n) float64."""
        protocol = self.protocol
        out: dict[str, np.ndarray] = {}
        for metric in protocol.metrics:
            if metric == "mufidelity":
                assert block.perturbations is not None
                values = mufidelity_scores(maps, block.perturbations)
            else:
                baseline = protocol.deletion_baseline if metric == "deletion" else protocol.insertion_baseline
                with self.counter.stage("curves"):
                    x, curves = perturbation_curves(
                        self.model,
                        block.images,
                        maps,
                        block.targets,
                        mode=metric,
                        steps=protocol.steps,
                        baseline=baseline,
                        score=protocol.score,
                        batch_size=protocol.batch_size,
                    )
                values = auc(x, curves)
            out[metric] = values.double().cpu().numpy()
        return out


# ---------------------------------------------------------------------------------------------- checkpoint


class _Checkpoint:
    """Results of finished units of work, in a JSON file rewritten atomically after each unit."""

    def __init__(self, path: str | os.PathLike | None, signature: dict[str, Any]) -> None:
        self.path = None if path is None else Path(path)
        self.signature = signature
        self.units: dict[str, dict[str, list]] = {}
        if self.path is not None and self.path.is_file():
            data = json.loads(self.path.read_text())
            if data.get("signature") != signature:
                raise ValueError(
                    f"checkpoint {self.path} was written by a different sweep (other images, method, cutoffs or "
                    "protocol); delete it or pass another checkpoint path"
                )
            self.units = data.get("units", {})

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        unit = self.units.get(key)
        return None if unit is None else {m: np.asarray(v, dtype=np.float64) for m, v in unit.items()}

    def put(self, key: str, scores: dict[str, np.ndarray]) -> None:
        self.units[key] = {m: v.tolist() for m, v in scores.items()}
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"signature": self.signature, "units": self.units}))
        os.replace(tmp, self.path)


def _fingerprint(tensor: torch.Tensor) -> str:
    return hashlib.sha1(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- the sweep


@dataclass
class _MethodRun:
    """State of one method's sweep over the blocks: the maps kept for later rounds and the scores so far."""

    method: str
    options: dict[str, Any]
    attributions: torch.Tensor | None
    keep_maps: bool
    reference: bool = False
    maps: dict[int, torch.Tensor] = field(default_factory=dict)
    scores: dict[int, dict[int, dict[str, np.ndarray]]] = field(default_factory=dict)  # block -> index -> m
    unfiltered: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


class _Sweeper:
    """Runs the units of work of one or more sweeps on one model, sharing the :class:`_Scorer`."""

    def __init__(
        self,
        scorer: _Scorer,
        cutoffs: np.ndarray,
        kind: str,
        order: int,
        chunk_size: int | None,
        seed: int,
        checkpoint: _Checkpoint,
    ) -> None:
        self.scorer = scorer
        self.cutoffs = cutoffs
        self.kind = kind
        self.order = order
        self.seed = seed
        self.checkpoint = checkpoint
        _, _, h, w = scorer.images.shape
        self.chunk_size = chunk_size or self._auto_chunk(h * w)
        self.representative = _representatives(cutoffs, h, w, kind, order)
        self.unique = sorted(set(self.representative))

    def _auto_chunk(self, pixels: int) -> int:
        device = model_device(self.scorer.model)
        budget = _CHUNK_BYTES["cuda" if device.type == "cuda" else "cpu"]
        largest = max(rows.stop - rows.start for rows in self.scorer.blocks)
        return max(1, budget // (_BYTES_PER_PIXEL * pixels * largest) - 1)

    def _maps(self, run: _MethodRun, block: _Block) -> torch.Tensor:
        """The block's unfiltered maps (n, H, W): given attributions or one :func:`explain` call."""
        if block.index in run.maps:
            return run.maps[block.index]
        if run.attributions is not None:
            attributions = run.attributions[block.rows].to(block.images.device)
        else:
            with self.scorer.counter.stage("reference attributions" if run.reference else "attributions"):
                attributions = explain(
                    self.scorer.model,
                    block.images,
                    block.targets,
                    run.method,
                    batch_size=self.scorer.protocol.batch_size,
                    seed=self.seed,
                    **run.options,
                )
        maps = _unfiltered(attributions)
        if run.keep_maps:
            run.maps[block.index] = maps
        return maps

    def _units(self, indices: list[int], with_unfiltered: bool) -> list[tuple[list[int], bool]]:
        """Chunks of cutoff indices scored together; the unfiltered map joins the first chunk."""
        parts = [indices[part] for part in iter_chunks(len(indices), self.chunk_size)] or [[]]
        return [(part, with_unfiltered and i == 0) for i, part in enumerate(parts)]

    def run_round(self, run: _MethodRun, indices: list[int], first: bool, bar: tqdm) -> None:
        """Score ``indices`` of the cutoff grid (and the unfiltered map on the first round) on every block."""
        units = self._units(indices, first)
        bar.total = (bar.total or 0) + len(units) * len(self.scorer.blocks)
        bar.refresh()
        for index in range(len(self.scorer.blocks)):
            for part, with_unfiltered in units:
                key = f"{run.method}|{index}|{','.join(map(str, part))}|{int(with_unfiltered)}"
                scores = self.checkpoint.get(key)
                if scores is None:
                    scores = self._score_unit(run, self.scorer.block(index), part, with_unfiltered)
                    self.checkpoint.put(key, scores)
                self._store(run, index, part, with_unfiltered, scores)
                bar.update(1)

    def _score_unit(
        self, run: _MethodRun, block: _Block, part: list[int], with_unfiltered: bool
    ) -> dict[str, np.ndarray]:
        maps = self._maps(run, block)
        stack = []
        if part:
            _, filtered = next(
                iter_forgrad(maps, self.cutoffs[part], len(part), kind=self.kind, order=self.order)
            )
            stack.append(filtered)
        if with_unfiltered:
            stack.insert(0, maps.unsqueeze(0))
        return self.scorer.score(block, torch.cat(stack, dim=0))

    @staticmethod
    def _store(
        run: _MethodRun, index: int, part: list[int], with_unfiltered: bool, scores: dict[str, np.ndarray]
    ) -> None:
        offset = int(with_unfiltered)
        if with_unfiltered:
            run.unfiltered[index] = {m: v[0] for m, v in scores.items()}
        by_index = run.scores.setdefault(index, {})
        for j, grid_index in enumerate(part):
            by_index[grid_index] = {m: v[offset + j] for m, v in scores.items()}

    def means(self, run: _MethodRun, indices: list[int]) -> dict[str, np.ndarray]:
        """Mean over all images of each metric at the given grid indices: metric -> (len(indices),)."""
        return {m: self.table(run, indices, m).mean(axis=1) for m in self.scorer.protocol.metrics}

    def table(self, run: _MethodRun, indices: list[int], metric: str) -> np.ndarray:
        """Scores (len(indices), N) of one metric, blocks concatenated in order.

        A cutoff whose filter equals a smaller cutoff's (the same ideal mask) takes the scores of that one.
        """
        rep = self.representative
        return np.concatenate(
            [
                np.stack([run.scores[b][rep[i]][metric] for i in indices])
                for b in range(len(self.scorer.blocks))
            ],
            axis=1,
        )

    def reference(self, method: str, options: dict[str, Any], bar: tqdm) -> dict[str, np.ndarray]:
        """Per-image scores (N,) of a black-box reference's unfiltered map, for every metric."""
        run = _MethodRun(method, options, None, keep_maps=False, reference=True)
        self.run_round(run, [], True, bar)
        return {
            m: np.concatenate([run.unfiltered[b][m] for b in range(len(self.scorer.blocks))])
            for m in self.scorer.protocol.metrics
        }


def _representatives(cutoffs: np.ndarray, height: int, width: int, kind: str, order: int) -> list[int]:
    """For each cutoff, the index of the smallest cutoff with the same filter (ideal masks repeat on a fine
    grid: 1 and 1.2 cycles per image keep the same bins), so that identical maps are scored once."""
    masks = frequency_mask(height, width, cutoffs.tolist(), kind=kind, order=order)
    representative = [0]
    for i in range(1, cutoffs.shape[0]):
        same = bool(torch.equal(masks[i], masks[i - 1]))
        representative.append(representative[-1] if same else i)
    return representative


def _next_point(best: int, evaluated: list[int], n: int) -> int | None:
    """The next grid index of a golden-section search around ``best``, or None once it is pinned to one step.

    Under a unimodal mean score, the optimum lies strictly between the evaluated neighbours of ``best`` (or the
    ends of the grid); the search stops when both gaps to them are at most 2 grid steps, so that the optimum is
    within one grid step of ``best``.
    """
    left = max((e for e in evaluated if e < best), default=-1)
    right = min((e for e in evaluated if e > best), default=n)
    gap_left, gap_right = best - left, right - best
    if max(gap_left, gap_right) <= 2:
        return None
    if gap_right > gap_left:
        return best + min(gap_right - 1, max(1, round(_GOLDEN * gap_right)))
    return best - min(gap_left - 1, max(1, round(_GOLDEN * gap_left)))


def _refine(sweeper: _Sweeper, run: _MethodRun, bar: tqdm) -> list[int]:
    """Coarse-to-fine search of each metric's best cutoff; the grid indices whose scores are known.

    The search runs on the distinct filters of the grid (positions in ``sweeper.unique``): first the two
    golden-section points, then, each round, one golden-section point per metric around its current best
    (:func:`_next_point`, the grid's ends included), until every metric's best is pinned within one grid step.
    """
    unique = sweeper.unique
    n = len(unique)
    metrics = sweeper.scorer.protocol.metrics
    evaluated: list[int] = []
    request = sorted({round(_GOLDEN * (n - 1)), round((1 - _GOLDEN) * (n - 1))})
    while request:
        sweeper.run_round(run, [unique[p] for p in request], not evaluated, bar)
        evaluated = sorted(set(evaluated) | set(request))
        means = sweeper.means(run, [unique[p] for p in evaluated])
        proposals = set()
        for metric in metrics:
            sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
            best = evaluated[int(np.argmax(sign * means[metric]))]
            point = _next_point(best, evaluated, n)
            if point is not None:
                proposals.add(point)
        request = sorted(proposals - set(evaluated))
    known = {unique[p] for p in evaluated}
    return [i for i, rep in enumerate(sweeper.representative) if rep in known]


def _build_sweep(
    sweeper: _Sweeper,
    run: _MethodRun,
    indices: list[int],
    image_ids: np.ndarray,
    model_name: str,
    params: dict[str, Any],
    references: dict[str, dict[str, np.ndarray]],
) -> CutoffSweep:
    metrics = sweeper.scorer.protocol.metrics
    blocks = range(len(sweeper.scorer.blocks))
    return CutoffSweep(
        method=run.method,
        kind=sweeper.kind,
        cutoffs=sweeper.cutoffs[indices],
        metrics=metrics,
        scores={m: sweeper.table(run, indices, m) for m in metrics},
        unfiltered={m: np.concatenate([run.unfiltered[b][m] for b in blocks]) for m in metrics},
        higher_is_better={m: HIGHER_IS_BETTER[m] for m in metrics},
        image_ids=image_ids,
        model_name=model_name,
        params=params,
        references=references,
    )


# ------------------------------------------------------------------------------------------------ public


def _protocol(
    metrics: Any,
    steps: int,
    deletion_baseline: Any,
    insertion_baseline: Any,
    score: str,
    mufidelity: Mapping[str, Any] | None,
    batch_size: int | None,
) -> _Protocol:
    allowed = {"grid_size", "subset_fraction", "n_subsets", "baseline", "seed"}
    options = dict(mufidelity or {})
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"mufidelity options {unknown} are unknown; valid options: {sorted(allowed)}")
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    return _Protocol(
        metrics=_check_metrics(metrics),
        steps=check_positive_int(steps, "steps"),
        deletion_baseline=deletion_baseline,
        insertion_baseline=insertion_baseline,
        score=check_choice(score, "score", ("probability", "logit")),
        mufidelity={**options, "score": score},
        batch_size=batch_size,
    )


def _method_options(method: str, options: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    check_choice(method, name, tuple(METHODS))
    options = dict(options or {})
    METHODS[method].resolve_options(options)  # validates early, before any forward pass
    return options


def _check_attributions(attributions: Any, images: torch.Tensor) -> torch.Tensor | None:
    if attributions is None:
        return None
    if not isinstance(attributions, torch.Tensor):
        raise TypeError(f"attributions must be a torch.Tensor; got {type(attributions).__name__}")
    n, _, h, w = images.shape
    if (
        attributions.dim() not in (3, 4)
        or attributions.shape[0] != n
        or tuple(attributions.shape[-2:]) != (h, w)
    ):
        raise ValueError(
            f"attributions must have shape (N, C, H, W) or (N, H, W) matching the images (N={n}, H={h}, W={w}); "
            f"got {tuple(attributions.shape)}"
        )
    if not attributions.is_floating_point() or not bool(torch.isfinite(attributions).all()):
        raise ValueError("attributions must be finite floating-point values")
    return attributions.detach()


def _signature(
    kind: str, images: torch.Tensor, image_ids: np.ndarray, targets: Any, common: dict[str, Any]
) -> dict[str, Any]:
    target_print = None if targets is None else _fingerprint(torch.as_tensor(targets))
    return {
        **common,
        "kind": kind,
        "images": _fingerprint(images),
        "image_ids": _fingerprint(torch.as_tensor(image_ids)),
        "targets": target_print,
    }


def sweep_cutoffs(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    method: str = "saliency",
    cutoffs: Sequence[float] | np.ndarray | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    kind: str = "ideal",
    search: str = "grid",
    *,
    order: int = 2,
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
    block_size: int = DEFAULT_BLOCK_SIZE,
    chunk_size: int | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    seed: int = 0,
    model_name: str = "",
    image_ids: Sequence[int] | np.ndarray | None = None,
) -> CutoffSweep:
    """Faithfulness of FORGrad maps at many cutoffs, per image, with the unfiltered map as reference.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier taking [0, 1] images and returning logits; its mode is restored and no hook is left.
    images : torch.Tensor
        (N, 3, H, W) float images on the model's device (never modified).
    targets : None, int or sequence of int
        Classes to explain and score; ``None`` (default) uses the predicted class, resolved once and shared by
        every metric and cutoff.
    method : str
        Attribution method of :data:`~forgrad_viz.attribution.METHODS` (``"saliency"`` by default).
    cutoffs : sequence of float, optional
        Ascending cutoffs in cycles per image. Default: 24 log-spaced values from 1 to
        :func:`~forgrad_viz.filters.max_cutoff` (the radius past which nothing is removed).
    metrics : sequence of str
        Any of ``"deletion"``, ``"insertion"``, ``"mufidelity"``.
    kind : {"ideal", "gaussian", "butterworth"}
        Low-pass filter (``"ideal"`` is the paper's); ``order`` is the Butterworth order.
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
    block_size : int
        Images per block: the unit of work of a checkpoint (and the boundary of exact sharding).
    chunk_size : int, optional
        Cutoffs filtered and scored together; ``None`` sizes the chunk to the memory budget (all the cutoffs at
        once when they fit, so the endpoints of the curves are computed once per image).
    progress : bool
        Show a progress bar (``tqdm.auto``).
    checkpoint : path, optional
        A JSON file holding finished units of work: an interrupted sweep called again with the same arguments
        and checkpoint resumes where it stopped and returns the same result.
    seed : int
        Seed of stochastic attribution methods (MuFidelity's subsets have their own ``seed`` option).
    model_name : str
        Label stored in the result.
    image_ids : sequence of int, optional
        Index of each image in the full set (default ``0 .. N-1``), used to merge shards.

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
    check_model(model)
    check_images(images)
    common = _common_arguments(
        images,
        cutoffs,
        metrics,
        kind,
        search,
        order,
        steps,
        deletion_baseline,
        insertion_baseline,
        score,
        mufidelity,
        batch_size,
        block_size,
        chunk_size,
        seed,
    )
    options = _method_options(method, method_options, "method")
    refs = _references(references, reference_options)
    attributions = _check_attributions(attributions, images)
    ids = _check_image_ids(image_ids, images.shape[0])
    signature = _signature(
        kind,
        images,
        ids,
        targets,
        {
            **common["describe"],
            "method": method,
            "method_options": {k: _describe(v) for k, v in options.items()},
            "attributions": None if attributions is None else _fingerprint(attributions),
            "references": {k: {o: _describe(v) for o, v in d.items()} for k, d in refs.items()},
        },
    )
    counter = _ForwardCounter()
    with preserved_model(model), counter.attach(model):
        sweeper = _make_sweeper(model, images, targets, common, counter, checkpoint, signature)
        with tqdm(desc=f"sweep {method}", disable=not progress, unit="unit") as bar:
            run = _MethodRun(method, options, attributions, keep_maps=search == "refine")
            indices = _run_search(sweeper, run, search, bar)
            reference_scores = {name: sweeper.reference(name, o, bar) for name, o in refs.items()}
    params = _params(common, search, options, seed, counter)
    return _build_sweep(sweeper, run, indices, ids, model_name, params, reference_scores)


def _common_arguments(
    images: torch.Tensor,
    cutoffs: Any,
    metrics: Any,
    kind: str,
    search: str,
    order: int,
    steps: int,
    deletion_baseline: Any,
    insertion_baseline: Any,
    score: str,
    mufidelity: Mapping[str, Any] | None,
    batch_size: int | None,
    block_size: int,
    chunk_size: int | None,
    seed: int,
) -> dict[str, Any]:
    """Validate the arguments shared by :func:`sweep_cutoffs` and :func:`compare_architectures`."""
    _, _, h, w = images.shape
    check_choice(kind, "kind", KINDS)
    check_choice(search, "search", SEARCHES)
    check_positive_int(order, "order")
    check_positive_int(block_size, "block_size")
    if chunk_size is not None:
        check_positive_int(chunk_size, "chunk_size")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer; got {type(seed).__name__}")
    grid = _check_cutoffs(cutoffs, h, w)
    forgrad(torch.zeros(1, 2, 2), float(grid[0]), kind=kind, order=order)  # validates kind/order
    protocol = _protocol(metrics, steps, deletion_baseline, insertion_baseline, score, mufidelity, batch_size)
    return {
        "grid": grid,
        "kind": kind,
        "search": search,
        "order": order,
        "protocol": protocol,
        "block_size": block_size,
        "chunk_size": chunk_size,
        "seed": seed,
        "describe": {
            **protocol.describe(),
            "metrics": list(protocol.metrics),
            "grid": grid.tolist(),
            "search": search,
            "order": order,
            "block_size": block_size,
            "chunk_size": chunk_size,
            "seed": seed,
        },
    }


def _references(
    references: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    names = (references,) if isinstance(references, str) else tuple(references)
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(
            f"reference_options names {unknown}, which are not among the references {list(names)}"
        )
    return {name: _method_options(name, options.get(name), "references") for name in names}


def _make_sweeper(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any,
    common: dict[str, Any],
    counter: _ForwardCounter,
    checkpoint: str | os.PathLike | None,
    signature: dict[str, Any],
) -> _Sweeper:
    scorer = _Scorer(model, images, targets, common["protocol"], common["block_size"], counter)
    return _Sweeper(
        scorer,
        common["grid"],
        common["kind"],
        common["order"],
        common["chunk_size"],
        common["seed"],
        _Checkpoint(checkpoint, signature),
    )


def _run_search(sweeper: _Sweeper, run: _MethodRun, search: str, bar: tqdm) -> list[int]:
    if search == "refine":
        return _refine(sweeper, run, bar)
    sweeper.run_round(run, sweeper.unique, True, bar)
    return list(range(sweeper.cutoffs.shape[0]))


def _params(
    common: dict[str, Any],
    search: str,
    options: dict[str, Any],
    seed: int,
    counter: _ForwardCounter,
) -> dict[str, Any]:
    params = {
        **common["protocol"].describe(),
        "search": search,
        "order": common["order"],
        "method_options": {k: _describe(v) for k, v in options.items()},
        "seed": seed,
        "block_size": common["block_size"],
        "unfiltered": _UNFILTERED,
        "forward_passes": counter.count,
        "forward_passes_by_stage": dict(sorted(counter.stages.items())),
    }
    if search == "refine":
        params["grid"] = common["grid"].tolist()
    return params


def compare_architectures(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    targets: Any = None,
    methods: Sequence[str] = ("saliency",),
    metrics: Sequence[str] = DEFAULT_METRICS,
    references: Sequence[str] = DEFAULT_REFERENCES,
    cutoffs: Sequence[float] | np.ndarray | None = None,
    kind: str = "ideal",
    *,
    search: str = "grid",
    order: int = 2,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    reference_options: Mapping[str, Mapping[str, Any]] | None = None,
    steps: int = DEFAULT_STEPS,
    deletion_baseline: Any = 0.0,
    insertion_baseline: Any = "blur",
    score: str = "probability",
    mufidelity: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    chunk_size: int | None = None,
    progress: bool = True,
    seed: int = 0,
) -> ArchitectureComparison:
    """sigma* per model x method x metric, faithfulness unfiltered versus at sigma*, and black-box references.

    For every model, the targets and MuFidelity's perturbed predictions are computed once and shared by all the
    methods and references; each white-box method gets a :func:`sweep_cutoffs` sweep; each black-box reference
    (RISE, Occlusion) is scored unfiltered with the same metrics on the same images.

    Parameters
    ----------
    models : dict
        Name -> classifier (all taking the same images).
    images : torch.Tensor
        (N, 3, H, W) images on the models' device.
    targets : None, int or sequence of int
        Classes to explain; ``None`` uses each model's predicted class.
    methods : sequence of str
        White-box methods to sweep.
    metrics, cutoffs, kind, search, order, steps, deletion_baseline, insertion_baseline, score, mufidelity,
    batch_size, block_size, chunk_size, progress, seed
        As in :func:`sweep_cutoffs`.
    references : sequence of str
        Black-box methods scored unfiltered (``("rise", "occlusion")`` by default; ``()`` for none).
    method_options, reference_options : dict, optional
        Method name -> options for :func:`~forgrad_viz.attribution.explain` (e.g.
        ``{"rise": {"n_masks": 500}}``).

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
    check_images(images)
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if not methods:
        raise ValueError("methods must name at least one attribution method")
    method_options = dict(method_options or {})
    options = {m: _method_options(m, method_options.get(m), "methods") for m in methods}
    refs = _references(references, reference_options)
    common = _common_arguments(
        images,
        cutoffs,
        metrics,
        kind,
        search,
        order,
        steps,
        deletion_baseline,
        insertion_baseline,
        score,
        mufidelity,
        batch_size,
        block_size,
        chunk_size,
        seed,
    )
    ids = np.arange(images.shape[0], dtype=np.int64)
    sweeps: dict[str, dict[str, CutoffSweep]] = {}
    reference_scores: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for name, model in models.items():
        counter = _ForwardCounter()
        with preserved_model(model), counter.attach(model):
            sweeper = _make_sweeper(model, images, targets, common, counter, None, {})
            with tqdm(desc=f"compare {name}", disable=not progress, unit="unit") as bar:
                runs = {}
                for method in methods:
                    run = _MethodRun(method, options[method], None, keep_maps=search == "refine")
                    runs[method] = (run, _run_search(sweeper, run, search, bar))
                reference_scores[name] = {r: sweeper.reference(r, o, bar) for r, o in refs.items()}
        params = _params(common, search, {}, seed, counter)
        sweeps[name] = {
            method: _build_sweep(
                sweeper,
                run,
                indices,
                ids,
                name,
                {**params, "method_options": {k: _describe(v) for k, v in options[method].items()}},
                reference_scores[name],
            )
            for method, (run, indices) in runs.items()
        }
    return ArchitectureComparison(sweeps=sweeps, references=reference_scores)
