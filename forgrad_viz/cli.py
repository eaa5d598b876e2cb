"""The ``forgrad-viz`` command: ``demo``, ``sweep``, ``merge`` and ``bench``.

``forgrad-viz demo`` runs offline on the shipped demo models and the procedural shapes set and writes figures and
results; ``forgrad-viz sweep`` sweeps cutoffs for a torchvision model over a folder of images (resumable,
shardable with ``--shard i/n``); ``forgrad-viz merge`` combines shard results; ``forgrad-viz bench`` times the
filter, the metrics or a sweep against baselines in the same process.

Errors the user can fix (a missing folder, no images, an unknown model or method, weights that do not fit the
model) print one line, ``forgrad-viz: error: ...``, on stderr and exit with status 1, without a traceback.
Heavy modules (torch, matplotlib) are imported inside the subcommands so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forgrad_viz import __version__

__all__ = ["IMAGE_SUFFIXES", "build_parser", "main"]

PROG = "forgrad-viz"
#: File suffixes read as images by ``forgrad-viz sweep``.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
_METRICS = ("deletion", "insertion", "mufidelity")
_BENCHMARKS = ("filter", "metrics", "sweep", "widget")

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


class CliError(Exception):
    """An error the user can fix; printed as one line without a traceback."""


# ------------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``forgrad-viz`` argument parser with its subcommands.

    Examples
    --------
    >>> build_parser().parse_args(["merge", "a.json", "b.json"]).command
    'merge'
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="FORGrad for PyTorch: low-pass filtered white-box attribution maps, cutoff sweeps, figures.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(commands)
    _add_sweep(commands)
    _add_merge(commands)
    _add_bench(commands)
    return parser


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="offline demo on the shipped models and the shapes set: figures, JSON, CSV and a Markdown table",
        description="Sweep cutoffs on the shipped demo models (shapes set, 64x64), compare architectures with "
        "RISE and Occlusion as black-box references, and write figures and results. Offline; about two "
        "minutes on 2 CPU cores with the default settings (--quick: a few seconds).",
    )
    demo.add_argument("--out", default="forgrad_viz_demo", help="output folder (default: ./forgrad_viz_demo)")
    demo.add_argument("--quick", action="store_true", help="tiny settings for a smoke test")
    demo.add_argument("--n-images", type=_positive_int, help="number of shapes images (overrides the preset)")
    demo.add_argument(
        "--models", nargs="+", metavar="NAME", help="demo models to compare (default: all shipped)"
    )
    demo.add_argument("--methods", nargs="+", metavar="METHOD", help="white-box methods (default: saliency)")
    demo.add_argument("--formats", default="pdf,svg,png", help="figure formats (default: pdf,svg,png)")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(func=_run_demo)


def _add_sweep(commands: Any) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="sweep cutoffs for a torchvision model over a folder of images (resumable, shardable)",
        description="Score FORGrad maps at many cutoffs with Deletion, Insertion and MuFidelity on a folder of "
        "images (flat, or one subfolder per class as in torchvision's ImageFolder: the class index is then "
        "the target, the folder's name if every class folder is named by an integer, else its rank in sorted "
        "order). Writes one JSON (CutoffSweep) and one CSV per method, and figures.",
    )
    sweep.add_argument("--model", required=True, help="torchvision classification model, e.g. resnet18")
    sweep.add_argument(
        "--weights",
        help="a weights file (torch.save'd state dict) or a torchvision weights name such as DEFAULT "
        "(downloaded when online); default: random initialisation",
    )
    sweep.add_argument("--images", required=True, help="folder of images (flat or ImageFolder)")
    sweep.add_argument(
        "--methods", nargs="+", default=["saliency"], metavar="METHOD", help="attribution methods"
    )
    sweep.add_argument("--metrics", nargs="+", default=list(_METRICS), choices=_METRICS, metavar="METRIC")
    sweep.add_argument(
        "--cutoffs", help="comma-separated cutoffs in cycles per image (default: log-spaced grid)"
    )
    sweep.add_argument("--n-cutoffs", type=_positive_int, default=24, help="size of the default grid (24)")
    sweep.add_argument("--kind", default="ideal", choices=("ideal", "gaussian", "butterworth"))
    sweep.add_argument("--search", default="grid", choices=("grid", "refine"))
    sweep.add_argument("--steps", type=_positive_int, default=20, help="Deletion/Insertion steps (20)")
    sweep.add_argument("--n-subsets", type=_positive_int, default=200, help="MuFidelity subsets (200)")
    sweep.add_argument("--max-images", type=_positive_int, help="use only the first N images")
    sweep.add_argument("--device", default="cpu", help="torch device, e.g. cuda or cuda:1 (default: cpu)")
    sweep.add_argument(
        "--batch-size", type=_positive_int, help="inputs per forward pass (default: automatic)"
    )
    sweep.add_argument("--block-size", type=_positive_int, default=32, help="images per block of work (32)")
    sweep.add_argument("--shard", help="run shard i of n (i/n, 0-based) of the images; combine with merge")
    sweep.add_argument(
        "--out", default="forgrad_viz_sweep", help="output folder (default: ./forgrad_viz_sweep)"
    )
    sweep.add_argument(
        "--checkpoint",
        help="checkpoint folder (default: OUT/checkpoints); a run that is interrupted resumes from it",
    )
    sweep.add_argument("--no-checkpoint", action="store_true", help="do not write or read checkpoints")
    sweep.add_argument("--formats", default="pdf,svg,png", help="figure formats (default: pdf,svg,png)")
    sweep.add_argument("--no-figures", action="store_true", help="write no figures")
    sweep.add_argument("--seed", type=int, default=0, help="seed of stochastic methods and MuFidelity (0)")
    sweep.add_argument("--no-progress", action="store_true", help="hide progress bars")
    sweep.set_defaults(func=_run_sweep)


def _add_merge(commands: Any) -> None:
    merge = commands.add_parser(
        "merge",
        help="combine the JSON results of sweep shards into one sweep per method",
        description="Combine CutoffSweep JSON files of disjoint image shards (from sweep --shard i/n): files are "
        "grouped by method and merged in image order; writes JSON, CSV and figures.",
    )
    merge.add_argument("inputs", nargs="+", help="shard JSON files or folders holding them")
    merge.add_argument(
        "--out", default="forgrad_viz_merged", help="output folder (default: ./forgrad_viz_merged)"
    )
    merge.add_argument("--formats", default="pdf,svg,png", help="figure formats (default: pdf,svg,png)")
    merge.add_argument("--no-figures", action="store_true", help="write no figures")
    merge.set_defaults(func=_run_merge)


def _add_bench(commands: Any) -> None:
    bench = commands.add_parser(
        "bench",
        help="time the filter, the metrics or a sweep against baselines in the same process",
        description="Run forgrad_viz.benchmarks.<name>.run(...) and print its report.",
    )
    bench.add_argument("name", choices=_BENCHMARKS, help="what to time")
    bench.add_argument("--device", help="torch device (default: the benchmark's)")
    bench.add_argument("--n-images", type=_positive_int, help="number of images (default: the benchmark's)")
    bench.add_argument("--repeats", type=_positive_int, help="timing repeats (default: the benchmark's)")
    bench.add_argument(
        "--threads", type=_positive_int, help="torch CPU threads (filter, widget; default: torch's)"
    )
    bench.add_argument("--json", metavar="OUT", help="also write the result as JSON to OUT")
    bench.set_defaults(func=_run_bench)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``forgrad-viz``; returns the exit status.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    forgrad-viz 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (CliError, ValueError, TypeError, OSError, RuntimeError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1


# --------------------------------------------------------------------------------------------- helpers


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in ("pdf", "svg", "png")]
    if bad or not formats:
        raise CliError(f"--formats must be a comma-separated subset of pdf,svg,png; got {text!r}")
    return formats


def _check_methods(methods: Sequence[str]) -> list[str]:
    from forgrad_viz.attribution import METHODS

    for method in methods:
        if method not in METHODS:
            raise CliError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    return list(dict.fromkeys(methods))


def _parse_shard(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 1
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise CliError(f"--shard must be i/n with integers 0 <= i < n; got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise CliError(f"--shard must be i/n with integers 0 <= i < n; got {text!r}")
    return index, count


def shard_rows(n_images: int, block_size: int, index: int, count: int) -> range:
    """The image indices of shard ``index`` of ``count``: whole blocks of ``block_size`` images, contiguous.

    Shards start on block boundaries so that every block of work sees the same images as in an unsharded run
    (on the CPU the merged result is then identical to the unsharded one; CUDA kernels may differ in the last
    bits with the batch composition, measured up to 5e-4 in a Deletion AUC).

    Examples
    --------
    >>> list(shard_rows(10, 2, 1, 2))
    [4, 5, 6, 7, 8, 9]
    """
    n_blocks = math.ceil(n_images / block_size)
    first, last = index * n_blocks // count, (index + 1) * n_blocks // count
    return range(min(first * block_size, n_images), min(last * block_size, n_images))


def _image_files(folder: str) -> tuple[list[Path], list[int] | None]:
    """Image files of a flat folder (targets None) or of an ImageFolder (class index per file)."""
    root = Path(folder)
    if not root.exists():
        raise CliError(f"image folder not found: {folder}")
    if not root.is_dir():
        raise CliError(f"--images must be a folder; {folder} is a file")
    flat = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if flat:
        return flat, None
    classes = sorted(d for d in root.iterdir() if d.is_dir() and any(_is_image(p) for p in d.rglob("*")))
    if not classes:
        raise CliError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    numeric = all(d.name.isdigit() for d in classes)
    files, labels = [], []
    for rank, directory in enumerate(classes):
        found = sorted(p for p in directory.rglob("*") if _is_image(p))
        files += found
        labels += [int(directory.name) if numeric else rank] * len(found)
    return files, labels


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _load_images(files: Sequence[Path], transform: Callable) -> Any:
    import torch
    from PIL import Image, UnidentifiedImageError

    tensors = []
    for path in files:
        try:
            with Image.open(path) as image:
                tensors.append(transform(image.convert("RGB")))
        except (UnidentifiedImageError, OSError) as error:
            raise CliError(f"cannot read image {path}: {error}") from None
    return torch.stack(tensors)


def _parse_cutoffs(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"--cutoffs must be comma-separated numbers; got {text!r}") from None


def _export(fig: Any, path: Path, formats: tuple[str, ...]) -> list[Path]:
    import matplotlib.pyplot as plt

    from forgrad_viz.export import export_figure

    written = export_figure(fig, path, formats=formats)
    plt.close(fig)
    return written


def _sweep_table(sweeps: Sequence[Any]) -> str:
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


def _write_sweep(sweep: Any, out: Path, stem: str, formats: tuple[str, ...] | None) -> list[Path]:
    """JSON, CSV and (unless ``formats`` is None) one cutoff-curve figure per metric."""
    written = [sweep.save(out / f"{stem}.json")]
    csv_path = out / f"{stem}.csv"
    csv_path.write_text(sweep_csv(sweep))
    written.append(csv_path)
    if formats is not None:
        for metric in sweep.metrics:
            written += _export(sweep.plot(metric=metric), out / "figures" / f"{stem}_{metric}", formats)
    return written


# ------------------------------------------------------------------------------------------------- sweep


def _run_sweep(args: argparse.Namespace) -> int:
    import torch

    from forgrad_viz.models import load_torchvision
    from forgrad_viz.sweep import sweep_cutoffs

    methods = _check_methods(args.methods)
    formats = None if args.no_figures else _formats(args.formats)
    cutoffs = _parse_cutoffs(args.cutoffs)
    index, count = _parse_shard(args.shard)
    if count > 1 and args.search == "refine":
        raise CliError("--search refine picks cutoffs from all the images; it cannot run on shards")
    files, labels = _image_files(args.images)
    if args.max_images is not None:
        files, labels = files[: args.max_images], None if labels is None else labels[: args.max_images]
    rows = shard_rows(len(files), args.block_size, index, count)
    if len(rows) == 0:
        raise CliError(
            f"shard {index}/{count} holds no images ({len(files)} images, blocks of {args.block_size})"
        )
    try:
        device = torch.device(args.device)
    except RuntimeError as error:
        raise CliError(f"invalid --device {args.device!r}: {error}") from None
    model, transform = load_torchvision(args.model, weights=args.weights, device=device)
    images = _load_images([files[i] for i in rows], transform).to(device)
    targets = None if labels is None else [labels[i] for i in rows]
    if cutoffs is None:
        from forgrad_viz.filters import default_cutoffs

        cutoffs = default_cutoffs(images.shape[-2], images.shape[-1], n=args.n_cutoffs)
    out = Path(args.out)
    suffix = "" if count == 1 else f"_shard-{index}-of-{count}"
    checkpoints = None if args.no_checkpoint else Path(args.checkpoint or out / "checkpoints")
    print(
        f"{len(rows)} images ({rows.start}..{rows.stop - 1} of {len(files)}), model {args.model}, methods "
        f"{', '.join(methods)}, {len(cutoffs)} cutoffs, metrics {', '.join(args.metrics)}, device {device}"
    )
    sweeps, written = [], []
    for method in methods:
        sweep = sweep_cutoffs(
            model,
            images,
            targets,
            method=method,
            cutoffs=cutoffs,
            metrics=tuple(args.metrics),
            kind=args.kind,
            search=args.search,
            steps=args.steps,
            mufidelity={"n_subsets": args.n_subsets, "seed": args.seed},
            batch_size=args.batch_size,
            block_size=args.block_size,
            progress=not args.no_progress,
            checkpoint=None if checkpoints is None else checkpoints / f"sweep_{method}{suffix}.json",
            seed=args.seed,
            model_name=args.model,
            image_ids=list(rows),
        )
        sweeps.append(sweep)
        written += _write_sweep(sweep, out, f"sweep_{method}{suffix}", formats if count == 1 else None)
    print(_sweep_table(sweeps))
    print(f"wrote {len(written)} files to {out}/")
    return 0


# ------------------------------------------------------------------------------------------------- merge


def _shard_files(inputs: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.glob("*.json") if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise CliError(f"no such file or folder: {item}")
    if not files:
        raise CliError("no JSON files to merge")
    return files


def merge_sweeps(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Load CutoffSweep JSON files, group them by (model, method), and merge each group.

    The merged ``params["forward_passes"]`` (and its split by stage) are the shards' sums.

    Examples
    --------
    >>> merge_sweeps([])
    {}
    """
    from forgrad_viz.results import CutoffSweep

    groups: dict[tuple[str, str], list[Any]] = {}
    for path in paths:
        try:
            sweep = CutoffSweep.load(path)
        except (KeyError, json.JSONDecodeError) as error:
            raise CliError(f"{path} is not a CutoffSweep JSON file ({error})") from None
        groups.setdefault((sweep.model_name, sweep.method), []).append(sweep)
    merged = {}
    for (_, method), parts in groups.items():
        sweep = CutoffSweep.merge(parts)
        sweep.params["forward_passes"] = sum(int(p.params.get("forward_passes", 0)) for p in parts)
        stages: dict[str, int] = {}
        for part in parts:
            for stage, value in part.params.get("forward_passes_by_stage", {}).items():
                stages[stage] = stages.get(stage, 0) + int(value)
        sweep.params["forward_passes_by_stage"] = dict(sorted(stages.items()))
        merged[method if len({m for _, m in groups}) == len(groups) else f"{sweep.model_name}_{method}"] = (
            sweep
        )
    return merged


