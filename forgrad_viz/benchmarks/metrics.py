"""Speed of Deletion + Insertion + MuFidelity against the forward-pass floor (``forgrad-viz bench metrics``).

The work of the three metrics is forward passes: ``N * (steps + 1)`` for Deletion, the same for Insertion and
``N * (n_subsets + 1)`` for MuFidelity. The floor is the same number of forward passes on inputs of the same size
at the model's best batch size (measured among a few sizes in the same process); the report gives
``floor_time / our_time`` (1.0 = no overhead beyond the forward passes). Ours and the floor are timed in turns, so
that a drift in the machine's speed moves both alike; the first call on the model, which measures its CPU batch
size on the work, is timed and reported apart. When torchcam or Quantus is installed,
the same kind of work done by them is timed on a few images and reported per image.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import check_positive_int, preserved_model
from forgrad_viz.data import shapes_dataset
from forgrad_viz.metrics import DEFAULT_N_SUBSETS, DEFAULT_STEPS, deletion, insertion, mufidelity

__all__ = ["format_report", "run"]

#: Batch sizes tried for the forward-pass floor.
FLOOR_BATCH_SIZES = (16, 32, 64, 128, 256)
_IMAGE_SIZE = 64


def _inline_cnn(n_classes: int = 4) -> nn.Sequential:
    """The demo's max-pooling CNN: 3 stages of two 3x3 conv + BN + ReLU (16-32-64) and a max-pool, GAP, linear."""
    layers: list[nn.Module] = []
    previous = 3
    for width in (16, 32, 64):
        for channels_in in (previous, width):
            layers += [
                nn.Conv2d(channels_in, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
        layers.append(nn.MaxPool2d(2))
        previous = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, n_classes)]
    return nn.Sequential(*layers)


def _default_model(seed: int) -> tuple[nn.Module, str]:
    """The shipped ``maxpool_cnn`` demo model when its weights exist, else the same architecture, untrained."""
    from forgrad_viz import models

    try:
        return models.load_demo("maxpool_cnn"), "demo maxpool_cnn"
    except FileNotFoundError:
        torch.manual_seed(seed)
        return _inline_cnn(), "maxpool CNN (untrained: demo weights not found)"


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(function: Callable[[], Any], device: torch.device) -> float:
    _synchronize(device)
    start = time.perf_counter()
    function()
    _synchronize(device)
    return time.perf_counter() - start


def _forward_passes(model: nn.Module, n_inputs: int, batch_size: int, device: torch.device) -> None:
    """``n_inputs`` forward passes of random 64 x 64 images in batches of ``batch_size``."""
    batch = torch.rand(batch_size, 3, _IMAGE_SIZE, _IMAGE_SIZE, device=device)
    with preserved_model(model), torch.inference_mode():
        for start in range(0, n_inputs, batch_size):
            model(batch[: min(batch_size, n_inputs - start)])


def _best_batch_size(model: nn.Module, device: torch.device, sizes: Sequence[int]) -> tuple[int, dict]:
    """The batch size with the lowest time per input (each timed on at least 512 inputs after a warm-up)."""
    per_input = {}
    for size in sizes:
        _forward_passes(model, size, size, device)
        n_inputs = max(512, 2 * size)
        per_input[size] = (
            _timed(lambda s=size, n=n_inputs: _forward_passes(model, n, s, device), device) / n_inputs
        )
    return min(per_input, key=per_input.get), per_input


def _our_work(model, images, maps, steps, n_subsets, seed, device) -> tuple[dict, dict]:
    """Seconds and mean score of each metric."""
    calls = {
        "deletion": lambda: deletion(model, images, maps, steps=steps),
        "insertion": lambda: insertion(model, images, maps, steps=steps),
        "mufidelity": lambda: mufidelity(model, images, maps, n_subsets=n_subsets, seed=seed),
    }
    seconds, means = {}, {}
    for name, call in calls.items():
        results = []
        seconds[name] = _timed(lambda c=call, r=results: r.append(c()), device)
        means[name] = results[0].mean()
    return seconds, means


