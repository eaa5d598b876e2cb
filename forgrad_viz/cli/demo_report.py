"""What ``forgrad-viz demo`` prints and writes: the header, the results tables, the verdicts and the figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forgrad_viz.cli.outputs import export
from forgrad_viz.results.edges import EDGE_LEGEND, EDGE_NOTES

#: The warning of :meth:`CutoffSweep.best_cutoff` for a sigma* at an end of the grid: the tables note it per row.


def _reference_label(name: str, options: dict[str, Any], image_size: tuple[int, int]) -> str:
    from forgrad_viz.attribution import METHODS

    passes = METHODS[name].cost(image_size=image_size, **options)["forward"]
    detail = ", ".join(f"{key} {value}" for key, value in options.items())
    return f"{name} ({detail}: {passes} forward passes per image)"


def header(inputs: Any, cutoffs: np.ndarray, threads: int, scoring: str) -> str:
    """The printed header: models, images, settings, how maps are scored (``scoring``: precision and backend),
    and where each model's weights came from."""
    settings = inputs.settings
    size = tuple(inputs.images.shape[-2:])
    references = "; ".join(_reference_label(k, v, size) for k, v in settings["references"].items())
    models = f"{len(inputs.models)} model{'s' if len(inputs.models) > 1 else ''} ({', '.join(inputs.models)})"
    lines = [
        f"forgrad-viz demo: {models}, {inputs.description}; "
        f"methods {', '.join(settings['methods'])}; {len(cutoffs)} cutoffs {cutoffs[0]:.3g}..{cutoffs[-1]:.3g} "
        f"cycles/image; Deletion/Insertion {settings['steps']} steps; MuFidelity {settings['n_subsets']} subsets; "
        f"black-box references: {references}; scoring {scoring}; torch threads {threads}",
        *_weights_lines(inputs.weights_sources),
    ]
    return "\n".join(lines)


def _weights_lines(sources: dict[str, dict[str, Any]]) -> list[str]:
    """One line per model: where its weights came from (package, version, path inside it, SHA-256)."""
    from forgrad_viz.models.provenance import describe

    return [f"weights of {name}: {describe(source)}" for name, source in sources.items()]


def report_markdown(comparison: Any) -> str:
    """The demo's results as Markdown: weights sources, the sigma*/gain table and the sigma*-difference table."""
    n_images = next(iter(next(iter(comparison.sweeps.values())).values())).n_images
    scoring = sorted(
        {
            f"{s.params.get('precision')}, {s.params.get('backend')}"
            for d in comparison.sweeps.values()
            for s in d.values()
        }
    )
    lines = [
        "# forgrad-viz demo results",
        "",
        *[f"- {line}" for line in _weights_lines(comparison.weights_sources)],
        f"- scoring forward passes: {'; '.join(scoring)} (attributions: PyTorch fp32)",
    ]
    lines += [
        "",
        f"## sigma* and the gain of FORGrad over the unfiltered map ({n_images} images)",
        "",
        "Gains > 0 mean more faithful than the unfiltered map (Deletion: lower is better). The in-sample gain "
        "chooses sigma* and scores it on the same images (biased upwards); the held-out gain chooses sigma* on "
        "the other fold (2 folds) and is the number to report, with its 95% bootstrap interval over images. "
        f"sigma* interval: 95% bootstrap interval of sigma*. {EDGE_LEGEND}",
        "",
        comparison.to_markdown(),
        "## Do the architectures' sigma* differ?",
        "",
    ]
    if len(comparison.sweeps) < 2:
        lines.append("One model: there is no pair of architectures to compare.")
    else:
        lines += [
            "Ratio sigma*_a / sigma*_b with its paired 95% bootstrap interval (the same image resamples for both); "
            "they differ when the interval excludes 1.",
            "",
            comparison.differences_to_markdown(),
        ]
    return "\n".join(lines)


def _shown_cutoffs(sigma: float, cutoffs: np.ndarray) -> list[float]:
    """sigma* / 2, sigma*, 2 sigma*, kept inside the swept grid (so never below 1 cycle: no constant map).

    Examples
    --------
    >>> _shown_cutoffs(1.0, np.array([1.0, 4.0, 16.0]))
    [1.0, 2.0]
    """
    shown = np.clip([sigma / 2, sigma, 2 * sigma], cutoffs[0], cutoffs[-1])
    return sorted(set(shown.tolist()))


