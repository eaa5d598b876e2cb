"""``forgrad-viz compare``: several models on one folder of images, each at its own resolution and transform: the
architecture comparison a user runs on their own validation set (resumable, streamed, torchrun-ready)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from forgrad_viz.cli.compare_costs import TIMED_IMAGES, seconds_per_image
from forgrad_viz.cli.images import image_loader
from forgrad_viz.cli.models import load_model
from forgrad_viz.cli.options import (
    CliError,
    add_folds,
    add_formats,
    add_memory_budget,
    add_out,
    add_padding,
    add_scoring_options,
    check_methods,
    figure_formats,
    memory_budget,
    nonnegative_int,
    positive_int,
    resolve_backend,
    writable_folder,
)
from forgrad_viz.cli.outputs import DEFAULT_FOLDS, output_stem, weights_text
from forgrad_viz.cli.overwrite import add_overwrite, images_fingerprint, refuse_overwrite
from forgrad_viz.cli.work_defaults import add_work_options, resolve_work

_METRICS = ("deletion", "insertion", "mufidelity")
_REFERENCES = ("rise", "occlusion")
_DESCRIPTION = (
    "Compare models on one folder of images (flat, or one subfolder per class as in torchvision's "
    "ImageFolder): each model at its own resolution and transform, every method's FORGrad maps scored at many "
    "cutoffs next to the unfiltered map (and black-box references with --references). Writes "
    "OUT/sweeps/MODEL_METHOD.json (CutoffSweep) with its summaries, then the comparison of every sweep in "
    "OUT/sweeps (runs into one OUT add up): comparison.{md,csv,json,tex} led by the held-out gain, "
    "differences.{md,csv} (do two models' sigma* differ, in fractions of Nyquist), versus_references.{md,csv} "
    "(FORGrad at held-out sigma* minus each reference) and figures. Resumable (checkpoints in "
    "OUT/checkpoints); under torchrun the processes share the images and rank 0 writes."
)


def add_parser(commands: Any) -> None:
    """Add the ``compare`` subcommand to the subparsers ``commands``."""
    compare = commands.add_parser(
        "compare",
        help="compare models (each at its own resolution) on one folder of images: sigma*, held-out gains",
        description=_DESCRIPTION,
    )
    compare.add_argument(
        "--models",
        nargs="+",
        required=True,
        metavar="MODEL",
        help="models: pretrained (efficientnet_lite0/1/2), demo (maxpool_cnn, ...), or torchvision "
        "NAME:WEIGHTS_FILE (a state dict)",
    )
    compare.add_argument("--images", required=True, help="folder of images (flat or ImageFolder)")
    compare.add_argument(
        "--methods", nargs="+", default=["saliency"], metavar="METHOD", help="white-box methods (saliency)"
    )
    compare.add_argument(
        "--metrics", nargs="+", default=list(_METRICS), choices=_METRICS, metavar="METRIC",
        help=f"faithfulness metrics, any of {', '.join(_METRICS)} (default: all)",
    )  # fmt: skip
    compare.add_argument(
        "--references", nargs="*", default=[], choices=_REFERENCES, metavar="REFERENCE",
        help="black-box references scored on the same images: rise, occlusion (default: none)",
    )  # fmt: skip
    compare.add_argument(
        "--rise-masks", type=positive_int, help="RISE masks per image (RISE's default 4,000)"
    )
    compare.add_argument(
        "--cutoffs",
        help="comma-separated cutoffs (default: each model's log-spaced grid of distinct filters); in cycles "
        "per image, or fractions of Nyquist with --cutoff-unit nyquist (the same frequencies at every resolution)",
    )
    compare.add_argument(
        "--cutoff-unit", default="cycles", choices=("cycles", "nyquist"), help="unit of --cutoffs (cycles)"
    )
    add_padding(compare)
    add_memory_budget(compare)
    add_work_options(compare)
    compare.add_argument("--max-images", type=positive_int, help="use only the first N images")
    compare.add_argument(
        "--every", type=positive_int, default=1, help="use every K-th image (a spread subset; 1: all)"
    )
    compare.add_argument(
        "--offset", type=nonnegative_int, default=0, help="with --every K: start at image J < K (0)"
    )
    compare.add_argument(
        "--method-option", action="append", default=[], metavar="METHOD.OPTION=VALUE",
        help="an option of a method, e.g. integrated_gradients.n_steps=16 or smoothgrad.n_samples=16",
    )  # fmt: skip
    add_scoring_options(compare)
    compare.add_argument("--device", default="cpu", help="torch device (cpu)")
    compare.add_argument(
        "--batch-size", type=positive_int, help="inputs per forward pass (default: automatic)"
    )
    compare.add_argument("--block-size", type=positive_int, default=32, help="images per block of work (32)")
    compare.add_argument("--workers", type=nonnegative_int, default=0, help="DataLoader processes (0)")
    add_folds(compare, DEFAULT_FOLDS)
    add_out(compare, "forgrad_viz_compare")
    add_overwrite(compare)
    compare.add_argument("--no-checkpoint", action="store_true", help="do not write or read checkpoints")
    compare.add_argument(
        "--skip-bad-images", action="store_true",
        help="skip unreadable image files (listed in the output and the JSON) instead of stopping",
    )  # fmt: skip
    add_formats(compare, optional=True)
    compare.add_argument("--seed", type=int, default=0, help="seed of stochastic methods and MuFidelity (0)")
    compare.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    compare.set_defaults(func=run)


def _model_spec(text: str) -> tuple[str, str | None]:
    """``name`` or ``name:weights_file``."""
    name, _, weights = text.partition(":")
    if not name:
        raise CliError(f"--models entries are NAME or NAME:WEIGHTS_FILE; got {text!r}")
    return name, weights or None


def _method_options(texts: list[str], methods: list[str]) -> dict[str, dict[str, Any]]:
    """``METHOD.OPTION=VALUE`` pairs as ``{method: {option: value}}`` (values parsed as int, float or text)."""
    options: dict[str, dict[str, Any]] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        method, dot, option = key.partition(".")
        if not sep or not dot or not option:
            raise CliError(f"--method-option must be METHOD.OPTION=VALUE; got {text!r}")
        if method not in methods:
            raise CliError(f"--method-option names {method!r}, which is not among --methods/--references")
        parsed: Any = value
        for cast in (int, float):
            try:
                parsed = cast(value)
                break
            except ValueError:
                continue
        options.setdefault(method, {})[option] = parsed
    return options


def _cutoffs(args: argparse.Namespace, height: int, width: int) -> list[float]:
    from forgrad_viz.filters import default_cutoffs, nyquist_to_cutoff

    if args.cutoffs is None:
        return [float(c) for c in default_cutoffs(height, width, n=args.n_cutoffs)]
    try:
        values = [float(v) for v in args.cutoffs.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"--cutoffs must be comma-separated numbers; got {args.cutoffs!r}") from None
    if args.cutoff_unit == "nyquist":
        values = [float(nyquist_to_cutoff(v, height, width)) for v in values]
    return values


def run(args: argparse.Namespace) -> int:
    """Run ``forgrad-viz compare`` (under torchrun inside a distributed session; rank 0 writes)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _compare(args, rank=0)
    from forgrad_viz.sweep.distributed import distributed_session, rank_info

    with distributed_session():
        return _compare(args, rank=rank_info().rank)


