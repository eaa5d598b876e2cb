"""What :class:`~forgrad_viz.widgets.SweepBrowser` shows, computed once: the ranking of a sweep's images by held-out
gain, and the images, maps and Deletion/Insertion curves of the images it shows.

Nothing here builds a widget: :func:`rank_by_held_out_gain` is pure NumPy on the sweep's scores, and
:func:`browse_data` makes every model call the browser will ever make (attributions and curves of the shown images).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, IterableDataset

from forgrad_viz._utils import check_images, check_model, model_device, resolve_targets
from forgrad_viz.attribution import explain
from forgrad_viz.filters import forgrad
from forgrad_viz.metrics import DEFAULT_STEPS, auc, perturbation_curves
from forgrad_viz.results import CutoffSweep
from forgrad_viz.results.paired import HeldOutGain
from forgrad_viz.sweep.source import split_item

__all__ = [
    "CURVE_MODES",
    "PROTOCOL_KEYS",
    "BrowsedImage",
    "Ranking",
    "browse_data",
    "open_sweep",
    "rank_by_held_out_gain",
]

#: The perturbation curves the browser shows, in order.
CURVE_MODES = ("deletion", "insertion")


def open_sweep(sweep: CutoffSweep | str | os.PathLike) -> CutoffSweep:
    """``sweep`` itself, or the :class:`~forgrad_viz.CutoffSweep` saved as JSON at that path.

    Examples
    --------
    >>> import tempfile
    >>> sweep = CutoffSweep("saliency", "ideal", [2.0], ("insertion",), {"insertion": [[0.5]]},
    ...                     {"insertion": [0.4]}, {"insertion": True}, [0])
    >>> open_sweep(sweep.save(os.path.join(tempfile.mkdtemp(), "s.json"))).cutoffs.tolist()
    [2.0]
    """
    if isinstance(sweep, CutoffSweep):
        return sweep
    if isinstance(sweep, (str, os.PathLike)):
        return CutoffSweep.load(sweep)
    raise TypeError(f"sweep must be a CutoffSweep or the path of its JSON file; got {type(sweep).__name__}")


@dataclass(frozen=True)
class Ranking:
    """A sweep's images ordered by their held-out gain, and the ones a browser shows.

    Attributes
    ----------
    held_out : HeldOutGain
        The held-out result: ``per_image`` gains and each fold's sigma*, in the order of ``sweep.image_ids``.
    order : numpy.ndarray
        Positions in the sweep (0 .. N-1), largest held-out gain first; ties keep the sweep's order.
    shown : numpy.ndarray
        Positions of the shown images (the best and the worst), in the order of ``order``.
    """

    held_out: HeldOutGain
    order: np.ndarray
    shown: np.ndarray

    @property
    def cutoffs(self) -> np.ndarray:
        """sigma* of each image: the one chosen on the other folds than the image's, shape (N,)."""
        return self.held_out.fold_cutoffs[self.held_out.fold_of_image]


def rank_by_held_out_gain(
    sweep: CutoffSweep,
    metric: str,
    show: int | None = 16,
    folds: int = 2,
    seed: int = 0,
    level: float = 0.95,
    n_boot: int = 1000,
) -> Ranking:
    """Order the images of ``sweep`` by their paired gain at the held-out sigma* of ``metric``.

    Parameters
    ----------
    sweep : CutoffSweep
        The sweep.
    metric : str
        One of ``sweep.metrics``.
    show : int or None
        Keep the ``show`` images with the largest gain and the ``show`` with the smallest (all images when
        ``2 * show >= N`` or ``show`` is None).
    folds, seed, level, n_boot
        As in :meth:`~forgrad_viz.CutoffSweep.held_out`.

    Returns
    -------
    Ranking

    Examples
    --------
    >>> sweep = CutoffSweep("saliency", "ideal", [2.0, 4.0], ("insertion",),
    ...                     {"insertion": [[0.5, 0.6, 0.4, 0.3], [0.7, 0.9, 0.2, 0.6]]},
    ...                     {"insertion": [0.5] * 4}, {"insertion": True}, [10, 11, 12, 13])
    >>> ranking = rank_by_held_out_gain(sweep, "insertion", show=1)
    >>> sweep.image_ids[ranking.shown].tolist()
    [11, 12]
    """
    if metric not in sweep.metrics:
        raise ValueError(f"metric must be one of {list(sweep.metrics)} (the sweep's metrics); got {metric!r}")
    if show is not None and (isinstance(show, bool) or not isinstance(show, (int, np.integer)) or show < 1):
        raise ValueError(f"show must be a positive integer or None; got {show!r}")
    held = sweep.held_out(metric, folds=folds, seed=seed, level=level, n_boot=n_boot)
    order = np.argsort(-held.per_image, kind="stable")
    if show is None or 2 * int(show) >= order.shape[0]:
        shown = order
    else:
        shown = np.concatenate([order[: int(show)], order[-int(show) :]])
    return Ranking(held_out=held, order=order, shown=shown)


