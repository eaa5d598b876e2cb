"""``forgrad-viz demo``: offline demo on the shipped toy models (shapes set) or a pretrained ImageNet model
(scikit-image's photographs): cutoff sweeps, held-out gains, sigma*-difference verdicts, figures and tables."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgrad_viz.cli.options import (
    CliError,
    add_formats,
    add_out,
    add_scoring_options,
    check_methods,
    parse_formats,
    positive_int,
    resolve_backend,
)

_TOY_SIZE = 64
_DEMO_SEED = 12345  # the held-out seed of the demo models' evaluation set (never used in training)


_SALIENCY = ("saliency",)
_BOTH = ("saliency", "smoothgrad")


def _preset(
    n_images: int,
    n_cutoffs: int,
    steps: int,
    n_subsets: int,
    methods: tuple[str, ...],
    occlusion: int,
    rise: int = 0,
) -> dict[str, Any]:
    """The settings of one preset; ``references`` maps each black-box reference to its options: Occlusion with
    ``occlusion``-pixel windows at half-window strides, RISE with ``rise`` masks (none when 0)."""
    references: dict[str, Any] = {"rise": {"n_masks": rise}} if rise else {}
    references["occlusion"] = {"window": occlusion, "stride": occlusion // 2}
    return {
        "n_images": n_images,
        "n_cutoffs": n_cutoffs,
        "steps": steps,
        "n_subsets": n_subsets,
        "references": references,
        "methods": methods,
    }


# The toy models' default and --full differ only in the number of images and RISE masks (see the README for the
# times and the power study).
_TOY_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": _preset(6, 6, 5, 24, _SALIENCY, occlusion=32, rise=64),
    "default": _preset(32, 12, 10, 64, _BOTH, occlusion=16, rise=1000),
    "full": _preset(128, 12, 10, 64, _BOTH, occlusion=16, rise=4000),
}

# A pretrained 224-px model on the 9 photographs: few cutoffs and steps so that a CPU run stays affordable;
# Occlusion (7 x 7 windows) is the black-box reference, RISE (4,000 masks: 36,000 passes) only with --full.
_PHOTO_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": _preset(2, 3, 4, 8, _SALIENCY, occlusion=112),
    "default": _preset(9, 6, 8, 32, _SALIENCY, occlusion=56),
    "full": _preset(9, 12, 16, 64, _BOTH, occlusion=32, rise=4000),
}


@dataclass
class DemoInputs:
    """The models, images and labels of one demo run."""

    models: dict[str, Any]
    images: Any
    description: str
    settings: dict[str, Any]
    weights_sources: dict[str, dict[str, Any]]


def add_parser(commands: Any) -> None:
    """Add the ``demo`` subcommand to the subparsers ``commands``."""
    demo = commands.add_parser(
        "demo",
        help="offline demo: cutoff sweeps, held-out gains and sigma* verdicts, figures and tables",
        description="Sweep cutoffs on the shipped demo models (shapes set, 64x64) or on a pretrained ImageNet "
        "model (--model efficientnet_lite0, scikit-image's photographs at 224x224), report sigma*, the "
        "held-out gain of FORGrad with its interval and whether the architectures' sigma* differ, compare "
        "with black-box references, and write figures and results. Offline. Toy models: about 2 minutes on 2 "
        "idle CPU cores with 32 images (--full: 128 images, --quick: seconds); see the README for the times.",
    )
    add_out(demo, "forgrad_viz_demo")
    preset = demo.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true", help="tiny settings for a smoke test")
    preset.add_argument(
        "--full", action="store_true", help="more images (toy models: 128) and 4,000 RISE masks"
    )
    demo.add_argument(
        "--images", type=positive_int, metavar="N", help="number of images (overrides the preset)"
    )
    demo.add_argument(
        "--models",
        "--model",
        nargs="+",
        metavar="NAME",
        help="demo models to compare (default: all shipped), or a pretrained model (efficientnet_lite0)",
    )
    demo.add_argument(
        "--methods", nargs="+", metavar="METHOD", help="white-box methods (default: the preset's)"
    )
    add_formats(demo, optional=False)
    add_scoring_options(demo)
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(func=run)


def _settings(args: argparse.Namespace, presets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    settings = dict(presets["quick" if args.quick else "full" if args.full else "default"])
    if args.images is not None:
        settings["n_images"] = args.images
    if settings["n_images"] < 2:
        raise CliError("--images must be at least 2 (the held-out gain needs two folds)")
    if args.methods:
        settings["methods"] = tuple(check_methods(args.methods))
    return settings


def _toy_inputs(args: argparse.Namespace, names: list[str] | None) -> DemoInputs:
    from forgrad_viz.data import shapes_dataset
    from forgrad_viz.models import ASSETS_DIR, DEMO_MODELS, load_demo, weights_source

    if names:
        unknown = [n for n in names if n not in DEMO_MODELS]
        if unknown:
            raise CliError(f"unknown demo model {unknown[0]!r}; shipped: {', '.join(DEMO_MODELS)}")
    available = [n for n in names or DEMO_MODELS if (ASSETS_DIR / f"{n}.pt").is_file()]
    if not available:
        raise CliError(f"no demo model weights in {ASSETS_DIR} (run examples/train_demo_models.py)")
    settings = _settings(args, _TOY_SETTINGS)
    models = {name: load_demo(name) for name in available}
    data = shapes_dataset(settings["n_images"], size=_TOY_SIZE, seed=_DEMO_SEED)
    description = f"{settings['n_images']} shapes images {_TOY_SIZE}x{_TOY_SIZE} (seed {_DEMO_SEED})"
    sources = {name: weights_source(model).to_dict() for name, model in models.items()}
    return DemoInputs(models, data.images, description, settings, sources)


def _photo_inputs(args: argparse.Namespace, names: list[str]) -> DemoInputs:
    import torch

    from forgrad_viz.data import sample_images
    from forgrad_viz.models import PRETRAINED_MODELS, imagenet_classes, load_pretrained, weights_source

    settings = _settings(args, _PHOTO_SETTINGS)
    models = {}
    for name in names:
        try:
            models[name] = load_pretrained(name).model
        except ImportError as error:
            raise CliError(str(error)) from error
    sizes = {PRETRAINED_MODELS[name].crop_size for name in names}
    if len(sizes) > 1:
        raise CliError(f"pretrained models to compare must share an input size; got {sorted(sizes)}")
    images, photos = sample_images(size=sizes.pop())
    if settings["n_images"] > len(photos):
        raise CliError(f"--images must be at most {len(photos)} (the photographs: {', '.join(photos)})")
    images, photos = images[: settings["n_images"]], photos[: settings["n_images"]]
    classes = imagenet_classes()
    with torch.inference_mode():
        predicted = next(iter(models.values()))(images).argmax(dim=1).tolist()
    named = ", ".join(f"{photo} -> {classes[k]}" for photo, k in zip(photos, predicted, strict=True))
    description = (
        f"{len(photos)} scikit-image photographs {images.shape[-1]}x{images.shape[-2]}; "
        f"{names[0]} predicts: {named}"
    )
    sources = {name: weights_source(model).to_dict() for name, model in models.items()}
    return DemoInputs(models, images, description, settings, sources)


def _inputs(args: argparse.Namespace) -> DemoInputs:
    from forgrad_viz.models import PRETRAINED_MODELS

    names = list(dict.fromkeys(args.models)) if args.models else None
    pretrained = [name for name in names or () if name in PRETRAINED_MODELS]
    if pretrained and len(pretrained) != len(names):
        raise CliError("--models cannot mix pretrained ImageNet models with the 64x64 demo models")
    return _photo_inputs(args, pretrained) if pretrained else _toy_inputs(args, names)


def run(args: argparse.Namespace) -> int:
    """Run ``forgrad-viz demo``: compare the models' cutoffs, print the tables and write the outputs."""
    import torch

    from forgrad_viz.cli.demo_aliasing import aliasing_outputs
    from forgrad_viz.cli.demo_report import header, print_summary, write_outputs
    from forgrad_viz.filters import default_cutoffs
    from forgrad_viz.sweep import compare_architectures

    start = time.perf_counter()
    formats = parse_formats(args.formats)
    inputs = _inputs(args)
    settings = inputs.settings
    size = tuple(inputs.images.shape[-2:])
    cutoffs = default_cutoffs(*size, n=settings["n_cutoffs"])
    backend = resolve_backend(args.backend, args.precision, "cpu")
    print(header(inputs, cutoffs, torch.get_num_threads(), f"{args.precision}, {backend}"))
    comparison = compare_architectures(
        inputs.models,
        inputs.images,
        methods=settings["methods"],
        references=tuple(settings["references"]),
        cutoffs=cutoffs,
        reference_options=settings["references"],
        steps=settings["steps"],
        mufidelity={"n_subsets": settings["n_subsets"]},
        precision=args.precision,
        backend=backend,
        progress=not args.no_progress,
    )
    comparison.weights_sources = inputs.weights_sources
    for name, by_method in comparison.sweeps.items():
        for sweep in by_method.values():
            sweep.params["weights_source"] = inputs.weights_sources[name]
    compute_s = time.perf_counter() - start
    written = write_outputs(comparison, inputs, args.out, formats)
    aliasing = aliasing_outputs(
        inputs.models, inputs.images, Path(args.out) / "aliasing", formats, not args.no_progress
    )
    written += aliasing["files"]
    print_summary(comparison, written, args.out, compute_s, time.perf_counter() - start)
    print(aliasing["text"])
    return 0
