"""Result containers: faithfulness scores, cutoff sweeps and architecture comparisons.

Each result keeps per-image values (so that confidence intervals can be computed over images), reports means and
bootstrap intervals, converts to plain dictionaries, saves to and loads from JSON, and plots itself.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Metrics known to forgrad_viz and whether a larger score means a more faithful map.
HIGHER_IS_BETTER = {"deletion": False, "insertion": True, "mufidelity": True}


def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Percentile bootstrap confidence interval of the mean over the last axis.

    Images are resampled with replacement ``n_boot`` times (the same resamples for every leading index, so
    intervals of different rows are comparable).

    Parameters
    ----------
    values : numpy.ndarray
        Per-image values, shape (..., N).
    level : float
        Coverage of the interval, in (0, 1).
    n_boot : int
        Number of bootstrap resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    tuple
        ``(low, high)``, each of shape (...,) (floats for 1-D input).

    Examples
    --------
    >>> low, high = bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    >>> bool(low < 2.5 < high)
    True
    """
    values = np.asarray(values, dtype=np.float64)
    _check_level(level)
    if values.ndim == 0 or values.shape[-1] == 0:
        raise ValueError(
            f"values must have at least one element along the last axis; got shape {values.shape}"
        )
    means = values @ _bootstrap_weights(values.shape[-1], n_boot, seed).T  # (..., n_boot)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail], axis=-1)
    if values.ndim == 1:
        return float(low), float(high)
    return low, high


def _bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) weights such that ``values @ weights.T`` are the means of ``n_boot`` resamples.

    Each row counts how often each image is drawn in one resample with replacement (divided by ``n``), so the
    memory stays (n_boot, n) whatever the number of rows of values. Deterministic in ``seed``.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer; got {n_boot!r}")
    draws = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts / n


def _check_level(level: float) -> None:
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level}")


def _check_metric(metric: str, available: tuple[str, ...] | list[str]) -> str:
    if metric not in available:
        raise ValueError(f"metric must be one of {list(available)}; got {metric!r}")
    return metric


def _array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float64)


def _to_list(value: np.ndarray | None) -> list | None:
    """Nested list of floats for JSON (NaN is written as ``NaN``, which :mod:`json` reads back)."""
    return None if value is None else np.asarray(value, dtype=np.float64).tolist()