@dataclass(frozen=True)
class BrowsedImage:
    """What the browser shows for one image, computed once.

    Attributes
    ----------
    image_id : int
        The image's id in the sweep (its row of the image set).
    rank : int
        1 for the largest held-out gain, N for the smallest.
    gain : float
        Held-out paired gain (> 0: FORGrad at sigma* was more faithful than the raw map on this image).
    sigma_star : float
        The held-out sigma* of the image's fold, in cycles per image.
    image : torch.Tensor
        The image (C, H, W) on the CPU.
    raw_map, filtered_map : numpy.ndarray
        The unfiltered map (abs of the channel mean) and the FORGrad map at ``sigma_star``, (H, W).
    target : int or None
        The class explained (None when the maps were passed in and no model was given).
    x : numpy.ndarray or None
        Fractions of pixels perturbed, (steps + 1,); None without a model.
    curves : dict
        Mode (``"deletion"``, ``"insertion"``) -> (2, steps + 1) scores of the raw map (row 0) and the FORGrad
        map (row 1); empty without a model.
    """

    image_id: int
    rank: int
    gain: float
    sigma_star: float
    image: torch.Tensor
    raw_map: np.ndarray
    filtered_map: np.ndarray
    target: int | None
    x: np.ndarray | None
    curves: dict[str, np.ndarray]

    def auc(self) -> dict[str, tuple[float, float]]:
        """Mode -> (AUC of the raw map, AUC of the FORGrad map) of the recomputed curves (trapezoid over ``x``)."""
        if self.x is None:
            return {}
        x = torch.from_numpy(self.x)
        return {mode: tuple(auc(x, torch.from_numpy(c)).tolist()) for mode, c in self.curves.items()}


def _read_rows(images: Any, rows: np.ndarray) -> tuple[torch.Tensor, list[int]]:
    """The rows ``rows`` of ``images`` (a tensor or a map-style Dataset) and their data targets (-1: predicted)."""
    if isinstance(images, torch.Tensor):
        check_images(images)
        size = images.shape[0]
    elif (
        isinstance(images, Dataset) and not isinstance(images, IterableDataset) and hasattr(images, "__len__")
    ):
        size = len(images)
    else:
        raise TypeError(
            f"images must be a tensor (N, C, H, W) or a map-style Dataset indexed by the sweep's image_ids; "
            f"got {type(images).__name__}"
        )
    largest = int(rows.max())
    if largest >= size:
        raise ValueError(
            f"images must hold the sweep's whole image set: its image_ids go up to {largest} but images has {size}"
        )
    if isinstance(images, torch.Tensor):
        return images[torch.as_tensor(rows)].detach().cpu(), [-1] * rows.shape[0]
    items = [split_item(images[int(row)], int(row)) for row in rows]
    shapes = {tuple(image.shape) for image, _ in items}
    if len(shapes) != 1:
        raise ValueError(
            f"the shown images must share one shape (use the model's transform); got {sorted(shapes)}"
        )
    stacked = torch.stack([image for image, _ in items]).detach().cpu()
    return check_images(stacked, "images"), [target for _, target in items]


