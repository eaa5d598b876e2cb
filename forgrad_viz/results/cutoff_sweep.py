"""Faithfulness of FORGrad maps at many cutoffs, per image, and the best cutoff sigma* with its interval."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgrad_viz.results import paired
from forgrad_viz.results.edges import edge_message, grid_edge
from forgrad_viz.results.serialization import _from_list, _read_json, _to_list, _write_json
from forgrad_viz.results.statistics import _bootstrap_weights, _check_level, _percentiles, bootstrap_ci

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _check_metric(metric: str, available: tuple[str, ...] | list[str]) -> str:
    if metric not in available:
        raise ValueError(f"metric must be one of {list(available)}; got {metric!r}")
    return metric


@dataclass(frozen=True)
class BestCutoff:
    """The cutoff with the best mean score, with a bootstrap interval over images.

    ``low``/``high`` are percentiles of the best cutoff over bootstrap resamples of the images. ``nyquist`` is
    ``cutoff`` as a fraction of the Nyquist frequency of the maps' shorter side (a unit that transfers across
    input resolutions, :func:`~forgrad_viz.filters.cutoff_to_nyquist`), ``None`` when the sweep does not record
    its image size. ``edge`` is ``""`` inside the grid, else a key of
    :data:`~forgrad_viz.results.edges.EDGE_NOTES` (what a sigma* at that end of the grid means).
    """

    metric: str
    cutoff: float
    low: float
    high: float
    score: float
    unfiltered: float
    nyquist: float | None = None
    edge: str = ""


@dataclass
class CutoffSweep:
    """Faithfulness of FORGrad maps at many cutoffs, per image, with the unfiltered map as reference.

    Attributes
    ----------
    method : str
        The attribution method that made the maps.
    kind : str
        The low-pass filter (``"ideal"``, ``"gaussian"``, ``"butterworth"``).
    cutoffs : numpy.ndarray
        Cutoffs in cycles per image, ascending, shape (S,).
    metrics : tuple of str
        The metrics scored.
    scores : dict
        Metric -> per-cutoff, per-image scores, shape (S, N).
    unfiltered : dict
        Metric -> scores of the unfiltered map (channel mean, absolute value), shape (N,).
    higher_is_better : dict
        Metric -> whether larger scores are better.
    image_ids : numpy.ndarray
        Index of each image in the full set, shape (N,) (used to merge shards).
    model_name : str
        A label for the model.
    params : dict
        Parameters of the sweep and of the metrics; ``params["image_size"]`` is the maps' ``[H, W]`` (recorded
        by :func:`~forgrad_viz.sweep.sweep_cutoffs`; see :attr:`image_size`).
    references : dict
        Black-box method -> metric -> per-image scores (N,), on the same images.

    Examples
    --------
    >>> sweep = CutoffSweep("saliency", "ideal", np.array([1.0, 2.0]), ("insertion",),
    ...                     {"insertion": np.array([[0.2, 0.4], [0.6, 0.8]])}, {"insertion": np.array([0.1, 0.1])},
    ...                     {"insertion": True}, np.array([0, 1]))
    >>> sweep.best_cutoff("insertion").cutoff
    2.0
    """

    method: str
    kind: str
    cutoffs: np.ndarray
    metrics: tuple[str, ...]
    scores: dict[str, np.ndarray]
    unfiltered: dict[str, np.ndarray]
    higher_is_better: dict[str, bool]
    image_ids: np.ndarray
    model_name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    references: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cutoffs = np.asarray(self.cutoffs, dtype=np.float64).reshape(-1)
        self.metrics = tuple(self.metrics)
        self.image_ids = np.asarray(self.image_ids, dtype=np.int64).reshape(-1)
        self.scores = {m: np.asarray(v, dtype=np.float64) for m, v in self.scores.items()}
        self.unfiltered = {m: np.asarray(v, dtype=np.float64).reshape(-1) for m, v in self.unfiltered.items()}
        self.references = {
            method: {m: np.asarray(v, dtype=np.float64).reshape(-1) for m, v in values.items()}
            for method, values in self.references.items()
        }
        n_cutoffs, n_images = self.cutoffs.shape[0], self.image_ids.shape[0]
        if n_cutoffs == 0 or n_images == 0:
            raise ValueError("a CutoffSweep needs at least one cutoff and one image")
        if np.any(np.diff(self.cutoffs) <= 0):
            raise ValueError("cutoffs must be strictly ascending")
        for metric in self.metrics:
            if (
                metric not in self.scores
                or metric not in self.unfiltered
                or metric not in self.higher_is_better
            ):
                raise ValueError(f"metric {metric!r} needs scores, unfiltered scores and higher_is_better")
            if self.scores[metric].shape != (n_cutoffs, n_images):
                raise ValueError(
                    f"scores[{metric!r}] must have shape ({n_cutoffs}, {n_images}); "
                    f"got {self.scores[metric].shape}"
                )
            if self.unfiltered[metric].shape != (n_images,):
                raise ValueError(f"unfiltered[{metric!r}] must have shape ({n_images},)")

    @property
    def n_images(self) -> int:
        """Number of images scored."""
        return int(self.image_ids.shape[0])

    @property
    def image_size(self) -> tuple[int, int] | None:
        """The maps' ``(H, W)`` from ``params["image_size"]``, or None when the sweep does not record it."""
        size = self.params.get("image_size")
        if size is None:
            return None
        if (
            not isinstance(size, (list, tuple))
            or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 2 for s in size)
        ):
            raise ValueError(f"params['image_size'] must be [H, W], two integers >= 2; got {size!r}")
        return int(size[0]), int(size[1])

    def nyquist(self, cutoff: float) -> float | None:
        """``cutoff`` (cycles per image) as a fraction of Nyquist of the maps' shorter side; None when the image
        size is not recorded. See :func:`~forgrad_viz.filters.cutoff_to_nyquist`."""
        size = self.image_size
        if size is None:
            return None
        # imported here, not at the top: the results import without torch
        from forgrad_viz.filters import cutoff_to_nyquist

        return float(cutoff_to_nyquist(float(cutoff), *size))

    def mean(self, metric: str) -> np.ndarray:
        """Mean score over images at each cutoff, shape (S,)."""
        return self.scores[_check_metric(metric, self.metrics)].mean(axis=1)

    def confidence_interval(
        self, metric: str, level: float = 0.95, n_boot: int = 1000, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap interval of the mean at each cutoff: ``(low, high)``, each of shape (S,)."""
        scores = self.scores[_check_metric(metric, self.metrics)]
        low, high = bootstrap_ci(scores, level=level, n_boot=n_boot, seed=seed)
        return np.atleast_1d(low), np.atleast_1d(high)

    def best_cutoff(
        self, metric: str, level: float = 0.95, n_boot: int = 1000, seed: int = 0, warn_at_edge: bool = True
    ) -> BestCutoff:
        """The cutoff sigma* with the best mean score, and a bootstrap interval of sigma* over images.

        For a metric where higher is better sigma* is the argmax of the mean score over cutoffs, else the
        argmin. The interval holds the ``level`` central percentiles of sigma* recomputed on ``n_boot``
        resamples of the images. This is the in-sample choice: report its gain with :meth:`held_out`. A sigma*
        at either end of the grid warns (``warn_at_edge``) with what that end means
        (:func:`~forgrad_viz.results.edges.edge_message`): at a cutoff of 1 cycle per image or less an almost
        constant map (a lower cutoff cannot help), at a largest cutoff that removes nothing the unfiltered map
        (the filter does not help), else a grid to extend. ``BestCutoff.edge`` says which.
        """
        scores = self.scores[_check_metric(metric, self.metrics)]
        _check_level(level)
        sign = 1.0 if self.higher_is_better[metric] else -1.0
        best = int(np.argmax(sign * scores.mean(axis=1)))
        resampled = scores @ _bootstrap_weights(self.n_images, n_boot, seed).T  # (S, n_boot)
        boot_cutoffs = self.cutoffs[np.argmax(sign * resampled, axis=0)]
        low, high = _percentiles(boot_cutoffs, level, method="nearest")
        message = edge_message(self, metric, best)
        if warn_at_edge and message:
            warnings.warn(message, UserWarning, stacklevel=2)
        return BestCutoff(
            metric=metric,
            cutoff=float(self.cutoffs[best]),
            low=float(low),
            high=float(high),
            score=float(scores[best].mean()),
            unfiltered=float(self.unfiltered[metric].mean()),
            nyquist=self.nyquist(self.cutoffs[best]),
            edge=grid_edge(self, best),
        )

    def gain(self, metric: str) -> np.ndarray:
        """Mean paired gain of each cutoff over the unfiltered map, shape (S,); > 0 means better than unfiltered.

        See :func:`forgrad_viz.results.paired.gain`.
        """
        return paired.gain(self, metric)

    def gain_interval(
        self, metric: str, level: float = 0.95, n_boot: int = 1000, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Paired bootstrap interval of :meth:`gain` (the same image resamples for every cutoff): ``(low, high)``.

        See :func:`forgrad_viz.results.paired.gain_interval`.
        """
        return paired.gain_interval(self, metric, level=level, n_boot=n_boot, seed=seed)

    def held_out(
        self, metric: str, folds: int = 2, seed: int = 0, level: float = 0.95, n_boot: int = 1000
    ) -> paired.HeldOutGain:
        """The held-out gain of FORGrad: sigma* chosen on the other folds, scored on the fold left out.

        The number to report: sigma* is never scored on the images that chose it. See
        :func:`forgrad_viz.results.paired.held_out`.
        """
        return paired.held_out(self, metric, folds=folds, seed=seed, level=level, n_boot=n_boot)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary (see :meth:`from_dict`)."""
        return {
            "type": "CutoffSweep",
            "method": self.method,
            "kind": self.kind,
            "model_name": self.model_name,
            "cutoffs": _to_list(self.cutoffs),
            "metrics": list(self.metrics),
            "scores": {m: _to_list(v) for m, v in self.scores.items()},
            "unfiltered": {m: _to_list(v) for m, v in self.unfiltered.items()},
            "higher_is_better": dict(self.higher_is_better),
            "image_ids": self.image_ids.tolist(),
            "params": self.params,
            "references": {k: {m: _to_list(v) for m, v in d.items()} for k, d in self.references.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CutoffSweep:
        """Rebuild a sweep written by :meth:`to_dict`."""
        return cls(
            method=data["method"],
            kind=data["kind"],
            cutoffs=_from_list(data["cutoffs"]),
            metrics=tuple(data["metrics"]),
            scores={m: _from_list(v) for m, v in data["scores"].items()},
            unfiltered={m: _from_list(v) for m, v in data["unfiltered"].items()},
            higher_is_better={m: bool(v) for m, v in data["higher_is_better"].items()},
            image_ids=np.asarray(data["image_ids"], dtype=np.int64),
            model_name=data.get("model_name", ""),
            params=dict(data.get("params", {})),
            references={
                k: {m: _from_list(v) for m, v in d.items()} for k, d in data.get("references", {}).items()
            },
        )

    def save(self, path: str | Path) -> Path:
        """Write the sweep as JSON to ``path`` and return the path."""
        return _write_json(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> CutoffSweep:
        """Read a sweep saved with :meth:`save`."""
        return cls.from_dict(_read_json(path, "CutoffSweep"))

    @classmethod
    def merge(cls, sweeps: list[CutoffSweep]) -> CutoffSweep:
        """Combine sweeps of disjoint image shards into one, images ordered by ``image_ids``.

        The shards must share method, filter kind, cutoffs, metrics and model name, and hold distinct images.
        """
        sweeps = list(sweeps)
        if not sweeps:
            raise ValueError("sweeps must hold at least one CutoffSweep")
        first = sweeps[0]
        for other in sweeps[1:]:
            same = (
                other.method == first.method
                and other.kind == first.kind
                and other.metrics == first.metrics
                and other.model_name == first.model_name
                and np.array_equal(other.cutoffs, first.cutoffs)
                and set(other.references) == set(first.references)
            )
            if not same:
                raise ValueError("sweeps to merge must share method, kind, metrics, model name and cutoffs")
        image_ids = np.concatenate([s.image_ids for s in sweeps])
        if np.unique(image_ids).shape[0] != image_ids.shape[0]:
            raise ValueError("sweeps to merge must hold distinct images (duplicate image_ids)")
        order = np.argsort(image_ids, kind="stable")

        def joined(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts, axis=-1)[..., order]

        return cls(
            method=first.method,
            kind=first.kind,
            cutoffs=first.cutoffs,
            metrics=first.metrics,
            scores={m: joined([s.scores[m] for s in sweeps]) for m in first.metrics},
            unfiltered={m: joined([s.unfiltered[m] for s in sweeps]) for m in first.metrics},
            higher_is_better=dict(first.higher_is_better),
            image_ids=image_ids[order],
            model_name=first.model_name,
            params=dict(first.params),
            references={
                name: {m: joined([s.references[name][m] for s in sweeps]) for m in values}
                for name, values in first.references.items()
            },
        )

    def plot(self, metric: str | None = None, ax: Any = None, **kwargs: Any) -> Figure:
        """Faithfulness versus cutoff (see :func:`forgrad_viz.plot.cutoff_curves`)."""
        from forgrad_viz.plot import cutoff_curves

        return cutoff_curves(self, metric=metric, ax=ax, **kwargs)