def _from_list(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    return np.array(value, dtype=np.float64)


def _write_json(data: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n")
    return path


def _read_json(path: str | Path, kind: str) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if data.get("type") != kind:
        raise ValueError(f"{path} does not hold a {kind} (found type {data.get('type')!r})")
    return data


@dataclass
class FaithfulnessResult:
    """Per-image scores of one faithfulness metric, with the Deletion/Insertion curves when there are some.

    Attributes
    ----------
    metric : str
        ``"deletion"``, ``"insertion"`` or ``"mufidelity"``.
    scores : numpy.ndarray
        One score per image, shape (N,): the area under the curve (Deletion/Insertion) or the correlation
        (MuFidelity).
    higher_is_better : bool
        Whether a larger score means a more faithful map (False for Deletion).
    params : dict
        The protocol's parameters (steps, baseline, score, ...), JSON-serialisable.
    curves : numpy.ndarray or None
        Score versus fraction of pixels perturbed, shape (N, P).
    x : numpy.ndarray or None
        The fractions of pixels perturbed, shape (P,), from 0 to 1.

    Examples
    --------
    >>> result = FaithfulnessResult("insertion", np.array([0.5, 0.7]), True, {"steps": 2})
    >>> round(result.mean(), 3)
    0.6
    """

    metric: str
    scores: np.ndarray
    higher_is_better: bool
    params: dict[str, Any] = field(default_factory=dict)
    curves: np.ndarray | None = None
    x: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        self.curves = _array(self.curves)
        self.x = _array(self.x)
        if self.curves is not None:
            if self.curves.ndim != 2 or self.curves.shape[0] != self.scores.shape[0]:
                raise ValueError(
                    f"curves must have shape (N, P) with N={self.scores.shape[0]}; got {self.curves.shape}"
                )
            if self.x is None or self.x.shape != (self.curves.shape[1],):
                raise ValueError(f"x must have shape ({self.curves.shape[1]},) to match curves")

    def mean(self) -> float:
        """Mean score over images."""
        return float(self.scores.mean())

    def confidence_interval(
        self, level: float = 0.95, n_boot: int = 1000, seed: int = 0
    ) -> tuple[float, float]:
        """Percentile bootstrap interval of the mean score over images."""
        return bootstrap_ci(self.scores, level=level, n_boot=n_boot, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary (see :meth:`from_dict`)."""
        return {
            "type": "FaithfulnessResult",
            "metric": self.metric,
            "scores": _to_list(self.scores),
            "higher_is_better": self.higher_is_better,
            "params": self.params,
            "curves": _to_list(self.curves),
            "x": _to_list(self.x),
            "mean": self.mean(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaithfulnessResult:
        """Rebuild a result written by :meth:`to_dict`."""
        return cls(
            metric=data["metric"],
            scores=_from_list(data["scores"]),
            higher_is_better=bool(data["higher_is_better"]),
            params=dict(data.get("params", {})),
            curves=_from_list(data.get("curves")),
            x=_from_list(data.get("x")),
        )

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON to ``path`` and return the path."""
        return _write_json(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> FaithfulnessResult:
        """Read a result saved with :meth:`save`."""
        return cls.from_dict(_read_json(path, "FaithfulnessResult"))

    def plot(self, ax: Any = None, **kwargs: Any) -> Figure:
        """Score-versus-fraction curves (see :func:`forgrad_viz.plot.faithfulness_curves`)."""
        from forgrad_viz.plot import faithfulness_curves

        return faithfulness_curves(self, ax=ax, **kwargs)


@dataclass(frozen=True)
class BestCutoff:
    """The cutoff with the best mean score, with a bootstrap interval over images.

    ``low``/``high`` are percentiles of the best cutoff over bootstrap resamples of the images.
    """

    metric: str
    cutoff: float
    low: float
    high: float
    score: float
    unfiltered: float


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
        Parameters of the sweep and of the metrics.
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

    def best_cutoff(self, metric: str, level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> BestCutoff:
        """The cutoff sigma* with the best mean score, and a bootstrap interval of sigma* over images.

        For a metric where higher is better sigma* is the argmax of the mean score over cutoffs, else the
        argmin. The interval holds the ``level`` central percentiles of sigma* recomputed on ``n_boot``
        resamples of the images.
        """
        scores = self.scores[_check_metric(metric, self.metrics)]
        _check_level(level)
        sign = 1.0 if self.higher_is_better[metric] else -1.0
        best = int(np.argmax(sign * scores.mean(axis=1)))
        resampled = scores @ _bootstrap_weights(self.n_images, n_boot, seed).T  # (S, n_boot)
        boot_cutoffs = self.cutoffs[np.argmax(sign * resampled, axis=0)]
        tail = (1.0 - level) / 2.0 * 100.0
        low, high = np.percentile(boot_cutoffs, [tail, 100.0 - tail], method="nearest")
        return BestCutoff(
            metric=metric,
            cutoff=float(self.cutoffs[best]),
            low=float(low),
            high=float(high),
            score=float(scores[best].mean()),
            unfiltered=float(self.unfiltered[metric].mean()),
        )

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


_ROW_FIELDS = (
    "model",
    "method",
    "metric",
    "sigma_star",
    "sigma_low",
    "sigma_high",
    "unfiltered",
    "at_sigma_star",
    "improvement",
)


@dataclass
class ArchitectureComparison:
    """Cutoff sweeps of several models and methods, with black-box references on the same images.

    Attributes
    ----------
    sweeps : dict
        Model name -> method -> :class:`CutoffSweep`.
    references : dict
        Model name -> black-box method -> metric -> per-image scores (N,).
    """

    sweeps: dict[str, dict[str, CutoffSweep]]
    references: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sweeps or not all(self.sweeps.values()):
            raise ValueError("sweeps must hold at least one model with at least one method")
        self.references = {
            model: {
                method: {m: np.asarray(v, dtype=np.float64).reshape(-1) for m, v in scores.items()}
                for method, scores in methods.items()
            }
            for model, methods in self.references.items()
        }

    @property
    def models(self) -> list[str]:
        """The model names, in insertion order."""
        return list(self.sweeps)

    @property
    def methods(self) -> list[str]:
        """The white-box methods swept, in first-seen order."""
        return list(dict.fromkeys(method for by_method in self.sweeps.values() for method in by_method))

    @property
    def metrics(self) -> list[str]:
        """The metrics scored, in first-seen order."""
        return list(
            dict.fromkeys(
                m for by_method in self.sweeps.values() for s in by_method.values() for m in s.metrics
            )
        )

    def rows(self, level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
        """One row per model x method x metric (and per black-box reference): sigma*, scores, improvement.

        ``improvement`` is signed so that a positive value means FORGrad at sigma* is more faithful than the
        unfiltered map (for Deletion, where lower is better, it is unfiltered minus filtered).
        """
        rows: list[dict[str, Any]] = []
        for model, by_method in self.sweeps.items():
            for method, sweep in by_method.items():
                for metric in sweep.metrics:
                    best = sweep.best_cutoff(metric, level=level, n_boot=n_boot, seed=seed)
                    sign = 1.0 if sweep.higher_is_better[metric] else -1.0
                    rows.append(
                        {
                            "model": model,
                            "method": method,
                            "metric": metric,
                            "sigma_star": best.cutoff,
                            "sigma_low": best.low,
                            "sigma_high": best.high,
                            "unfiltered": best.unfiltered,
                            "at_sigma_star": best.score,
                            "improvement": sign * (best.score - best.unfiltered),
                        }
                    )
            for method, scores in self.references.get(model, {}).items():
                for metric, values in scores.items():
                    rows.append(
                        {
                            "model": model,
                            "method": method,
                            "metric": metric,
                            "sigma_star": math.nan,
                            "sigma_low": math.nan,
                            "sigma_high": math.nan,
                            "unfiltered": float(values.mean()),
                            "at_sigma_star": float(values.mean()),
                            "improvement": math.nan,
                        }
                    )
        return rows

    def to_markdown(self, digits: int = 3) -> str:
        """The rows as a Markdown table (black-box references show their score and dashes for sigma*)."""
        header = [
            "model",
            "method",
            "metric",
            "sigma*",
            "sigma* interval",
            "unfiltered",
            "at sigma*",
            "improvement",
        ]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

        def fmt(value: float) -> str:
            return "—" if not math.isfinite(value) else f"{value:.{digits}f}"

        for row in self.rows():
            interval = (
                "—"
                if not math.isfinite(row["sigma_low"])
                else f"[{row['sigma_low']:.3g}, {row['sigma_high']:.3g}]"
            )
            sigma = "—" if not math.isfinite(row["sigma_star"]) else f"{row['sigma_star']:.3g}"
            cells = [
                row["model"],
                row["method"],
                row["metric"],
                sigma,
                interval,
                fmt(row["unfiltered"]),
                fmt(row["at_sigma_star"]),
                fmt(row["improvement"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_csv(self, path: str | Path | None = None) -> str:
        """The rows as CSV text; also written to ``path`` when given."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_ROW_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows():
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        text = buffer.getvalue()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary (see :meth:`from_dict`)."""
        return {
            "type": "ArchitectureComparison",
            "sweeps": {model: {k: s.to_dict() for k, s in d.items()} for model, d in self.sweeps.items()},
            "references": {
                model: {k: {m: _to_list(v) for m, v in d.items()} for k, d in methods.items()}
                for model, methods in self.references.items()
            },
            "rows": self.rows(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchitectureComparison:
        """Rebuild a comparison written by :meth:`to_dict`."""
        return cls(
            sweeps={
                model: {k: CutoffSweep.from_dict(s) for k, s in d.items()}
                for model, d in data["sweeps"].items()
            },
            references={
                model: {k: {m: _from_list(v) for m, v in d.items()} for k, d in methods.items()}
                for model, methods in data.get("references", {}).items()
            },
        )

    def save(self, path: str | Path) -> Path:
        """Write the comparison as JSON to ``path`` and return the path."""
        return _write_json(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> ArchitectureComparison:
        """Read a comparison saved with :meth:`save`."""
        return cls.from_dict(_read_json(path, "ArchitectureComparison"))

    def plot(self, **kwargs: Any) -> Figure:
        """sigma* per architecture and the faithfulness gain (see
        :func:`forgrad_viz.plot.architecture_comparison`)."""
        from forgrad_viz.plot import architecture_comparison

        return architecture_comparison(self, **kwargs)
