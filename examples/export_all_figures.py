"""Export every forgrad_viz figure of the demo models in paper style, to PDF, SVG and PNG.

The figures: raw versus FORGrad maps per architecture, power spectra (white-box versus black-box, and by
architecture), faithfulness versus cutoff per metric, sigma* and the gain at sigma* per architecture, Deletion and
Insertion curves (raw versus FORGrad at sigma*) and one heatmap. The architecture comparison behind them is
computed (offline, on the shipped demo models and the shapes set) and saved as JSON, or read back with
``--comparison`` to redo the figures without recomputing.

Usage::

    python examples/export_all_figures.py --out figures --venue icml
    python examples/export_all_figures.py --quick --formats png --out /tmp/figs        # smoke test, seconds
    python examples/export_all_figures.py --comparison figures/comparison.json --venue neurips
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

import forgrad_viz as fv

EVAL_SEED = 12345  # the held-out seed of the demo models' evaluation images
SETTINGS = {
    "full": {
        "n_images": 48,
        "n_cutoffs": 16,
        "steps": 20,
        "n_subsets": 200,
        "rise_masks": 1000,
        "window": 16,
    },
    "quick": {"n_images": 4, "n_cutoffs": 3, "steps": 4, "n_subsets": 8, "rise_masks": 32, "window": 32},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("forgrad_viz_figures"), help="output folder")
    parser.add_argument("--venue", default="icml", choices=sorted(fv.export.VENUE_WIDTHS), help="paper style")
    parser.add_argument("--formats", default="pdf,svg,png", help="comma-separated subset of pdf,svg,png")
    parser.add_argument("--models", nargs="+", choices=list(fv.models.DEMO_MODELS), help="demo models (all)")
    parser.add_argument("--method", default="saliency", help="white-box attribution method (saliency)")
    parser.add_argument("--n-images", type=int, help="number of shapes images (default: the preset's)")
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke test")
    parser.add_argument("--comparison", type=Path, help="reuse a saved ArchitectureComparison JSON")
    args = parser.parse_args(argv)
    args.settings = dict(SETTINGS["quick" if args.quick else "full"])
    if args.n_images is not None:
        if args.n_images < 1:
            parser.error(f"--n-images must be a positive integer; got {args.n_images}")
        args.settings["n_images"] = args.n_images
    args.formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    bad = sorted(set(args.formats) - set(fv.export.FORMATS)) or ([] if args.formats else ["(none)"])
    if bad:
        parser.error(f"--formats must be a comma-separated subset of pdf,svg,png; got {bad}")
    return args


def compute_comparison(models: dict[str, torch.nn.Module], images: torch.Tensor, method: str, settings: dict):
    """Cutoff sweeps of every model, with RISE and Occlusion as black-box references."""
    window = settings["window"]
    return fv.compare_architectures(
        models,
        images,
        methods=(method,),
        cutoffs=fv.default_cutoffs(images.shape[-2], images.shape[-1], n=settings["n_cutoffs"]),
        reference_options={
            "rise": {"n_masks": settings["rise_masks"]},
            "occlusion": {"window": window, "stride": window // 2},
        },
        steps=settings["steps"],
        mufidelity={"n_subsets": settings["n_subsets"]},
    )


def figures(comparison, models: dict[str, torch.nn.Module], images: torch.Tensor, args: argparse.Namespace):
    """Yield (file stem, columns spanned, function making the Figure) for every figure."""
    method, settings = args.method, args.settings
    shown = images[:3]
    maps = {name: fv.explain(model, shown, method=method) for name, model in models.items()}
    sigma = {name: comparison.sweeps[name][method].best_cutoff("insertion").cutoff for name in models}
    first = next(iter(models))

    for name in models:
        cutoffs = [sigma[name] / 2, sigma[name], 2 * sigma[name]]
        yield (
            f"before_after_{name}",
            2,
            lambda n=name, c=cutoffs: fv.plot.before_after(
                shown, maps[n], c, method_name=f"{method}, {n}", best_cutoff=sigma[n], chosen_by="insertion"
            ),
        )
    rise = fv.explain(models[first], shown, method="rise", n_masks=settings["rise_masks"])
    yield (
        "spectra_methods",
        1,
        lambda: fv.plot.spectrum({method: maps[first], "rise": rise}, cutoff=sigma[first]),
    )
    yield "spectra_architectures", 1, lambda: fv.plot.spectrum(maps, title=f"{method} maps")
    sweeps = {name: comparison.sweeps[name][method] for name in models}
    for metric in comparison.metrics:
        yield f"cutoff_curves_{metric}", 1, lambda m=metric: fv.plot.cutoff_curves(sweeps, metric=m)
        yield f"architectures_{metric}", 2, lambda m=metric: comparison.plot(metric=m, method=method)

    attributions = fv.explain(models[first], images, method=method)
    raw, filtered = attributions.mean(1).abs(), fv.forgrad(attributions, sigma[first])
    for metric, score in (("deletion", fv.deletion), ("insertion", fv.insertion)):
        results = {
            "raw": score(models[first], images, raw, steps=settings["steps"]),
            f"FORGrad σ={sigma[first]:.3g}": score(models[first], images, filtered, steps=settings["steps"]),
        }
        yield f"{metric}_curves_{first}", 1, lambda r=results: fv.plot.faithfulness_curves(r)
    yield (
        "heatmap",
        1,
        lambda: fv.plot.heatmap(filtered[0], images[0], title=f"{method}, FORGrad σ={sigma[first]:.3g}"),
    )


def export_all(comparison, models, images, args: argparse.Namespace) -> list[Path]:
    written = []
    for stem, columns, make in figures(comparison, models, images, args):
        with fv.paper_style(args.venue, columns=columns):
            fig: Figure = make()
            written += fv.export_figure(fig, args.out / stem, formats=args.formats)
    return written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    if args.comparison is not None:
        comparison = fv.ArchitectureComparison.load(args.comparison)
        names = args.models or comparison.models
        missing = [n for n in names if n not in comparison.models]
        if missing or args.method not in comparison.methods:
            sys.exit(f"{args.comparison} has models {comparison.models} and methods {comparison.methods}")
        # the saved comparison ran on the first N held-out shapes images (as this script and `forgrad-viz demo` do)
        args.settings["n_images"] = comparison.sweeps[names[0]][args.method].n_images
    else:
        comparison, names = None, args.models or list(fv.models.DEMO_MODELS)
    models: dict[str, Any] = {name: fv.models.load_demo(name) for name in names}
    images = fv.data.shapes_dataset(args.settings["n_images"], size=64, seed=EVAL_SEED).images
    if comparison is None:
        comparison = compute_comparison(models, images, args.method, args.settings)
        args.out.mkdir(parents=True, exist_ok=True)
        print("wrote", comparison.save(args.out / "comparison.json"))
    written = export_all(comparison, models, images, args)
    for path in written:
        print("wrote", path)
    print(f"{len(written)} files in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