def _given_attributions(attributions: Any, rows: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    """The rows ``rows`` of precomputed attributions (a tensor indexed like the images, or a dict id -> map)."""
    if isinstance(attributions, torch.Tensor):
        if attributions.shape[0] <= int(rows.max()):
            raise ValueError(
                f"attributions must have one row per image of the set (indexed like images): image_ids go up "
                f"to {int(rows.max())} but attributions has {attributions.shape[0]} rows"
            )
        picked = attributions[torch.as_tensor(rows)]
    elif isinstance(attributions, Mapping):
        missing = [int(r) for r in rows if int(r) not in attributions]
        if missing:
            raise ValueError(f"attributions lacks the shown image ids {missing[:10]}")
        picked = torch.stack([torch.as_tensor(attributions[int(r)]) for r in rows])
    else:
        raise TypeError(
            f"attributions must be a tensor indexed like images or a dict image id -> map; "
            f"got {type(attributions).__name__}"
        )
    picked = picked.detach().cpu().float()
    if picked.dim() == 3:
        picked = picked[:, None]
    if picked.dim() != 4 or picked.shape[-2:] != shape[-2:]:
        raise ValueError(
            f"attributions must be maps (C, H, W) or (H, W) of the images' size {tuple(shape[-2:])}; "
            f"got {tuple(picked.shape[1:])} per image"
        )
    return picked


def _targets(
    model: nn.Module, images: torch.Tensor, targets: Any, data: list[int], rows: np.ndarray
) -> torch.Tensor:
    """The classes explained: ``targets`` indexed like the image set, else the data's, else the predicted ones."""
    if targets is None:
        predicted = resolve_targets(model, images, None)
        given = torch.as_tensor(data, device=predicted.device)
        return resolve_targets(model, images, torch.where(given >= 0, given, predicted))  # checks the range
    if isinstance(targets, (int, np.integer)) and not isinstance(targets, bool):
        return resolve_targets(model, images, int(targets))
    values = torch.as_tensor(targets)
    if values.dim() != 1 or values.shape[0] <= int(rows.max()):
        raise ValueError(
            "targets must be None, an int, or one class per image of the set (indexed like images); "
            f"got shape {tuple(values.shape)}"
        )
    return resolve_targets(model, images, values[torch.as_tensor(rows)])


#: Keys of ``metric_options``: the sweep's protocol of Deletion and Insertion, as saved in its ``params``.
PROTOCOL_KEYS = ("steps", "deletion_baseline", "insertion_baseline", "score", "precision", "backend")


def _protocol(sweep: CutoffSweep, metric_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The sweep's Deletion/Insertion settings (its ``params``, defaults where absent) updated by
    ``metric_options``. ``precision`` and ``backend`` are passed on only where given (sweeps that record them)."""
    options = dict(metric_options or {})
    unknown = sorted(set(options) - set(PROTOCOL_KEYS))
    if unknown:
        raise ValueError(f"metric_options takes {list(PROTOCOL_KEYS)}; got {unknown}")
    defaults = {
        "steps": DEFAULT_STEPS,
        "deletion_baseline": 0.0,
        "insertion_baseline": "blur",
        "score": "probability",
    }
    protocol = {key: sweep.params.get(key, default) for key, default in defaults.items()}
    protocol.update({key: sweep.params[key] for key in ("precision", "backend") if key in sweep.params})
    protocol.update(options)
    for mode in CURVE_MODES:
        baseline = protocol[f"{mode}_baseline"]
        given = isinstance(baseline, (int, float, torch.Tensor)) or callable(baseline)
        if not (given or (isinstance(baseline, str) and baseline == "blur")):
            raise ValueError(
                f"the sweep's {mode} baseline ({baseline!r}) was saved as a description: pass it in "
                f"metric_options={{'{mode}_baseline': ...}}"
            )
    return protocol


def _filtered(attributions: torch.Tensor, cutoffs: np.ndarray, kind: str, order: int) -> torch.Tensor:
    """FORGrad map of each image (N, H, W) at its own cutoff, one filter call per distinct cutoff."""
    maps = torch.empty(attributions.shape[0], *attributions.shape[-2:])
    for cutoff in np.unique(cutoffs):
        rows = torch.as_tensor(np.flatnonzero(cutoffs == cutoff))
        maps[rows] = forgrad(attributions[rows], float(cutoff), kind=kind, order=order).float().cpu()
    return maps


def browse_data(
    sweep: CutoffSweep,
    ranking: Ranking,
    images: Any,
    model: nn.Module | None = None,
    targets: Any = None,
    attributions: Any = None,
    method_options: Mapping[str, Any] | None = None,
    metric_options: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
) -> list[BrowsedImage]:
    """Images, raw and FORGrad maps and Deletion/Insertion curves of the ranking's shown images, in its order.

    Every model call happens here: ``explain`` of the shown images (unless ``attributions`` are given) with the
    sweep's method, options and seed, and :func:`~forgrad_viz.metrics.perturbation_curves` of the raw and the
    FORGrad map at each image's held-out sigma* under the sweep's protocol (``params``: steps, baselines,
    score). Without a model only the maps are made (from ``attributions``) and ``curves`` stay empty.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> sweep = CutoffSweep("saliency", "ideal", [2.0, 4.0], ("insertion",),
    ...                     {"insertion": [[0.5, 0.6, 0.4, 0.3], [0.7, 0.9, 0.2, 0.6]]},
    ...                     {"insertion": [0.5] * 4}, {"insertion": True}, [0, 1, 2, 3], params={"steps": 4})
    >>> shown = browse_data(sweep, rank_by_held_out_gain(sweep, "insertion"), torch.rand(4, 3, 16, 16), net)
    >>> [item.image_id for item in shown], shown[0].curves["deletion"].shape
    ([1, 0, 3, 2], (2, 5))
    """
    if model is None and attributions is None:
        raise ValueError(
            "SweepBrowser needs a model (to explain the shown images and draw their curves) or attributions"
        )
    rows = sweep.image_ids[ranking.shown]
    shown, data_targets = _read_rows(images, rows)
    if model is not None:
        model = check_model(model)
        device = model_device(model)
        on_device = shown.to(device)
        classes = _targets(model, on_device, targets, data_targets, rows)
    if attributions is not None:
        explained = _given_attributions(attributions, rows, tuple(shown.shape))
    else:
        options = dict(sweep.params.get("method_options", {}) if method_options is None else method_options)
        seed = int(sweep.params.get("seed", 0))
        explained = (
            explain(
                model, on_device, classes, method=sweep.method, batch_size=batch_size, seed=seed, **options
            )
            .detach()
            .cpu()
            .float()
        )
    order = int(sweep.params.get("order", 2))
    raw = explained.mean(dim=1).abs()
    cutoffs = ranking.cutoffs[ranking.shown]
    filtered = _filtered(explained, cutoffs, sweep.kind, order)
    x, curves = None, {}
    if model is not None:
        protocol = _protocol(sweep, metric_options)
        stacked = torch.stack([raw, filtered]).to(device)  # (2, n, H, W): raw, FORGrad
        shared = {k: v for k, v in protocol.items() if not k.endswith("_baseline")}
        for mode in CURVE_MODES:
            steps_x, values = perturbation_curves(
                model,
                on_device,
                stacked,
                classes,
                mode=mode,
                baseline=protocol[f"{mode}_baseline"],
                batch_size=batch_size,
                **shared,
            )
            x, curves[mode] = steps_x.double().numpy(), values.double().numpy()
    gains = ranking.held_out.per_image
    rank_of = np.empty(ranking.order.shape[0], dtype=np.int64)
    rank_of[ranking.order] = np.arange(1, ranking.order.shape[0] + 1)
    return [
        BrowsedImage(
            image_id=int(rows[i]),
            rank=int(rank_of[position]),
            gain=float(gains[position]),
            sigma_star=float(cutoffs[i]),
            image=shown[i],
            raw_map=raw[i].numpy(),
            filtered_map=filtered[i].numpy(),
            target=None if model is None else int(classes[i]),
            x=x,
            curves={mode: values[:, i] for mode, values in curves.items()},
        )
        for i, position in enumerate(ranking.shown)
    ]