def _rows(args: argparse.Namespace) -> tuple[list[int], list[str], list[Path]]:
    """The image rows used (``--max-images``, ``--every``, readable files) and the skipped files."""
    from forgrad_viz.image_files import image_files, unreadable_images

    files = image_files(args.images)[0][: args.max_images]
    if not files:
        raise CliError(f"no images in {args.images}")
    if args.offset >= args.every:
        raise CliError(f"--offset must be smaller than --every ({args.every}); got {args.offset}")
    wanted = list(range(args.offset, len(files), args.every))
    bad = unreadable_images([files[i] for i in wanted], first_only=not args.skip_bad_images)
    if bad and not args.skip_bad_images:
        path, reason = next(iter(bad.items()))
        raise CliError(
            f"cannot read image {path}: {reason} (pass --skip-bad-images to skip unreadable images)"
        )
    rows = [i for i in wanted if files[i] not in bad]
    if len(rows) < 2:
        raise CliError(
            "compare needs at least 2 images (a held-out gain scores sigma* on images that did not choose "
            f"it); {len(rows)} of {len(files)} in {args.images} are used (--max-images, --every, --offset, "
            "unreadable)"
        )
    return rows, [p.relative_to(args.images).as_posix() for p in bad], files


def _compare(args: argparse.Namespace, *, rank: int) -> int:
    import torch

    from forgrad_viz.cli.compare_report import write_report
    from forgrad_viz.image_folder import ImageFolderDataset
    from forgrad_viz.sweep import compare_architectures

    formats = figure_formats(args)
    specs = [_model_spec(text) for text in args.models]
    names = [name for name, _ in specs]
    if len(set(names)) != len(names):
        raise CliError(f"--models names a model twice: {names}")
    rows, skipped, _ = _rows(args)
    methods = check_methods(args.methods)
    options = _method_options(args.method_option, [*methods, *args.references])
    reference_options = {r: options.pop(r, {}) for r in args.references}
    if args.rise_masks and "rise" in reference_options:
        reference_options["rise"]["n_masks"] = args.rise_masks
    device = torch.device(args.device)
    backend = resolve_backend(args.backend, args.precision, device)
    out = writable_folder(args.out) if rank == 0 else Path(args.out)
    sweeps_folder = out / "sweeps"
    loaded, note = [], None
    for name, weights in specs:  # load every model and check every output before any work
        model_args = argparse.Namespace(model=name, weights=weights, random_weights=False)
        model, transform, source = load_model(model_args, device)
        dataset = ImageFolderDataset(args.images, transform, max_images=args.max_images)
        height, width = (int(n) for n in dataset[rows[0]][0].shape[-2:])
        note = note or resolve_work(
            args, height, width, device, grid=args.cutoffs is None
        )  # the first model's input size decides
        cutoffs = _cutoffs(args, height, width)
        record = None if source is None else source.to_dict()
        signature = {
            "model": name,
            "weights": None if record is None else {k: v for k, v in record.items() if k != "path"},
            "cutoffs": cutoffs,
            "metrics": list(args.metrics),
            "steps": args.steps,
            "n_subsets": args.n_subsets,
            "references": list(args.references),
            "reference_options": reference_options,
            "precision": args.precision,
            "backend": backend,
            "seed": args.seed,
            # the periodic filter (the default) is not written: results of runs before --padding still resume
            **({} if args.padding == "none" else {"padding": args.padding}),
            "every": args.every,
            "offset": args.offset,
            "images": images_fingerprint(
                args.images, [dataset.files[i] for i in rows], [dataset.targets[i] for i in rows]
            ),
        }
        for method in methods:
            refuse_overwrite(
                sweeps_folder, output_stem(name, method), {**signature, "method": method}, args.overwrite
            )
        loaded.append((name, model, dataset, cutoffs, record, signature))
    if rank == 0:
        print(
            f"{len(rows)} images from {args.images} (every {args.every}, offset {args.offset}); models {', '.join(names)}; methods "
            f"{', '.join(methods)}; references {', '.join(args.references) or 'none'}; metrics "
            f"{', '.join(args.metrics)}; padding {args.padding}; precision {args.precision}, backend {backend}, "
            f"device {device}",
            flush=True,
        )
        if note:
            print(note, flush=True)
        if skipped:
            print(f"skipped {len(skipped)} unreadable images: {', '.join(skipped)}", flush=True)
    for name, model, dataset, cutoffs, record, signature in loaded:
        if rank == 0:
            print(f"model {name} (weights: {weights_text(record)}): {len(cutoffs)} cutoffs", flush=True)
        loader = image_loader(dataset, rows, args.block_size, args.workers, pin_memory=device.type == "cuda")
        # one checkpoint per model and work: other methods or references into the same folder start their own
        checkpoint_stem = output_stem(name, "-".join([*methods, *args.references]))
        comparison = compare_architectures(
            {name: model},
            loader,
            methods=methods,
            metrics=tuple(args.metrics),
            references=tuple(args.references),
            cutoffs=cutoffs,
            padding=None if args.padding == "none" else args.padding,
            memory_budget=memory_budget(args),
            method_options=options,
            reference_options=reference_options,
            steps=args.steps,
            mufidelity={"n_subsets": args.n_subsets, "seed": args.seed},
            batch_size=args.batch_size,
            precision=args.precision,
            backend=backend,
            block_size=args.block_size,
            progress=not args.no_progress and rank == 0,
            checkpoint=None if args.no_checkpoint else out / "checkpoints" / checkpoint_stem,
            seed=args.seed,
            image_ids=rows,
        )
        if rank != 0:
            continue
        timed = torch.stack([dataset[i][0] for i in rows[:TIMED_IMAGES]])
        costs = seconds_per_image(
            model,
            timed,
            [*methods, *args.references],
            {**options, **reference_options},
            args.precision,
            backend,
        )
        for method, sweep in comparison.sweeps[name].items():
            sweep.params.update(
                model=name,
                weights=record,
                signature={**signature, "method": method},
                skipped_images=skipped,
                image_size=list(dataset[rows[0]][0].shape[-2:]),
                seconds_per_image=costs,  # wall seconds of each method's map (and the references'), measured
            )
            sweep.save(sweeps_folder / f"{output_stem(name, method)}.json")
        print(f"model {name} done: {len(comparison.sweeps[name])} sweeps in {sweeps_folder}/", flush=True)
    if rank != 0:
        return 0
    written = write_report(out, formats, args.folds)
    print(f"wrote {len(written)} files to {out}/")
    return 0
