"""``forgrad-viz demo``: offline demo on the shipped models and the shapes set: figures, JSON, CSV, Markdown."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forgrad_viz.cli.options import CliError, add_formats, add_out, check_methods, parse_formats, positive_int
from forgrad_viz.cli.outputs import export

# Demo settings: "full" (the default) and "quick" (for a smoke test). Measured with 2 CPU cores: see the README.
_DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "full": {
        "n_images": 32,
        "n_cutoffs": 12,
        "steps": 10,
        "n_subsets": 64,
        "rise_masks": 256,
        "occlusion_window": 16,
        "methods": ("saliency", "smoothgrad"),
    },
    "quick": {
        "n_images": 6,
        "n_cutoffs": 6,
        "steps": 5,
        "n_subsets": 24,
        "rise_masks": 64,
        "occlusion_window": 32,
        "methods": ("saliency",),
    },
}
_DEMO_SEED = 12345  # the held-out seed of the demo models' evaluation set (never used in training)


def add_parser(commands: Any) -> None:
    """Add the ``demo`` subcommand to the subparsers ``commands``."""
    demo = commands.add_parser(
        "demo",
        help="offline demo on the shipped models and the shapes set: figures, JSON, CSV and a Markdown table",
        description="Sweep cutoffs on the shipped demo models (shapes set, 64x64), compare architectures with "
        "RISE and Occlusion as black-box references, and write figures and results. Offline; about two "
        "minutes on 2 CPU cores with the default settings (--quick: a few seconds).",
    )
    add_out(demo, "forgrad_viz_demo")
    demo.add_argument("--quick", action="store_true", help="tiny settings for a smoke test")
    demo.add_argument("--n-images", type=positive_int, help="number of shapes images (overrides the preset)")
    demo.add_argument(
        "--models", nargs="+", metavar="NAME", help="demo models to compare (default: all shipped)"
    )
    demo.add_argument("--methods", nargs="+", metavar="METHOD", help="white-box methods (default: saliency)")
    add_formats(demo, optional=False)
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(func=run)


def _demo_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings = dict(_DEMO_SETTINGS["quick" if args.quick else "full"])
    if args.n_images is not None:
        settings["n_images"] = args.n_images
    if args.methods:
        settings["methods"] = tuple(check_methods(args.methods))
    return settings


def _demo_models(names: Sequence[str] | None) -> dict[str, Any]:
    from forgrad_viz.models import ASSETS_DIR, DEMO_MODELS, load_demo

    if names:
        unknown = [n for n in names if n not in DEMO_MODELS]
        if unknown:
            raise CliError(f"unknown demo model {unknown[0]!r}; shipped: {', '.join(DEMO_MODELS)}")
    chosen = list(names or DEMO_MODELS)
    available = [n for n in chosen if (ASSETS_DIR / f"{n}.pt").is_file()]
    if not available:
        raise CliError(f"no demo model weights in {ASSETS_DIR} (run examples/train_demo_models.py)")
    return {name: load_demo(name) for name in available}


def run(args: argparse.Namespace) -> int:
    """Run ``forgrad-viz demo``: compare the demo models' cutoffs, print the table and write the outputs."""
    import torch

    from forgrad_viz.data import shapes_dataset
    from forgrad_viz.filters import default_cutoffs
    from forgrad_viz.sweep import compare_architectures

    start = time.perf_counter()
    settings = _demo_settings(args)
    formats = parse_formats(args.formats)
    models = _demo_models(args.models)
    out = Path(args.out)
    data = shapes_dataset(settings["n_images"], size=64, seed=_DEMO_SEED)
    cutoffs = default_cutoffs(64, 64, n=settings["n_cutoffs"])
    window = settings["occlusion_window"]
    print(
        f"forgrad-viz demo: {len(models)} models ({', '.join(models)}), {settings['n_images']} shapes images "
        f"64x64 (seed {_DEMO_SEED}), methods {', '.join(settings['methods'])}; {len(cutoffs)} cutoffs "
        f"{cutoffs[0]:.3g}..{cutoffs[-1]:.3g} cycles/image; Deletion/Insertion {settings['steps']} steps; "
        f"MuFidelity {settings['n_subsets']} subsets; references RISE ({settings['rise_masks']} masks) and "
        f"Occlusion (window {window}, stride {window // 2}); torch threads {torch.get_num_threads()}"
    )
    comparison = compare_architectures(
        models,
        data.images,
        methods=settings["methods"],
        references=("rise", "occlusion"),
        cutoffs=cutoffs,
        reference_options={
            "rise": {"n_masks": settings["rise_masks"]},
            "occlusion": {"window": window, "stride": window // 2},
        },
        steps=settings["steps"],
        mufidelity={"n_subsets": settings["n_subsets"]},
        progress=not args.no_progress,
    )
    compute_s = time.perf_counter() - start
    written = _demo_outputs(comparison, models, data.images, out, formats)
    markdown = comparison.to_markdown()
    print()
    print(markdown)
    total_s = time.perf_counter() - start
    print(
        f"computed in {compute_s:.1f} s, {total_s:.1f} s with the figures; wrote {len(written)} files to {out}/:"
    )
    for path in written:
        print(f"  {path}")
    return 0


def _demo_outputs(
    comparison: Any, models: dict[str, Any], images: Any, out: Path, formats: tuple[str, ...]
) -> list[Path]:
    """Results (JSON, CSV, Markdown) and figures of the demo; the paths written."""
    from forgrad_viz.attribution import explain
    from forgrad_viz.plot import before_after, cutoff_curves, spectrum

    out.mkdir(parents=True, exist_ok=True)
    written = [comparison.save(out / "comparison.json")]
    comparison.to_csv(out / "comparison.csv")
    (out / "comparison.md").write_text(comparison.to_markdown())
    written += [out / "comparison.csv", out / "comparison.md"]
    for model, by_method in comparison.sweeps.items():
        for method, sweep in by_method.items():
            written.append(sweep.save(out / "sweeps" / f"{model}_{method}.json"))
    figures = out / "figures"
    method = comparison.methods[0]
    shown = images[:4]
    metric = "insertion" if "insertion" in comparison.metrics else comparison.metrics[0]
    maps = {}
    for name, model in models.items():
        attributions = explain(model, shown, method=method)
        maps[f"{method} {name}"] = attributions
        sigma = comparison.sweeps[name][method].best_cutoff(metric).cutoff
        fig = before_after(
            shown, attributions, [sigma / 2, sigma, 2 * sigma], method_name=f"{method}, {name}"
        )
        written += export(fig, figures / f"before_after_{name}", formats)
    first = next(iter(models))
    maps[f"rise {first}"] = explain(models[first], shown, method="rise", n_masks=256)
    written += export(spectrum(maps, title="power spectra of the maps"), figures / "spectra", formats)
    for metric in comparison.metrics:
        sweeps = {f"{m} {k}": s for m, d in comparison.sweeps.items() for k, s in d.items()}
        # one panel per model and method, each with its own black-box references
        fig = cutoff_curves(sweeps, metric=metric, layout="grid", figsize=(3.2 * min(len(sweeps), 3), 4.2))
        written += export(fig, figures / f"cutoff_curves_{metric}", formats)
    written += export(comparison.plot(), figures / "architecture_comparison", formats)
    return written
