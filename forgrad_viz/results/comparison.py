"""Cutoff sweeps of several models and methods side by side: rows of sigma* and gains, Markdown, CSV and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgrad_viz.results import comparison_rows as _rows
from forgrad_viz.results.cutoff_sweep import CutoffSweep
from forgrad_viz.results.serialization import _from_list, _read_json, _to_list, _write_json, _write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class ArchitectureComparison:
    """Cutoff sweeps of several models and methods, with black-box references on the same images.

    Attributes
    ----------
    sweeps : dict
        Model name -> method -> :class:`CutoffSweep`.
    references : dict
        Model name -> black-box method -> metric -> per-image scores (N,).
    weights_sources : dict
        Model name -> where its weights came from (:meth:`forgrad_viz.models.WeightsSource.to_dict`), when known.

    Examples
    --------
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 2.0, 4.0], ("insertion",),
    ...                     {"insertion": [[0.2, 0.3, 0.2, 0.3], [0.6, 0.7, 0.6, 0.7], [0.4] * 4]},
    ...                     {"insertion": [0.1] * 4}, {"insertion": True}, [0, 1, 2, 3])
    >>> comparison = ArchitectureComparison({"a": {"saliency": sweep}, "b": {"saliency": sweep}})
    >>> [round(row["held_out_gain"], 3) for row in comparison.rows()], comparison.differences()[0]["differs"]
    ([0.55, 0.55], False)
    """

    sweeps: dict[str, dict[str, CutoffSweep]]
    references: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    weights_sources: dict[str, dict[str, Any]] = field(default_factory=dict)

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

    def rows(
        self, level: float = 0.95, n_boot: int = 1000, seed: int = 0, folds: int = 2
    ) -> list[dict[str, Any]]:
        """One row per model x method x metric (then per black-box reference): sigma*, in-sample and held-out gains.

        ``improvement`` is the in-sample gain at sigma* (chosen and scored on the same images: biased upwards);
        ``held_out_gain``, ``held_out_low``, ``held_out_high`` and ``held_out_excludes_zero`` come from
        :meth:`CutoffSweep.held_out` with ``folds`` folds (sigma* never scored on the images that chose it).
        Gains are signed so that > 0 means more faithful than the unfiltered map (for Deletion, lower is better).
        ``note`` says what a sigma* at the smallest or largest cutoff means (a near-constant map, the unfiltered
        map, or a grid to extend: :data:`~forgrad_viz.results.edges.EDGE_NOTES`; no warning is raised);
        ``weights`` is where the model's weights came from, when known. See
        :func:`forgrad_viz.results.comparison_rows.cutoff_rows`.
        """
        rows = _rows.cutoff_rows(
            self.sweeps, self.references, level=level, n_boot=n_boot, seed=seed, folds=folds
        )
        for row in rows:
            row["weights"] = _weights_label(self.weights_sources.get(row["model"]))
        return rows

    def differences(self, level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
        """Do the sigma* of two models differ? One row per method x metric x pair of models.

        Each row is :func:`forgrad_viz.results.compare_best_cutoffs` of the two sweeps (same images): ``ratio``
        sigma*_a / sigma*_b in ``ratio_unit`` (fractions of Nyquist when both sweeps record their image size,
        else cycles per image), its paired bootstrap interval ``ratio_low``/``ratio_high``, and ``differs`` (the
        interval excludes 1). See :func:`forgrad_viz.results.comparison_rows.difference_rows`.
        """
        return _rows.difference_rows(self.sweeps, level=level, n_boot=n_boot, seed=seed)

    def to_markdown(self, digits: int = 3) -> str:
        """The rows as a Markdown table (black-box references show their score and dashes elsewhere)."""
        return _rows.cutoff_markdown(self.rows(), digits=digits)

    def differences_to_markdown(self, digits: int = 3) -> str:
        """:meth:`differences` as a Markdown table ("do the sigma* differ?")."""
        return _rows.difference_markdown(self.differences(), digits=digits)

    def to_csv(self, path: str | Path | None = None) -> str:
        """The rows as CSV text; also written to ``path`` when given."""
        text = _rows.rows_to_csv(self.rows(), (*_rows.ROW_FIELDS, "weights"))
        if path is not None:
            _write_text(text, path)
        return text

    def differences_to_csv(self, path: str | Path | None = None) -> str:
        """:meth:`differences` as CSV text; also written to ``path`` when given."""
        text = _rows.rows_to_csv(self.differences(), _rows.DIFFERENCE_FIELDS)
        if path is not None:
            _write_text(text, path)
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
            "weights_sources": self.weights_sources,
            "rows": self.rows(),
            "differences": self.differences(),
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
            weights_sources=dict(data.get("weights_sources", {})),
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


def _weights_label(source: dict[str, Any] | None) -> str:
    """A one-line label of a weights source dict (kind, detail, file, SHA-256); "" when unknown."""
    if not source:
        return ""
    parts = [source.get("kind"), source.get("detail"), source.get("path"), source.get("sha256")]
    return ", ".join(str(part) for part in parts if part)
