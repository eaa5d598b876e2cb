"""Rows of :class:`~forgrad_viz.results.ArchitectureComparison`'s tables, and their Markdown and CSV forms.

Two tables: one row per model x method x metric (sigma*, its interval, the in-sample gain at sigma*, the held-out
gain with its interval), and one row per pair of models x method x metric (do their sigma* differ?).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from forgrad_viz.results.best_cutoffs import compare_best_cutoffs
from forgrad_viz.results.cutoff_sweep import CutoffSweep
from forgrad_viz.results.edges import EDGE_NOTES

#: Columns of :func:`cutoff_rows`, in order.
ROW_FIELDS = (
    "model",
    "method",
    "metric",
    "n_images",
    "sigma_star",
    "sigma_low",
    "sigma_high",
    "unfiltered",
    "at_sigma_star",
    "improvement",
    "held_out_gain",
    "held_out_low",
    "held_out_high",
    "held_out_excludes_zero",
    "folds",
    "note",
)

#: Columns of :func:`difference_rows`, in order.
DIFFERENCE_FIELDS = (
    "method",
    "metric",
    "model_a",
    "model_b",
    "n_images",
    "sigma_a",
    "sigma_b",
    "nyquist_a",
    "nyquist_b",
    "ratio",
    "ratio_low",
    "ratio_high",
    "ratio_unit",
    "differs",
)


def _sweep_row(
    model: str, method: str, sweep: CutoffSweep, metric: str, level: float, n_boot: int, seed: int, folds: int
) -> dict[str, Any]:
    best = sweep.best_cutoff(metric, level=level, n_boot=n_boot, seed=seed, warn_at_edge=False)
    held = sweep.held_out(metric, folds=folds, seed=seed, level=level, n_boot=n_boot)
    sign = 1.0 if sweep.higher_is_better[metric] else -1.0
    return {
        "model": model,
        "method": method,
        "metric": metric,
        "n_images": sweep.n_images,
        "sigma_star": best.cutoff,
        "sigma_low": best.low,
        "sigma_high": best.high,
        "unfiltered": best.unfiltered,
        "at_sigma_star": best.score,
        "improvement": sign * (best.score - best.unfiltered),
        "held_out_gain": held.gain,
        "held_out_low": held.low,
        "held_out_high": held.high,
        "held_out_excludes_zero": held.excludes_zero,
        "folds": held.folds,
        "note": EDGE_NOTES[best.edge] if best.edge else "",
    }


def _reference_row(model: str, method: str, metric: str, values: np.ndarray) -> dict[str, Any]:
    nan = math.nan
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS, nan)
    mean = float(values.mean())
    row.update(model=model, method=method, metric=metric, n_images=int(values.shape[0]))
    row.update(unfiltered=mean, at_sigma_star=mean, held_out_excludes_zero="", folds="", note="black-box")
    return row


def cutoff_rows(
    sweeps: Mapping[str, Mapping[str, CutoffSweep]],
    references: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    folds: int = 2,
) -> list[dict[str, Any]]:
    """One row per model x method x metric (then per black-box reference), with the fields of :data:`ROW_FIELDS`.

    ``improvement`` is the in-sample gain at sigma* (sigma* chosen and scored on all images, biased upwards);
    ``held_out_*`` is :meth:`CutoffSweep.held_out` (sigma* chosen on the other folds): the number to report.
    Gains are signed so that > 0 means better than the unfiltered map. A sigma* at either end of the grid is
    noted in ``note`` with what that end means (:data:`~forgrad_viz.results.edges.EDGE_NOTES`; no warning).
    Black-box references have a score and NaN for the rest.

    Examples
    --------
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 2.0, 4.0], ("insertion",),
    ...                     {"insertion": [[0.2, 0.3, 0.2, 0.3], [0.6, 0.7, 0.6, 0.7], [0.4] * 4]},
    ...                     {"insertion": [0.1] * 4}, {"insertion": True}, [0, 1, 2, 3])
    >>> row = cutoff_rows({"cnn": {"saliency": sweep}}, {})[0]
    >>> row["sigma_star"], round(row["held_out_gain"], 3), row["note"]
    (2.0, 0.55, '')
    """
    rows: list[dict[str, Any]] = []
    for model, by_method in sweeps.items():
        for method, sweep in by_method.items():
            for metric in sweep.metrics:
                rows.append(_sweep_row(model, method, sweep, metric, level, n_boot, seed, folds))
        for method, scores in references.get(model, {}).items():
            rows.extend(_reference_row(model, method, metric, values) for metric, values in scores.items())
    return rows


def difference_rows(
    sweeps: Mapping[str, Mapping[str, CutoffSweep]], level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per method x metric x pair of models: :func:`~forgrad_viz.results.compare_best_cutoffs`.

    ``sigma_a``/``sigma_b`` are in cycles per image, ``nyquist_a``/``nyquist_b`` the same as fractions of Nyquist
    (None when a sweep does not record its image size). ``ratio`` is sigma*_a / sigma*_b in ``ratio_unit``
    (fractions of Nyquist when both sizes are known, which transfers across resolutions, else cycles per image)
    with its paired bootstrap interval; ``differs`` says the interval excludes 1.

    Examples
    --------
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 2.0], ("insertion",), {"insertion": [[0.2, 0.3], [0.6, 0.7]]},
    ...                     {"insertion": [0.1, 0.1]}, {"insertion": True}, [0, 1])
    >>> difference_rows({"a": {"saliency": sweep}, "b": {"saliency": sweep}})[0]["differs"]
    False
    """
    rows: list[dict[str, Any]] = []
    methods = dict.fromkeys(method for by_method in sweeps.values() for method in by_method)
    for method in methods:
        having = [model for model, by_method in sweeps.items() if method in by_method]
        for model_a, model_b in itertools.combinations(having, 2):
            sweep_a, sweep_b = sweeps[model_a][method], sweeps[model_b][method]
            for metric in (m for m in sweep_a.metrics if m in sweep_b.metrics):
                found = compare_best_cutoffs(sweep_a, sweep_b, metric, level=level, n_boot=n_boot, seed=seed)
                rows.append(
                    {
                        "method": method,
                        "metric": metric,
                        "model_a": model_a,
                        "model_b": model_b,
                        "n_images": found.n_images,
                        "sigma_a": found.cutoff_a,
                        "sigma_b": found.cutoff_b,
                        "nyquist_a": found.nyquist_a,
                        "nyquist_b": found.nyquist_b,
                        "ratio": found.ratio,
                        "ratio_low": found.low,
                        "ratio_high": found.high,
                        "ratio_unit": found.unit,
                        "differs": found.differs,
                    }
                )
    return rows