class _GivenMaps:
    """A torchcam CAM extractor that returns precomputed maps (so torchcam times only its metric)."""

    def __init__(self, model: nn.Module, maps: torch.Tensor) -> None:
        self.model = model
        self.maps = maps

    def __call__(self, class_idx: Any = None, scores: Any = None, normalized: bool = True, **_: Any) -> list:
        return [self.maps]

    def fuse_cams(self, cams: list[torch.Tensor]) -> torch.Tensor:
        return cams[0]

    @contextlib.contextmanager
    def _hooks_off(self) -> Iterator[None]:
        yield


def _torchcam_peer(model, images, maps, steps, batch_size, device) -> dict[str, Any]:
    from torchcam.metrics import DeletionInsertionMetric

    metric = DeletionInsertionMetric(
        _GivenMaps(model, maps), lambda logits: logits.softmax(-1), steps=steps, batch_size=batch_size
    )
    seconds = _timed(lambda: metric.update(images), device)
    return {
        "work": "Deletion + Insertion (shared zero baseline), DeletionInsertionMetric",
        "seconds": seconds,
        "compare_with": ("deletion", "insertion"),
        "n_images": int(images.shape[0]),
    }


def _quantus_peer(model, images, maps, steps, n_subsets, batch_size, device) -> dict[str, Any]:
    import quantus

    n_pixels = images.shape[-2] * images.shape[-1]
    divisors = [d for d in range(1, n_pixels + 1) if n_pixels % d == 0]
    features = min(divisors, key=lambda d: abs(d - n_pixels / steps))  # PixelFlipping needs a divisor
    with torch.no_grad():
        targets = model.eval()(images).argmax(1).cpu().numpy()
    arrays = {
        "x_batch": images.cpu().numpy(),
        "y_batch": targets,
        "a_batch": maps[:, None].cpu().numpy(),
        "channel_first": True,
        "device": str(device),
        "batch_size": batch_size,
    }
    flipping = quantus.PixelFlipping(
        features_in_step=features, perturb_baseline="black", disable_warnings=True
    )
    correlation = quantus.FaithfulnessCorrelation(
        nr_runs=n_subsets,
        subset_size=round(0.2 * n_pixels),
        perturb_baseline="black",
        similarity_func=quantus.similarity_func.correlation_spearman,
        disable_warnings=True,
    )
    seconds_flip = _timed(lambda: flipping(model=model, softmax=True, **arrays), device)
    seconds_corr = _timed(lambda: correlation(model=model, softmax=True, **arrays), device)
    return {
        "work": (
            f"PixelFlipping (Deletion, {n_pixels // features} steps) + FaithfulnessCorrelation "
            f"({n_subsets} random pixel subsets, Spearman); no Insertion in Quantus"
        ),
        "seconds": seconds_flip + seconds_corr,
        "seconds_deletion": seconds_flip,
        "seconds_mufidelity": seconds_corr,
        "compare_with": ("deletion", "mufidelity"),
        "n_images": int(images.shape[0]),
    }


def _ours_on_peer_images(model, images, maps, steps, n_subsets, seed, device) -> dict[str, float]:
    """Seconds of our metrics on the peers' images, with the peers' baselines (0 for Insertion too)."""
    calls = {
        "deletion": lambda m: deletion(m, images, maps, steps=steps),
        "insertion": lambda m: insertion(m, images, maps, steps=steps, baseline=0.0),
        "mufidelity": lambda m: mufidelity(m, images, maps, n_subsets=n_subsets, seed=seed),
    }
    seconds = {name: _timed(lambda c=call: c(model), device) for name, call in calls.items()}
    fresh = copy.deepcopy(
        model
    )  # a model never seen: pays the CPU batch-size measurement, as a first call does
    first = {f"{name}_first_call": _timed(lambda c=call: c(fresh), device) for name, call in calls.items()}
    return {**seconds, **first}


