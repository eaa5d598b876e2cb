"""Per-image scores of one faithfulness metric (Deletion, Insertion, MuFidelity), with their curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgrad_viz.results.serialization import _from_list, _read_json, _to_list, _write_json
from forgrad_viz.results.statistics import bootstrap_ci

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Metrics known to forgrad_viz and whether a larger score means a more faithful map.
HIGHER_IS_BETTER = {"deletion": False, "insertion": True, "mufidelity": True}


def _array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float64)


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