def rows_to_csv(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """CSV text of ``rows`` with the columns ``fields`` (floats with 6 significant digits)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in fields})
    return buffer.getvalue()


def _number(value: Any, digits: int) -> str:
    return "—" if not isinstance(value, (int, float)) or not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(low: Any, high: Any, digits: int, fmt: str = "f") -> str:
    if not isinstance(low, (int, float)) or not math.isfinite(low):
        return "—"
    return f"[{low:.{digits}{fmt}}, {high:.{digits}{fmt}}]"


def _table(header: str, cells: list[list[str]]) -> str:
    """A Markdown table; ``header`` names the columns, separated by " | "."""
    lines = ["| " + header + " |", "|" + "---|" * len(header.split(" | "))]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def cutoff_markdown(rows: Sequence[Mapping[str, Any]], digits: int = 3) -> str:
    """The rows of :func:`cutoff_rows` as a Markdown table."""
    header = (
        "model | method | metric | N | sigma* | sigma* interval | "
        "unfiltered | at sigma* | in-sample gain | held-out gain | held-out interval | excludes 0 | note"
    )
    cells = []
    for row in rows:
        excludes = row["held_out_excludes_zero"]
        cells.append(
            [
                row["model"],
                row["method"],
                row["metric"],
                str(row["n_images"]),
                "—" if not math.isfinite(row["sigma_star"]) else f"{row['sigma_star']:.3g}",
                _interval(row["sigma_low"], row["sigma_high"], 3, "g"),
                _number(row["unfiltered"], digits),
                _number(row["at_sigma_star"], digits),
                _number(row["improvement"], digits),
                _number(row["held_out_gain"], digits),
                _interval(row["held_out_low"], row["held_out_high"], digits),
                ("yes" if excludes else "no") if isinstance(excludes, bool) else "—",
                row["note"],
            ]
        )
    return _table(header, cells)


def _sigma(cutoff: float, nyquist: float | None) -> str:
    """sigma* in cycles per image, and as a fraction of Nyquist when known: ``15 (0.134 Nyquist)``."""
    return f"{cutoff:.3g}" if nyquist is None else f"{cutoff:.3g} ({nyquist:.3g} Nyquist)"


def difference_markdown(rows: Sequence[Mapping[str, Any]], digits: int = 3) -> str:
    """The rows of :func:`difference_rows` as a Markdown table ("do the sigma* differ?").

    sigma* is shown in cycles per image with its fraction of Nyquist when known; the column "ratio in" names
    the unit of the ratio and its interval.
    """
    header = "method | metric | model a | model b | N | sigma* a | sigma* b | ratio a/b | interval | ratio in | differ"
    cells = [
        [
            row["method"],
            row["metric"],
            row["model_a"],
            row["model_b"],
            str(row["n_images"]),
            _sigma(row["sigma_a"], row["nyquist_a"]),
            _sigma(row["sigma_b"], row["nyquist_b"]),
            f"{row['ratio']:.{digits}g}",
            _interval(row["ratio_low"], row["ratio_high"], digits, "g"),
            row["ratio_unit"],
            "yes" if row["differs"] else "no",
        ]
        for row in rows
    ]
    return _table(header, cells)