def _peers(model, images, maps, steps, n_subsets, batch_size, device) -> dict[str, Any]:
    """Time torchcam and Quantus on ``images`` when installed."""
    peers: dict[str, Any] = {}
    for name, call in (
        ("torchcam", lambda: _torchcam_peer(model, images, maps, steps, batch_size, device)),
        ("quantus", lambda: _quantus_peer(model, images, maps, steps, n_subsets, batch_size, device)),
    ):
        if importlib.util.find_spec(name) is None:
            peers[name] = {"status": "not installed"}
            continue
        try:
            peers[name] = {"status": "ok", **call()}
        except Exception as error:  # a peer library's failure must not stop the benchmark
            peers[name] = {"status": f"failed: {type(error).__name__}: {error}"}
    return peers


def run(
    n_images: int = 64,
    model: nn.Module | None = None,
    steps: int = DEFAULT_STEPS,
    device: str | torch.device = "cpu",
    repeats: int = 2,
    seed: int = 0,
    n_subsets: int = DEFAULT_N_SUBSETS,
    peer_images: int = 8,
    batch_sizes: Sequence[int] = FLOOR_BATCH_SIZES,
) -> dict[str, Any]:
    """Time Deletion + Insertion + MuFidelity on ``n_images`` 64 x 64 shapes images against the floor.

    Parameters
    ----------
    n_images : int
        Images scored (shapes set, 64 x 64).
    model : nn.Module, optional
        Classifier of 64 x 64 images; default the demo ``maxpool_cnn`` (untrained if its weights are missing).
    steps : int
        Deletion/Insertion steps.
    device : str or torch.device
        Where to run.
    repeats : int
        Timed rounds, each one run of our metrics then one of the floor (the fastest of each is reported). Before
        them, a first call on the model (not yet seen: it measures its CPU batch size on the work) is timed and
        reported apart as ``first_call_s``.
    seed : int
        Seed of the images, the maps and MuFidelity.
    n_subsets : int
        MuFidelity subsets.
    peer_images : int
        Images given to torchcam/Quantus (they are slower; their time is reported per image).
    batch_sizes : sequence of int
        Batch sizes tried for the floor.

    Returns
    -------
    dict
        ``ours_s``, ``floor_s``, ``ratio`` (floor / ours), ``first_call_s`` and ``first_call_parts_s`` (the first
        call, batch-size measurement included), ``forward_passes``, ``best_batch_size``,
        ``ours_parts_s`` (seconds per metric), ``per_input_ms`` by batch size, ``scores`` (the means),
        ``peers`` (status, seconds, the metrics of ours they compare with), ``ours_peer_images_s`` (seconds of
        each of our metrics on the peers' images with their baselines, Insertion from 0 as torchcam: ``name``
        with the batch size already measured, ``name_first_call`` on a copy of the model never seen) and the
        settings.

    Examples
    --------
    >>> result = run(n_images=2, steps=2, n_subsets=2, peer_images=1, batch_sizes=(16,))  # doctest: +SKIP
    >>> print(format_report(result))  # doctest: +SKIP
    """
    n_images = check_positive_int(n_images, "n_images")
    repeats = check_positive_int(repeats, "repeats")
    device = torch.device(device)
    label = "given model"
    if model is None:
        model, label = _default_model(seed)
    model = model.to(device).eval()
    images = shapes_dataset(n_images, size=_IMAGE_SIZE, seed=seed).images.to(device)
    maps = torch.rand(n_images, _IMAGE_SIZE, _IMAGE_SIZE, generator=torch.Generator().manual_seed(seed))
    maps = maps.to(device)
    passes = n_images * (2 * (steps + 1) + n_subsets + 1)

    first_call = _our_work(model, images, maps, steps, n_subsets, seed, device)[0]  # measures the batch size
    best, per_input = _best_batch_size(model, device, batch_sizes)
    runs, floors = [], []
    for _ in range(repeats):  # ours and the floor take turns: a drift in the machine's speed moves both alike
        runs.append(_our_work(model, images, maps, steps, n_subsets, seed, device))
        floors.append(_timed(lambda: _forward_passes(model, passes, best, device), device))
    parts = {name: min(seconds[name] for seconds, _ in runs) for name in runs[0][0]}
    scores = runs[0][1]
    ours = min(sum(seconds.values()) for seconds, _ in runs)
    floor = min(floors)
    peer_images = min(peer_images, n_images)
    peers = _peers(model, images[:peer_images], maps[:peer_images], steps, n_subsets, best, device)
    same = _ours_on_peer_images(
        model, images[:peer_images], maps[:peer_images], steps, n_subsets, seed, device
    )
    return {
        "model": label,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "n_images": n_images,
        "steps": steps,
        "n_subsets": n_subsets,
        "repeats": repeats,
        "forward_passes": passes,
        "ours_s": ours,
        "ours_parts_s": parts,
        "first_call_s": sum(first_call.values()),
        "first_call_parts_s": first_call,
        "floor_s": floor,
        "ratio": floor / ours,
        "best_batch_size": best,
        "per_input_ms": {str(k): v * 1e3 for k, v in per_input.items()},
        "scores": scores,
        "peers": peers,
        "ours_peer_images_s": same,
    }


