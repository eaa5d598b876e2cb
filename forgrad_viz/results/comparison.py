"""Cutoff sweeps of several models and methods side by side: rows of sigma* and gains, Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgrad_viz.results.cutoff_sweep import CutoffSweep
from forgrad_viz.results.serialization import _from_list, _read_json, _to_list, _write_json, _write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
