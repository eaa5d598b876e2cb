"""``forgrad-viz sweep``: sweep cutoffs for a model over a folder of images, streamed block by block (resumable,
shardable, and run by several processes under ``torchrun``)."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from forgrad_viz.cli.images import image_files, image_loader
from forgrad_viz.cli.models import add_model_options, load_model
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
from forgrad_viz.cli.outputs import DEFAULT_FOLDS, output_stem, sweep_table, weights_text, write_sweep
from forgrad_viz.cli.overwrite import add_overwrite, images_fingerprint, refuse_overwrite
from forgrad_viz.cli.work_defaults import add_work_options, resolve_work

_METRICS = ("deletion", "insertion", "mufidelity")
#: The options that shrink a long sweep, named by the plan when its estimate is over 30 minutes.
_SHRINK = "--n-cutoffs 12, --search refine, --steps 10 or --n-subsets 50"
_DESCRIPTION = (
    "Score FORGrad maps at many cutoffs with Deletion, Insertion and MuFidelity on a folder of "
    "images (flat: the model's predicted class is explained; or one subfolder per class as in "
    "torchvision's ImageFolder: the class index is then the target, the folder's name if every class "
    "folder is named by an integer, else its rank in sorted order). Every image file is checked before the "
    "work starts. Before any forward pass, the plan: images x maps x forward passes for every method, an "
    "estimate of the time from a probe of a few seconds, the memory budget; then one progress bar for all "
    "the methods. Images are read lazily, one block at a time. Prints and writes, per method, the held-out "
    "gain of FORGrad over the unfiltered map first, then sigma* and the in-sample gain: MODEL_METHOD.json "
    "(CutoffSweep), .csv (summary), _curves.csv, .md and figures (the paired-gain curve first); outputs of "
    "other settings are not overwritten without --overwrite. Under torchrun (WORLD_SIZE > 1) the processes "
    "share the images and rank 0 writes the results."
)


def add_parser(commands: Any) -> None:
    """Add the ``sweep`` subcommand to the subparsers ``commands``."""
    sweep = commands.add_parser(
        "sweep",
        help="sweep cutoffs for a model over a folder of images (streamed, resumable, shardable, torchrun)",
        description=_DESCRIPTION,
    )
    add_model_options(sweep)
    sweep.add_argument("--images", required=True, help="folder of images (flat or ImageFolder)")
    sweep.add_argument(
        "--methods", nargs="+", default=["saliency"], metavar="METHOD", help="attribution methods (saliency)"
    )
    sweep.add_argument(
        "--metrics",
        nargs="+",
        default=list(_METRICS),
        choices=_METRICS,
        metavar="METRIC",
        help=f"faithfulness metrics, any of {', '.join(_METRICS)} (default: all)",
    )
    sweep.add_argument(
        "--cutoffs", help="comma-separated cutoffs in cycles per image (default: log-spaced grid)"
    )
    sweep.add_argument(
        "--kind",
        default="ideal",
        choices=("ideal", "gaussian", "butterworth"),
        help="low-pass filter (ideal, the paper's)",
    )
    add_padding(sweep)
    add_memory_budget(sweep)
    sweep.add_argument(
        "--search",
        default="grid",
        choices=("grid", "refine"),
        help="grid: score every cutoff; refine: coarse-to-fine search of sigma* (not with --shard)",
    )
    add_work_options(sweep)
    sweep.add_argument("--max-images", type=positive_int, help="use only the first N images")
    add_scoring_options(sweep)
    sweep.add_argument(
        "--device",
        default="cpu",
        help="torch device, e.g. cuda or cuda:1 (default: cpu); under torchrun, cuda means cuda:LOCAL_RANK",
    )
    sweep.add_argument("--batch-size", type=positive_int, help="inputs per forward pass (default: automatic)")
    sweep.add_argument("--block-size", type=positive_int, default=32, help="images per block of work (32)")
    sweep.add_argument(
        "--workers",
        type=nonnegative_int,
        default=0,
        help="DataLoader processes reading images (0: in process)",
    )
    sweep.add_argument(
        "--shard", help="run shard i of n (i/n, 0-based) of the images, for job arrays; combine with merge"
    )
    add_out(sweep, "forgrad_viz_sweep")
    sweep.add_argument(
        "--checkpoint",
        help="checkpoint folder (default: OUT/checkpoints); a run that is interrupted resumes from it",
    )
    sweep.add_argument("--no-checkpoint", action="store_true", help="do not write or read checkpoints")
    add_overwrite(sweep)
    add_folds(sweep, DEFAULT_FOLDS)
    sweep.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="skip image files that cannot be read (listed in the output and in the JSON's "
        "params['skipped_images']) instead of stopping before the work starts",
    )
    add_formats(sweep, optional=True)
    sweep.add_argument("--seed", type=int, default=0, help="seed of stochastic methods and MuFidelity (0)")
    sweep.add_argument(
        "--no-progress", action="store_true", help="hide the progress bar (the plan is printed all the same)"
    )
    sweep.set_defaults(func=run)


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
    """The image indices of shard ``index`` of ``count``: contiguous, and every shard gets images when there are
    at least ``count`` of them.

    With at least ``count`` blocks of ``block_size`` images, shards hold whole blocks, so that every block of work
    sees the same images as in an unsharded run with the same block size (on the CPU the merged result is then
    identical to the unsharded one). With fewer blocks, the images are split evenly (shard ``i`` holds images
    ``i * N // count`` to ``(i + 1) * N // count - 1``); forward passes then batch other images together than in
    an unsharded run, which moves scores by float rounding only.

    Examples
    --------
    >>> list(shard_rows(10, 2, 1, 2))
    [4, 5, 6, 7, 8, 9]
    >>> list(shard_rows(6, 32, 1, 2))
    [3, 4, 5]
    """
    n_blocks = math.ceil(n_images / block_size)
    if n_blocks < count:
        return range(index * n_images // count, (index + 1) * n_images // count)
    first, last = index * n_blocks // count, (index + 1) * n_blocks // count
    return range(min(first * block_size, n_images), min(last * block_size, n_images))


def _parse_cutoffs(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"--cutoffs must be comma-separated numbers; got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``forgrad-viz sweep``: one CutoffSweep per method, written as JSON, CSV and figures.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the sweep runs inside
    :func:`forgrad_viz.sweep.distributed.distributed_session`: every process sweeps its share of the images and
    rank 0, which receives the gathered result, prints and writes it.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _sweep(args, rank=0, world_size=1, local_rank=0)
    from forgrad_viz.sweep.distributed import distributed_session, rank_info

    with distributed_session():
        rank, world_size, local_rank = rank_info()
        return _sweep(args, rank=rank, world_size=world_size, local_rank=local_rank)


def _device(text: str, world_size: int, local_rank: int) -> Any:
    import torch

    try:
        device = torch.device(text)
    except RuntimeError as error:
        raise CliError(f"invalid --device {text!r}: {error}") from None
    if world_size > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank)
    return device


def _checkpoint_key(signature: dict[str, Any], block_size: int, skipped: list[str]) -> str:
    """A short key of a method's settings (model and weights included), block size and skipped images in its
    checkpoint's name: a run of other settings (allowed by ``--overwrite``) starts its own checkpoint, a run of
    the same settings resumes."""
    record = json.dumps([signature, block_size, skipped], sort_keys=True)
    return hashlib.sha256(record.encode()).hexdigest()[:12]


def _readable_rows(files: list[Path], rows: range, root: str, skip: bool) -> tuple[list[int], list[str]]:
    """The rows whose image files can be read, and the skipped files relative to ``root``; without ``skip``, a
    :class:`CliError` naming the first bad file and ``--skip-bad-images``."""
    from forgrad_viz.image_files import unreadable_images

    bad = unreadable_images([files[i] for i in rows], first_only=not skip)
    if bad and not skip:
        path, reason = next(iter(bad.items()))
        raise CliError(
            f"cannot read image {path}: {reason} (pass --skip-bad-images to skip unreadable images)"
        )
    kept = [i for i in rows if files[i] not in bad]
    if not kept:
        raise CliError(f"none of the {len(rows)} images in {root} can be read")
    return kept, [path.relative_to(root).as_posix() for path in bad]


def _signature(
    args: argparse.Namespace, method: str, weights: Any, cutoffs: Any, images: Any
) -> dict[str, Any]:
    """The settings that make a method's results (``params["signature"]``): outputs of another signature are not
    overwritten without ``--overwrite``. Not in it: device, batch, block and worker counts, folds, figures."""
    return {
        "model": args.model,
        "weights": None if weights is None else {k: v for k, v in weights.items() if k != "path"},
        "method": method,
        "kind": args.kind,
        "search": args.search,
        "cutoffs": [float(c) for c in cutoffs],
        "metrics": list(args.metrics),
        "steps": args.steps,
        "n_subsets": args.n_subsets if "mufidelity" in args.metrics else None,
        "seed": args.seed,
        "images": images,
        "precision": args.precision,
        "backend": args.backend,
        "padding": None if args.padding == "none" else args.padding,
    }


def _sweep(args: argparse.Namespace, *, rank: int, world_size: int, local_rank: int) -> int:
    formats = figure_formats(args)
    cutoffs = _parse_cutoffs(args.cutoffs)
    index, count = _parse_shard(args.shard)
    if count > 1 and args.search == "refine":
        raise CliError("--search refine picks cutoffs from all the images; it cannot run on shards")
    # the files are listed and checked before torch is imported: a bad file fails within the first second
    files = image_files(args.images)[0][: args.max_images]
    shard = shard_rows(len(files), args.block_size, index, count)
    if len(shard) == 0:
        raise CliError(f"shard {index}/{count} holds no images ({len(files)} images for {count} shards)")
    rows, skipped = _readable_rows(files, shard, args.images, args.skip_bad_images)
    methods = check_methods(args.methods)  # after the images: it imports the attribution methods (seconds)
    from forgrad_viz.image_folder import ImageFolderDataset

    dataset = ImageFolderDataset(args.images, max_images=args.max_images)
    device = _device(args.device, world_size, local_rank)
    args.backend = resolve_backend(args.backend, args.precision, device)  # "auto" made concrete, as recorded
    model, dataset.transform, source = load_model(args, device)
    out = writable_folder(args.out) if rank == 0 else Path(args.out)
    weights = None if source is None else source.to_dict()
    height, width = (int(n) for n in dataset[rows[0]][0].shape[-2:])
    note = resolve_work(args, height, width, device, grid=cutoffs is None)  # printed after the run's header
    if cutoffs is None:
        from forgrad_viz.filters import default_cutoffs

        cutoffs = default_cutoffs(height, width, n=args.n_cutoffs)
    images = images_fingerprint(args.images, dataset.files, dataset.targets)
    stems = {method: output_stem(args.model, method, (index, count)) for method in methods}
    signatures = {method: _signature(args, method, weights, cutoffs, images) for method in methods}
    for method in methods:  # before any work, on every rank: none starts what rank 0 would refuse to write
        refuse_overwrite(out, stems[method], signatures[method], args.overwrite)
    checkpoints = (
        None
        if args.no_checkpoint
        else writable_folder(args.checkpoint or out / "checkpoints", "--checkpoint")
    )
    loader = image_loader(dataset, rows, args.block_size, args.workers, pin_memory=device.type == "cuda")
    if rank == 0:
        processes = "" if world_size == 1 else f", {world_size} processes"
        print(
            f"{len(rows)} images ({shard.start}..{shard.stop - 1} of {len(dataset)}) from {args.images}; model "
            f"{args.model} (weights: {weights_text(weights)}); methods "
            f"{', '.join(methods)}, {len(cutoffs)} cutoffs, metrics {', '.join(args.metrics)}; padding "
            f"{args.padding}; precision {args.precision}, backend {args.backend}, device {device}{processes}",
            flush=True,
        )
        if note:
            print(note, flush=True)
        if skipped:
            print(
                f"skipped {len(skipped)} unreadable images (--skip-bad-images): {', '.join(skipped)}",
                flush=True,
            )
    # one checkpoint name for every rank: the engine appends each rank's blocks to its own file beside it and
    # resumes from all of them, under any number of processes
    keys = {method: _checkpoint_key(signatures[method], args.block_size, skipped) for method in methods}
    arguments = {
        method: _sweep_arguments(
            args, method, cutoffs, rows,
            None if checkpoints is None else checkpoints / f"{stems[method]}_{keys[method]}.json",
        )
        for method in methods
    }  # fmt: skip
    sweeps = _run_sweeps(args, model, loader, arguments, rank)
    if rank != 0:
        return 0
    written = []
    for sweep in sweeps:
        sweep.params.update(model=args.model, weights=weights, signature=signatures[sweep.method])
        sweep.params["skipped_images"] = skipped
        shown = formats if count == 1 else None
        written += write_sweep(sweep, out, stems[sweep.method], shown, args.folds)
    print(sweep_table(sweeps, args.folds))
    if skipped:
        print(f"skipped {len(skipped)} unreadable images: {', '.join(skipped)}")
    print(f"wrote {len(written)} files to {out}/")
    return 0


def _sweep_arguments(
    args: argparse.Namespace, method: str, cutoffs: Any, image_ids: list[int], checkpoint: Path | None
) -> dict[str, Any]:
    """The arguments of one method's :func:`~forgrad_viz.sweep.sweep_cutoffs` (and of its plan)."""
    return {
        "method": method,
        "cutoffs": cutoffs,
        "metrics": tuple(args.metrics),
        "kind": args.kind,
        "search": args.search,
        "padding": None if args.padding == "none" else args.padding,
        "steps": args.steps,
        "mufidelity": {"n_subsets": args.n_subsets, "seed": args.seed},
        "precision": args.precision,
        "backend": args.backend,
        "batch_size": args.batch_size,
        "memory_budget": memory_budget(args),
        "block_size": args.block_size,
        "checkpoint": checkpoint,
        "seed": args.seed,
        "model_name": args.model,
        "image_ids": image_ids,
    }


def _run_sweeps(
    args: argparse.Namespace, model: Any, loader: Any, arguments: dict[str, dict[str, Any]], rank: int
) -> list[Any]:
    """Every method's sweep of the images under one plan, printed first on rank 0, and one progress bar."""
    from forgrad_viz.sweep import plan_sweep, sweep_cutoffs
    from forgrad_viz.sweep.progress import start

    bar: Any = False
    if rank == 0:  # the plan of every method (the work of all ranks), then one bar for all of them
        plans = [plan_sweep(model, loader, **kwargs) for kwargs in arguments.values()]
        bar = start(plans, f"sweep {args.model}", enabled=not args.no_progress, shrink=_SHRINK)
    try:
        # streamed block by block; the loader's targets (-1: predicted class) come with the images
        return [sweep_cutoffs(model, loader, progress=bar, **kwargs) for kwargs in arguments.values()]
    finally:
        if bar is not False:
            bar.close()