def format_report(result: dict[str, Any]) -> str:
    """A short text report of :func:`run`'s result."""
    n = result["n_images"]
    ours_per_image = result["ours_s"] / n
    parts = result["ours_parts_s"]
    lines = [
        f"metrics benchmark: Deletion + Insertion + MuFidelity on {n} images 64x64, steps={result['steps']}, "
        f"n_subsets={result['n_subsets']}, {result['model']}, device={result['device']}, "
        f"threads={result['threads']}",
        f"  forward passes:     {result['forward_passes']}",
        f"  ours:               {result['ours_s']:.2f} s ({ours_per_image * 1e3:.1f} ms per image; "
        + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
        + ")",
        f"  forward-pass floor: {result['floor_s']:.2f} s (best batch size {result['best_batch_size']}; ms per "
        "input by batch size: " + ", ".join(f"{k}: {v:.3f}" for k, v in result["per_input_ms"].items()) + ")",
        f"  ratio floor/ours:   {result['ratio']:.2f} (best of {result['repeats']} rounds, ours and floor taking turns)",
        f"  first call:         {result['first_call_s']:.2f} s (the CPU batch size measured on the work; floor/first "
        f"{result['floor_s'] / result['first_call_s']:.2f})",
        "  mean scores:        " + ", ".join(f"{k} {v:.3f}" for k, v in result["scores"].items()),
    ]
    for name, peer in result["peers"].items():
        if peer["status"] != "ok":
            lines.append(f"  {name}: {peer['status']}")
            continue
        per_image = peer["seconds"] / peer["n_images"]
        ours_same = sum(parts[k] for k in peer["compare_with"]) / n
        lines.append(
            f"  {name}: {peer['seconds']:.2f} s on {peer['n_images']} images ({per_image * 1e3:.1f} ms per image "
            f"vs ours {ours_same * 1e3:.1f} ms for {' + '.join(peer['compare_with'])}: "
            f"{per_image / ours_same:.1f}x our time) - {peer['work']}"
        )
        lines.append(_same_images_line(peer, result["ours_peer_images_s"]))
    return "\n".join(lines)


def _same_images_line(peer: dict[str, Any], same: dict[str, float]) -> str:
    """Ours on the peer's images and work (Insertion from 0 as torchcam), tuned and as a first call."""
    n, names = peer["n_images"], peer["compare_with"]
    tuned = sum(same[k] for k in names) / n
    first = sum(same[f"{k}_first_call"] for k in names) / n
    per_image = peer["seconds"] / n
    return (
        f"    same {n} images and baselines: ours {tuned * 1e3:.1f} ms per image ({per_image / tuned:.1f}x), "
        f"{first * 1e3:.1f} ms as the first call on a new model, batch size measured ({per_image / first:.1f}x)"
    )