def _run_merge(args: argparse.Namespace) -> int:
    formats = None if args.no_figures else _formats(args.formats)
    merged = merge_sweeps(_shard_files(args.inputs))
    out = Path(args.out)
    written = []
    for name, sweep in merged.items():
        written += _write_sweep(sweep, out, f"sweep_{name}", formats)
    print(_sweep_table(list(merged.values())))
    print(
        f"merged {sum(s.n_images for s in merged.values())} image results; wrote {len(written)} files to {out}/"
    )
    return 0


# ------------------------------------------------------------------------------------------------- bench


def _run_bench(args: argparse.Namespace) -> int:
    import importlib
    import inspect

    try:
        module = importlib.import_module(f"forgrad_viz.benchmarks.{args.name}")
    except ModuleNotFoundError as error:
        raise CliError(f"benchmark {args.name!r} is not available ({error})") from None
    accepted = inspect.signature(module.run).parameters
    images_key = "n_maps" if "n_maps" in accepted else "n_images"  # the filter benchmark times maps
    requested = {
        "device": args.device,
        images_key: args.n_images,
        "repeats": args.repeats,
        "threads": args.threads,
    }
    ignored = [k for k, v in requested.items() if v is not None and k not in accepted]
    if ignored:
        raise CliError(f"bench {args.name} does not take --{ignored[0].replace('_', '-')}")
    result = module.run(**{k: v for k, v in requested.items() if v is not None})
    print(module.format_report(result))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_jsonable(result), indent=1) + "\n")
        print(f"wrote {path}")
    return 0


