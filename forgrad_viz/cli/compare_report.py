"""What ``forgrad-viz compare`` writes: each sweep's summaries, and the comparison of every sweep in a folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forgrad_viz.cli.outputs import export, write_sweep

#: Columns of :func:`reference_rows`.
REFERENCE_FIELDS = (
    "model",
    "method",
    "reference",
    "metric",
    "n_images",
    "unfiltered",
    "forgrad",
    "reference_score",
    "difference",
    "low",
    "high",
    "excludes_zero",
    "passes_forgrad",
    "passes_reference",
)


def load_sweeps(folder: Path) -> dict[str, dict[str, Any]]:
    """Every sweep JSON in ``folder``, as model -> method -> CutoffSweep (model from ``params["model"]``)."""
    from forgrad_viz.results import CutoffSweep

    sweeps: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        sweep = CutoffSweep.load(path)
        model = sweep.params.get("model") or sweep.model_name
        sweeps.setdefault(model, {})[sweep.method] = sweep
    return sweeps


def _map_passes(sweep: Any, name: str, stage: str, share: int) -> float:
    """Forward passes per image of one map of method or reference ``name``: recorded per map by sweeps of this
    version (``params["map_passes_per_image"]``); for older ones, the stage's passes per image over ``share``
    (the stage mixes the methods, or the references, of one call)."""
    recorded = sweep.params.get("map_passes_per_image", {})
    return float(recorded[name]) if name in recorded else _passes_per_image(sweep, (stage,)) / share


def _passes_per_image(sweep: Any, stages: Sequence[str]) -> float:
    """Forward passes per image of ``stages`` in the whole job (a resumed run's own count is only a part)."""
    params = sweep.params
    by_stage = params.get("job_forward_passes_by_stage", params.get("forward_passes_by_stage", {}))
    return sum(by_stage.get(stage, 0) for stage in stages) / max(sweep.n_images, 1)


def reference_rows(sweeps: dict[str, dict[str, Any]], folds: int) -> list[dict[str, Any]]:
    """One row per model x method x reference x metric: FORGrad at held-out sigma* minus the reference, paired
    (:func:`~forgrad_viz.results.versus_reference`, > 0: FORGrad better), with forward passes per image."""
    from forgrad_viz.results import versus_reference

    rows = []
    for model, by_method in sweeps.items():
        for method, sweep in by_method.items():
            for reference in sweep.references:
                for metric in sweep.metrics:
                    if metric not in sweep.references[reference]:
                        continue
                    d = versus_reference(sweep, metric, reference, folds=folds)
                    rows.append(
                        {
                            "model": model,
                            "method": method,
                            "reference": reference,
                            "metric": metric,
                            "n_images": d.n_images,
                            "unfiltered": d.unfiltered,
                            "forgrad": d.forgrad,
                            "reference_score": d.reference_score,
                            "difference": d.difference,
                            "low": d.low,
                            "high": d.high,
                            "excludes_zero": d.excludes_zero,
                            "passes_forgrad": _map_passes(sweep, method, "attributions", len(by_method)),
                            "passes_reference": _map_passes(sweep, reference, "reference attributions", 1),
                        }
                    )
    return rows


def reference_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """:func:`reference_rows` as a Markdown table."""
    lines = [
        "| model | method | reference | metric | N | unfiltered | FORGrad (held-out σ*) | reference | "
        "FORGrad − reference [95% interval] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cell = f"{r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"
        cell = f"**{cell}**" if r["excludes_zero"] else cell
        lines.append(
            f"| {r['model']} | {r['method']} | {r['reference']} | {r['metric']} | {r['n_images']} | "
            f"{r['unfiltered']:.3f} | {r['forgrad']:.3f} | {r['reference_score']:.3f} | {cell} |"
        )
    return "\n".join(lines) + "\n"


def write_report(out: Path, formats: tuple[str, ...] | None, folds: int) -> list[Path]:
    """Summaries of every sweep in ``out/sweeps`` and their comparison: ``comparison.{md,csv,json,tex}``,
    ``differences.{md,csv}``, ``versus_references.{md,csv}`` and (``formats``) one comparison figure per metric.
    Returns the paths written."""
    from forgrad_viz.cli.outputs import output_stem
    from forgrad_viz.results import ArchitectureComparison
    from forgrad_viz.results.comparison_rows import ROW_FIELDS, cutoff_markdown, rows_to_csv
    from forgrad_viz.results.latex import latex_table

    sweeps = load_sweeps(out / "sweeps")
    written: list[Path] = []
    for model, by_method in sweeps.items():
        for method, sweep in by_method.items():
            written += write_sweep(sweep, out / "sweeps", output_stem(model, method), formats, folds)
    # as the sweep's summaries do: no more folds than images (every sweep of the folder is compared with as many)
    folds = min(folds, *(s.n_images for d in sweeps.values() for s in d.values()))
    references = {
        model: next((s.references for s in by_method.values() if s.references), {})
        for model, by_method in sweeps.items()
    }
    weights = {model: next(iter(d.values())).params.get("weights") for model, d in sweeps.items()}
    comparison = ArchitectureComparison(sweeps, references, {k: v for k, v in weights.items() if v})
    rows = comparison.rows(folds=folds)
    n = sorted({row["n_images"] for row in rows})
    precisions = sorted({f"{s.params.get('precision')}/{s.params.get('backend')}" for d in sweeps.values()
                         for s in d.values()})  # fmt: skip
    header = (
        f"<!-- forgrad-viz compare: {len(sweeps)} models, N = {', '.join(map(str, n))} images, "
        f"held-out gains from {folds} folds, scoring precision/backend {', '.join(precisions)} -->\n"
    )
    files = {
        "comparison.md": header + cutoff_markdown(rows),
        "comparison.csv": rows_to_csv(rows, (*ROW_FIELDS, "weights")),
        "comparison.json": json.dumps({**comparison.to_dict(), "rows": rows, "folds": folds}),
        "comparison.tex": latex_table(
            rows,
            caption=f"FORGrad's held-out gain over the unfiltered map (sigma* chosen on {folds - 1} of {folds} "
            f"folds, scored on the fold left out; 95\\% paired bootstrap intervals; bold: excludes 0).",
        ),
        "differences.md": comparison.differences_to_markdown(),
        "differences.csv": comparison.differences_to_csv(),
    }
    versus = reference_rows(sweeps, folds)
    if versus:
        files["versus_references.md"] = reference_markdown(versus)
        files["versus_references.csv"] = rows_to_csv(versus, REFERENCE_FIELDS)
    for name, text in files.items():
        (out / name).write_text(text)
        written.append(out / name)
    if formats is not None:
        for metric in comparison.metrics:
            fig = comparison.plot(metric=metric, folds=folds)
            written += export(fig, out / "figures" / f"comparison_{metric}", formats)
        for model, by_method in sweeps.items():
            for metric in comparison.metrics:
                points = cost_points(by_method, metric, folds)
                if any(p["kind"] == "black-box" for p in points):
                    fig = _cost_figure(points, by_method, metric, model)
                    written += export(fig, out / "figures" / f"cost_{model}_{metric}", formats)
    return written


def cost_points(by_method: dict[str, Any], metric: str, folds: int) -> list[dict[str, Any]]:
    """Points of :func:`~forgrad_viz.plot.faithfulness_cost` for one model's sweeps that recorded
    ``params["seconds_per_image"]``: each method's raw and FORGrad (held-out sigma*) scores, and each reference's,
    with their 95% bootstrap intervals over images."""
    from forgrad_viz.results import bootstrap_ci

    points: list[dict[str, Any]] = []
    references: dict[str, Any] = {}
    for method, sweep in by_method.items():
        seconds = sweep.params.get("seconds_per_image", {})
        if method not in seconds or metric not in sweep.metrics:
            continue
        sign = 1.0 if sweep.higher_is_better[metric] else -1.0
        held = sweep.held_out(metric, folds=folds)
        forgrad = sweep.unfiltered[metric] + sign * held.per_image
        for kind, values in (("raw", sweep.unfiltered[metric]), ("forgrad", forgrad)):
            low, high = bootstrap_ci(values)
            points.append({"label": method, "kind": kind, "seconds": seconds[method],
                           "score": float(values.mean()), "low": low, "high": high})  # fmt: skip
        for name, scores in sweep.references.items():
            if name in seconds and metric in scores and name not in references:
                references[name] = (seconds[name], scores[metric])
    for name, (seconds, values) in references.items():
        low, high = bootstrap_ci(values)
        points.append({"label": name, "kind": "black-box", "seconds": seconds, "score": float(values.mean()),
                       "low": low, "high": high})  # fmt: skip
    return points


def _cost_figure(points: list[dict[str, Any]], by_method: dict[str, Any], metric: str, model: str) -> Any:
    from forgrad_viz.plot import faithfulness_cost

    sweep = next(iter(by_method.values()))
    title = f"{model}: {metric} against cost (N = {sweep.n_images} images)"
    return faithfulness_cost(points, metric, sweep.higher_is_better[metric], title=title)