def _figures(comparison: Any, inputs: Any, figures: Path, formats: tuple[str, ...]) -> list[Path]:
    from forgrad_viz.attribution import explain
    from forgrad_viz.plot import before_after, cutoff_curves, spectrum

    written: list[Path] = []
    method = comparison.methods[0]
    shown = inputs.images[:4]
    metric = "insertion" if "insertion" in comparison.metrics else comparison.metrics[0]
    maps = {}
    for name, model in inputs.models.items():
        attributions = explain(model, shown, method=method)
        maps[f"{method} {name}"] = attributions
        sweep = comparison.sweeps[name][method]
        sigma = sweep.best_cutoff(metric, warn_at_edge=False).cutoff
        fig = before_after(
            shown,
            attributions,
            _shown_cutoffs(sigma, sweep.cutoffs),
            method_name=f"{method}, {name}",
            best_cutoff=sigma,
            chosen_by=metric,
            normalization="row",
            colorbar=True,
        )
        written += export(fig, figures / f"before_after_{name}", formats)
    first = next(iter(inputs.models))
    reference, options = next(iter(inputs.settings["references"].items()))
    maps[f"{reference} {first}"] = explain(inputs.models[first], shown, method=reference, **options)
    fig = spectrum(maps, normalize=True, title="power spectra of the maps (unit power per map)")
    written += export(fig, figures / "spectra", formats)
    sweeps = {f"{m} {k}": s for m, d in comparison.sweeps.items() for k, s in d.items()}
    for metric in comparison.metrics:
        # one panel per model and method, each with its own black-box references
        size = (3.2 * min(len(sweeps), 3), 4.2)
        fig = cutoff_curves(sweeps, metric=metric, layout="grid", figsize=size)
        written += export(fig, figures / f"cutoff_curves_{metric}", formats)
        # the curve a reader decides on: the paired gain over the unfiltered map, with its paired band
        fig = cutoff_curves(
            sweeps, metric=metric, layout="grid", relative=True, figsize=(size[0], size[1] + 0.4)
        )
        written += export(fig, figures / f"cutoff_gain_{metric}", formats)
        written += export(
            comparison.plot(metric=metric), figures / f"architecture_comparison_{metric}", formats
        )
    return written


def write_outputs(comparison: Any, inputs: Any, out: str | Path, formats: tuple[str, ...]) -> list[Path]:
    """Results (JSON, CSV, Markdown), one JSON per sweep, and the figures; the paths written.

    A sigma* at an end of the grid is noted in the tables' ``note`` column instead of warning for every figure.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [comparison.save(out / "comparison.json")]
    comparison.to_csv(out / "comparison.csv")
    comparison.differences_to_csv(out / "differences.csv")
    (out / "comparison.md").write_text(report_markdown(comparison))
    written += [out / "comparison.csv", out / "differences.csv", out / "comparison.md"]
    for model, by_method in comparison.sweeps.items():
        for method, sweep in by_method.items():
            written.append(sweep.save(out / "sweeps" / f"{model}_{method}.json"))
    written += _figures(comparison, inputs, out / "figures", formats)  # figures mark sigma* without warning
    return written


def verdicts(differences: Sequence[dict[str, Any]]) -> list[str]:
    """One line per pair of architectures, method and metric: do their sigma* differ?

    Examples
    --------
    >>> row = {"model_a": "a", "model_b": "b", "method": "saliency", "metric": "insertion", "differs": True,
    ...        "ratio": 0.25, "ratio_low": 0.125, "ratio_high": 0.5}
    >>> verdicts([row])
    ['sigma* a vs b (saliency, insertion): DIFFER (ratio 0.25, 95% interval [0.125, 0.5])']
    """
    return [
        f"sigma* {row['model_a']} vs {row['model_b']} ({row['method']}, {row['metric']}): "
        f"{'DIFFER' if row['differs'] else 'do not differ'} (ratio {row['ratio']:.3g}, "
        f"95% interval [{row['ratio_low']:.3g}, {row['ratio_high']:.3g}])"
        for row in differences
    ]


def print_summary(
    comparison: Any, written: list[Path], out: str | Path, compute_s: float, total_s: float
) -> None:
    """Print the results Markdown, the sigma* verdicts per pair of architectures, the edge notes and the files."""
    print()
    print(report_markdown(comparison))
    for line in verdicts(comparison.differences()):
        print(line)
    rows = [row for row in comparison.rows() if row["note"] != "black-box"]
    edges = [row for row in rows if row["note"] in EDGE_NOTES.values()]
    if edges:
        print(f"σ* at an end of the grid in {len(edges)} of {len(rows)} rows: see the note column")
    print(
        f"computed in {compute_s:.1f} s, {total_s:.1f} s with the figures; wrote {len(written)} files to {out}/:"
    )
    for path in written:
        print(f"  {path}")
