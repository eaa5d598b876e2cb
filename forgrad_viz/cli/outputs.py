"""Writing results: figures, a sweep's JSON and CSV, and the Markdown table of sigma* printed by sweep and merge."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def export(fig: Any, path: Path, formats: tuple[str, ...]) -> list[Path]:
    """Export ``fig`` to ``path`` in each of ``formats``, close it, and return the paths written."""
    import matplotlib.pyplot as plt

    from forgrad_viz.export import export_figure

    written = export_figure(fig, path, formats=formats)
    plt.close(fig)
    return written


def sweep_table(sweeps: Sequence[Any]) -> str:
    """Markdown table of sigma*, its interval and the scores of a list of CutoffSweeps."""
    lines = [
        "| model | method | metric | sigma* | sigma* interval | unfiltered | at sigma* |",
        "|---|---|---|---|---|---|---|",
    ]
    for sweep in sweeps:
        for metric in sweep.metrics:
            best = sweep.best_cutoff(metric)
            lines.append(
                f"| {sweep.model_name} | {sweep.method} | {metric} | {best.cutoff:.3g} | "
                f"[{best.low:.3g}, {best.high:.3g}] | {best.unfiltered:.3f} | {best.score:.3f} |"
            )
    return "\n".join(lines) + "\n"


def sweep_csv(sweep: Any) -> str:
    """CSV rows ``cutoff, metric, mean, ci_low, ci_high, n_images`` of a sweep (cutoff ``unfiltered`` for the
    unfiltered map, and one row per black-box reference).

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

    rows = ["cutoff,metric,mean,ci_low,ci_high,n_images"]
    for metric in sweep.metrics:
        low, high = sweep.confidence_interval(metric)
        for cutoff, mean, lo, hi in zip(sweep.cutoffs, sweep.mean(metric), low, high, strict=True):
            rows.append(f"{cutoff:.6g},{metric},{mean:.6g},{lo:.6g},{hi:.6g},{sweep.n_images}")
        named = {"unfiltered": sweep.unfiltered[metric]}
        named |= {name: scores[metric] for name, scores in sweep.references.items() if metric in scores}
        for name, values in named.items():
            lo, hi = bootstrap_ci(values)
            rows.append(f"{name},{metric},{np.mean(values):.6g},{lo:.6g},{hi:.6g},{sweep.n_images}")
    return "\n".join(rows) + "\n"


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
