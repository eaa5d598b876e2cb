"""Writing results: figures, a sweep's JSON and CSV, and the Markdown table of sigma* printed by sweep and merge."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def export(fig: Any, path: Path, formats: tuple[str, ...]) -> list[Path]:
    """Export ``fig`` to ``path`` in each of ``formats``, close it, and return the paths written."""
    import matplotlib.pyplot as plt

    from forgrad_viz.export import export_figure

    written = export_figure(fig, path, formats=formats)
    plt.close(fig)
    return written


def weights_text(record: Mapping[str, Any] | None, short: bool = False) -> str:
    """Where weights came from, as text, from a sweep's ``params["weights"]`` (``WeightsSource.to_dict()``);
    ``short`` keeps the first 12 hex digits of the SHA-256 and drops the path. "unknown" when not recorded.

    Examples
    --------
    >>> weights_text({"kind": "file", "detail": "", "path": "/w/r.pt", "sha256": "ab" * 32}, short=True)
    'file, sha256 abababababab'
    >>> weights_text({"kind": "random", "detail": "seed 0", "path": None, "sha256": None})
    'random, seed 0'
    """
    if not record:
        return "unknown"
    sha = record.get("sha256")
    parts = [
        record.get("kind"),
        record.get("detail"),
        None if short or not record.get("path") else f"file {record['path']}",
        sha and f"sha256 {sha[:12] if short else sha}",
    ]
    return ", ".join(str(part) for part in parts if part)


def sweep_table(sweeps: Sequence[Any]) -> str:
    """Markdown table of sigma*, its interval and the scores of a list of CutoffSweeps, with each model's
    weights (``params["weights"]``)."""
    lines = [
        "| model | weights | method | metric | sigma* | sigma* interval | unfiltered | at sigma* |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for sweep in sweeps:
        weights = weights_text(sweep.params.get("weights"), short=True)
        for metric in sweep.metrics:
            best = sweep.best_cutoff(metric)
            lines.append(
                f"| {sweep.model_name} | {weights} | {sweep.method} | {metric} | {best.cutoff:.3g} | "
                f"[{best.low:.3g}, {best.high:.3g}] | {best.unfiltered:.3f} | {best.score:.3f} |"
            )
    return "\n".join(lines) + "\n"


def sweep_csv(sweep: Any) -> str:
    """CSV rows ``cutoff, metric, mean, ci_low, ci_high, n_images, model, weights`` of a sweep (cutoff
    ``unfiltered`` for the unfiltered map, and one row per black-box reference); ``weights`` says where the
    model's weights came from (:func:`weights_text` of ``params["weights"]``).

    Examples
    --------
    >>> import numpy as np
    >>> from forgrad_viz.results import CutoffSweep
    >>> sweep = CutoffSweep("saliency", "ideal", np.array([2.0]), ("insertion",),
    ...                     {"insertion": np.array([[0.5, 0.7]])}, {"insertion": np.array([0.2, 0.4])},
    ...                     {"insertion": True}, np.array([0, 1]))
    >>> sweep_csv(sweep).splitlines()[1].split(",")[:3]
    ['2', 'insertion', '0.6']
    """
    import numpy as np

    from forgrad_viz.results import bootstrap_ci

    model = (sweep.model_name, weights_text(sweep.params.get("weights")))
    rows = [("cutoff", "metric", "mean", "ci_low", "ci_high", "n_images", "model", "weights")]
    for metric in sweep.metrics:
        low, high = sweep.confidence_interval(metric)
        for cutoff, mean, lo, hi in zip(sweep.cutoffs, sweep.mean(metric), low, high, strict=True):
            rows.append(
                (f"{cutoff:.6g}", metric, f"{mean:.6g}", f"{lo:.6g}", f"{hi:.6g}", sweep.n_images, *model)
            )
        named = {"unfiltered": sweep.unfiltered[metric]}
        named |= {name: scores[metric] for name, scores in sweep.references.items() if metric in scores}
        for name, values in named.items():
            lo, hi = bootstrap_ci(values)
            rows.append(
                (name, metric, f"{np.mean(values):.6g}", f"{lo:.6g}", f"{hi:.6g}", sweep.n_images, *model)
            )
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()


def write_sweep(sweep: Any, out: Path, stem: str, formats: tuple[str, ...] | None) -> list[Path]:
    """JSON, CSV and (unless ``formats`` is None) one cutoff-curve figure per metric."""
    written = [sweep.save(out / f"{stem}.json")]
    csv_path = out / f"{stem}.csv"
    csv_path.write_text(sweep_csv(sweep))
    written.append(csv_path)
    if formats is not None:
        for metric in sweep.metrics:
            written += export(sweep.plot(metric=metric), out / "figures" / f"{stem}_{metric}", formats)
    return written