def _jsonable(value: Any) -> Any:
    import dataclasses

    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


# -------------------------------------------------------------------------------------------------- demo


def _demo_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings = dict(_DEMO_SETTINGS["quick" if args.quick else "full"])
    if args.n_images is not None:
        settings["n_images"] = args.n_images
    if args.methods:
        settings["methods"] = tuple(_check_methods(args.methods))
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


def _run_demo(args: argparse.Namespace) -> int:
    import torch

    from forgrad_viz.data import shapes_dataset
    from forgrad_viz.filters import default_cutoffs
    from forgrad_viz.sweep import compare_architectures

    start = time.perf_counter()
    settings = _demo_settings(args)
    formats = _formats(args.formats)
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


def _demo_outputs(comparison: Any, models: dict[str, Any], images: Any, out: Path, formats: tuple[str, ...]):
    """Results (JSON, CSV, Markdown) and figures of the demo; the paths written."""
    from forgrad_viz.attribution import explain
    from forgrad_viz.plotting import before_after, cutoff_curves, spectrum

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
        written += _export(fig, figures / f"before_after_{name}", formats)
    first = next(iter(models))
    maps[f"rise {first}"] = explain(models[first], shown, method="rise", n_masks=256)
    written += _export(spectrum(maps, title="power spectra of the maps"), figures / "spectra", formats)
    for metric in comparison.metrics:
        sweeps = {f"{m} {k}": s for m, d in comparison.sweeps.items() for k, s in d.items()}
        # one panel per model and method, each with its own black-box references
        fig = cutoff_curves(sweeps, metric=metric, layout="grid", figsize=(3.2 * min(len(sweeps), 3), 4.2))
        written += _export(fig, figures / f"cutoff_curves_{metric}", formats)
    written += _export(comparison.plot(), figures / "architecture_comparison", formats)
    return written


if __name__ == "__main__":
    sys.exit(main())
