"""Writing a sweep's results, the held-out gain first: the printed table, the summary CSV and Markdown, the curves'
CSV, the JSON and the figures (the paired-gain curve first), all named ``<model>_<method>``."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Folds of the held-out gain (``--folds``): sigma* chosen on 4/5 of the images, scored on the fifth.
DEFAULT_FOLDS = 5

#: Columns of the summary CSV (:func:`summary_csv`): who, then the held-out gain, then the in-sample numbers.
SUMMARY_FIELDS = (
    "model",
    "weights",
    "method",
    "metric",
    "n_images",
    "held_out_gain",
    "held_out_low",
    "held_out_high",
    "held_out_excludes_zero",
    "folds",
    "sigma_star",
    "sigma_low",
    "sigma_high",
    "improvement",
    "unfiltered",
    "at_sigma_star",
    "note",
)

_LEGEND = (
    "held-out gain: sigma* chosen on the other folds and scored on the fold left out (the number to report), "
    "with its 95% bootstrap interval over images; in-sample gain: sigma* chosen and scored on the same images "
    "(biased upwards). Gains > 0: more faithful than the unfiltered map (Deletion: lower is better)."
)


def export(fig: Any, path: Path, formats: tuple[str, ...]) -> list[Path]:
    """Export ``fig`` to ``path`` in each of ``formats``, close it, and return the paths written."""
    import matplotlib.pyplot as plt

    from forgrad_viz.export import export_figure

    written = export_figure(fig, path, formats=formats)
    plt.close(fig)
    return written


def output_stem(model: str, method: str, shard: tuple[int, int] | None = None) -> str:
    """The name of a sweep's outputs: ``<model>_<method>``, the model's name made safe for file names, and
    ``_shard-i-of-n`` for shard ``i`` of ``n`` > 1.

    Examples
    --------
    >>> output_stem("efficientnet_lite0", "saliency")
    'efficientnet_lite0_saliency'
    >>> output_stem("my model/v2", "smoothgrad", (0, 2))
    'my_model_v2_smoothgrad_shard-0-of-2'
    """
    safe = re.sub(r"[^0-9A-Za-z._-]+", "_", model).strip("._") or "model"
    suffix = "" if shard is None or shard[1] == 1 else f"_shard-{shard[0]}-of-{shard[1]}"
    return f"{safe}_{method}{suffix}"


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


def summary_rows(sweep: Any, folds: int = DEFAULT_FOLDS) -> list[dict[str, Any]]:
    """One row per metric of ``sweep`` with the fields of :data:`SUMMARY_FIELDS`.

    The rows are :func:`~forgrad_viz.results.comparison_rows.cutoff_rows` (the demo's): the held-out gain is
    :meth:`CutoffSweep.held_out` with ``folds`` folds (fewer when there are fewer images; NaN for one image), the
    in-sample gain (``improvement``) and sigma* with its interval are :meth:`CutoffSweep.best_cutoff`'s.

    Examples
    --------
    >>> from forgrad_viz.results import CutoffSweep
    >>> sweep = CutoffSweep("saliency", "ideal", [1.0, 2.0, 4.0], ("insertion",),
    ...                     {"insertion": [[0.2, 0.3, 0.2, 0.3], [0.6, 0.7, 0.6, 0.7], [0.4] * 4]},
    ...                     {"insertion": [0.1] * 4}, {"insertion": True}, [0, 1, 2, 3], model_name="cnn")
    >>> row = summary_rows(sweep)[0]
    >>> round(row["held_out_gain"], 3), row["folds"], row["sigma_star"]
    (0.55, 4, 2.0)
    """
    from forgrad_viz.results.comparison_rows import ROW_FIELDS, cutoff_rows

    weights = weights_text(sweep.params.get("weights"), short=True)
    if sweep.n_images >= 2:
        rows = cutoff_rows({sweep.model_name: {sweep.method: sweep}}, {}, folds=min(folds, sweep.n_images))
    else:  # no fold to hold out: the in-sample numbers only
        rows = []
        for metric in sweep.metrics:
            best = sweep.best_cutoff(metric, warn_at_edge=False)
            sign = 1.0 if sweep.higher_is_better[metric] else -1.0
            row = dict.fromkeys(ROW_FIELDS, math.nan)
            row.update(model=sweep.model_name, method=sweep.method, metric=metric, n_images=sweep.n_images)
            row.update(
                sigma_star=best.cutoff, sigma_low=best.low, sigma_high=best.high, at_sigma_star=best.score
            )
            row.update(unfiltered=best.unfiltered, improvement=sign * (best.score - best.unfiltered))
            row.update(held_out_excludes_zero="", folds="", note="one image: no held-out gain")
            rows.append(row)
    return [{**row, "weights": weights} for row in rows]


def summary_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`summary_rows` as a Markdown table, the held-out gain first."""
    from forgrad_viz.results.comparison_rows import _interval, _number, _table

    header = (
        "model | weights | method | metric | N | held-out gain | held-out 95% interval | excludes 0 | folds | "
        "sigma* | sigma* interval | in-sample gain | unfiltered | at sigma* | note"
    )
    cells = []
    for row in rows:
        excludes = row["held_out_excludes_zero"]
        cells.append(
            [
                str(row["model"]),
                str(row["weights"]),
                row["method"],
                row["metric"],
                str(row["n_images"]),
                _number(row["held_out_gain"], 3),
                _interval(row["held_out_low"], row["held_out_high"], 3),
                ("yes" if excludes else "no") if isinstance(excludes, bool) else "—",
                str(row["folds"]) or "—",
                f"{row['sigma_star']:.3g}",
                _interval(row["sigma_low"], row["sigma_high"], 3, "g"),
                _number(row["improvement"], 3),
                _number(row["unfiltered"], 3),
                _number(row["at_sigma_star"], 3),
                row["note"],
            ]
        )
    return _table(header, cells)


def sweep_table(sweeps: Sequence[Any], folds: int = DEFAULT_FOLDS) -> str:
    """The table printed by ``sweep`` and ``merge``: one row per sweep and metric, the held-out gain first
    (:func:`summary_markdown`), and a line saying what its gains are."""
    rows = [row for sweep in sweeps for row in summary_rows(sweep, folds)]
    return summary_markdown(rows) + "\n" + _LEGEND + "\n"


def summary_csv(sweep: Any, folds: int = DEFAULT_FOLDS) -> str:
    """The summary CSV: one row per metric, the columns of :data:`SUMMARY_FIELDS` (the held-out gain first)."""
    from forgrad_viz.results.comparison_rows import rows_to_csv

    return rows_to_csv(summary_rows(sweep, folds), SUMMARY_FIELDS)


def sweep_csv(sweep: Any) -> str:
    """The curves' CSV: rows ``cutoff, metric, gain, gain_low, gain_high, mean, ci_low, ci_high, n_images,
    model, weights`` of a sweep, one per cutoff, then the unfiltered map (cutoff ``unfiltered``) and each
    black-box reference.

    ``gain`` is the mean paired gain over the unfiltered map on the same images (> 0 is better for every metric)
    with its paired bootstrap interval; ``mean`` is the score with its bootstrap interval; ``weights`` says where
    the model's weights came from (:func:`weights_text` of ``params["weights"]``).

    Examples
    --------
    >>> import numpy as np
    >>> from forgrad_viz.results import CutoffSweep
    >>> sweep = CutoffSweep("saliency", "ideal", np.array([2.0]), ("insertion",),
    ...                     {"insertion": np.array([[0.5, 0.7]])}, {"insertion": np.array([0.2, 0.4])},
    ...                     {"insertion": True}, np.array([0, 1]))
    >>> sweep_csv(sweep).splitlines()[1].split(",")[:3]
    ['2', 'insertion', '0.3']
    """
    import numpy as np

    from forgrad_viz.results import bootstrap_ci

    model = (sweep.model_name, weights_text(sweep.params.get("weights")))
    rows = [("cutoff", "metric", "gain", "gain_low", "gain_high", "mean", "ci_low", "ci_high", "n_images")]
    rows[0] += ("model", "weights")
    for metric in sweep.metrics:
        sign = 1.0 if sweep.higher_is_better[metric] else -1.0
        gain_low, gain_high = sweep.gain_interval(metric)
        low, high = sweep.confidence_interval(metric)
        columns = (sweep.cutoffs, sweep.gain(metric), gain_low, gain_high, sweep.mean(metric), low, high)
        for cutoff, *values in zip(*columns, strict=True):
            rows.append((f"{cutoff:.6g}", metric, *(f"{v:.6g}" for v in values), sweep.n_images, *model))
        unfiltered = sweep.unfiltered[metric]
        named = {"unfiltered": unfiltered}
        named |= {name: scores[metric] for name, scores in sweep.references.items() if metric in scores}
        for name, values in named.items():
            gains = sign * (values - unfiltered)
            numbers = (np.mean(gains), *bootstrap_ci(gains), np.mean(values), *bootstrap_ci(values))
            rows.append((name, metric, *(f"{float(v):.6g}" for v in numbers), sweep.n_images, *model))
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()


def summary_document(sweep: Any, folds: int = DEFAULT_FOLDS) -> str:
    """The Markdown summary ``<model>_<method>.md``: what was swept, on which images and weights, the
    skipped images, then the table of :func:`summary_markdown`."""
    params = sweep.params
    cutoffs = sweep.cutoffs
    skipped = params.get("skipped_images", [])
    lines = [
        f"# {sweep.model_name}, {sweep.method}: FORGrad cutoff sweep on {sweep.n_images} images",
        "",
        f"- model {sweep.model_name}; weights: {weights_text(params.get('weights'))}",
        f"- method {sweep.method}; {sweep.kind} low-pass filter; {len(cutoffs)} cutoffs "
        f"{cutoffs[0]:.3g}..{cutoffs[-1]:.3g} cycles per image; metrics {', '.join(sweep.metrics)}",
        f"- {sweep.n_images} images; unreadable images skipped: "
        + (", ".join(skipped) if skipped else "none"),
        "",
        summary_markdown(summary_rows(sweep, folds)),
        _LEGEND,
        "",
    ]
    return "\n".join(lines)


def output_files(out: Path, stem: str) -> list[Path]:
    """The result files of ``stem`` in ``out`` besides the figures: JSON, summary CSV, curves CSV, Markdown."""
    return [out / f"{stem}{ending}" for ending in (".json", ".csv", "_curves.csv", ".md")]


def _figure_title(sweep: Any, metric: str, what: str) -> str:
    return f"{sweep.model_name}, {sweep.method}: {what} ({metric}, N = {sweep.n_images} images)"


def write_sweep(
    sweep: Any, out: Path, stem: str, formats: tuple[str, ...] | None, folds: int = DEFAULT_FOLDS
) -> list[Path]:
    """Write ``stem``.json (the sweep), .csv (:func:`summary_csv`), _curves.csv (:func:`sweep_csv`) and .md
    (:func:`summary_document`), and, unless ``formats`` is None, two figures per metric in ``out/figures``: first
    the paired gain over the unfiltered map (``<stem>_<metric>_gain``), then the scores (``<stem>_<metric>``),
    each titled with model, method and N. Returns the paths written."""
    json_path, summary_path, curves_path, markdown_path = output_files(out, stem)
    written = [sweep.save(json_path)]
    summary_path.write_text(summary_csv(sweep, folds))
    curves_path.write_text(sweep_csv(sweep))
    markdown_path.write_text(summary_document(sweep, folds))
    written += [summary_path, curves_path, markdown_path]
    if formats is not None:
        for metric in sweep.metrics:
            gain = sweep.plot(
                metric, relative=True, title=_figure_title(sweep, metric, "gain over unfiltered")
            )
            written += export(gain, out / "figures" / f"{stem}_{metric}_gain", formats)
            scores = sweep.plot(metric, title=_figure_title(sweep, metric, "scores"))
            written += export(scores, out / "figures" / f"{stem}_{metric}", formats)
    return written
