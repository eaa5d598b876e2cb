"""Benchmark of a cutoff sweep: its time against the forward-pass floor, and against per-cutoff baselines.

``run()`` times, in one process on the same model, images, cutoffs and protocol:

- ``sweep``: :func:`forgrad_viz.sweep.sweep_cutoffs` with Deletion, Insertion and MuFidelity;
- ``floor``: the same number of forward passes as the sweep made, at the model's best measured batch size (the
  least time any implementation needs), timed in full; ``efficiency = floor / sweep`` (1 is perfect). The sweep
  and the floor are timed in turns, after a warm-up sweep, so that a drift in the machine's speed moves both alike;
- ``naive``: the way a sweep is written without shared work: :func:`~forgrad_viz.metrics.deletion`,
  :func:`~forgrad_viz.metrics.insertion` and :func:`~forgrad_viz.metrics.mufidelity` called once per cutoff
  (endpoints and MuFidelity's perturbed predictions recomputed every time);
- ``torchcam``: torchcam's ``DeletionInsertionMetric`` run once per cutoff on the FORGrad maps (its Deletion and
  Insertion both start from a zero baseline; our sweep is timed with the same baselines for this comparison);
- ``quantus``: Quantus' ``PixelFlipping`` (Deletion) and ``FaithfulnessCorrelation`` (Bhatt et al.'s
  MuFidelity, random pixel subsets) once per cutoff, against our sweep of Deletion and MuFidelity.

Peer libraries are optional (``pip install forgrad-viz[bench]``); a missing one is reported as "not installed".
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["format_report", "run"]

#: Input values each batch size of the floor runs (512 images of 3 x 64 x 64; 40 photographs at 224 x 224).
_FLOOR_ELEMENTS = 512 * 3 * 64 * 64


def _importable(name: str) -> bool:
    """Whether a peer library imports (a missing one, or one that fails to import, counts as not installed)."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def _model(name: str, device: torch.device) -> torch.nn.Module:
    from forgrad_viz.models import PRETRAINED_MODELS, build_demo_model, load_demo, load_pretrained

    if name in PRETRAINED_MODELS:
        return load_pretrained(name, device=device)[0]
    try:
        return load_demo(name, device=device)
    except FileNotFoundError:
        torch.manual_seed(0)
        return build_demo_model(name).to(device).eval()


def _images(name: str, n_images: int, device: torch.device) -> torch.Tensor:
    """Shapes images (64 x 64) for a demo model; scikit-image photographs, repeated as needed, for a pretrained one."""
    from forgrad_viz.data import sample_images, shapes_dataset
    from forgrad_viz.models import PRETRAINED_MODELS

    if name not in PRETRAINED_MODELS:
        return shapes_dataset(n_images, seed=12345).images.to(device)
    photos, _ = sample_images(size=PRETRAINED_MODELS[name].crop_size)
    return photos[torch.arange(n_images) % photos.shape[0]].to(device)


def _best_batch_size(model: torch.nn.Module, images: torch.Tensor) -> int:
    """The fastest of a few batch sizes (input values per second) for forward passes of inputs like ``images``.

    The sizes tried include the size the sweep uses on the CPU (:func:`~forgrad_viz._utils.cpu_batch_size` of
    these inputs), the powers of two from a sixteenth of it to four times it, and the CUDA default; each size runs
    about as many input values as 512 images of 3 x 64 x 64 (at least two batches).
    """
    from forgrad_viz._utils import cpu_batch_size, default_batch_size, input_key

    ours = cpu_batch_size(input_key(images))
    sizes = {max(1, ours * 2**k // 16) for k in range(7)} | {default_batch_size(images.device)}
    per_input = images[0].numel()
    best_rate, best_size = 0.0, 1
    with torch.inference_mode():
        for size in sorted(sizes):
            batch = images[torch.arange(size) % images.shape[0]]
            model(batch)
            n = max(2, _FLOOR_ELEMENTS // (size * per_input))
            seconds = _timed(lambda b=batch, r=n: [model(b) for _ in range(r)] and _sync(b))[0]
            if size * n / seconds > best_rate:
                best_rate, best_size = size * n / seconds, size
    return best_size


def _floor(model: torch.nn.Module, images: torch.Tensor, passes: int, batch_size: int) -> float:
    """Seconds of ``passes`` forward passes in batches of ``batch_size`` (the last one smaller), nothing else.

    Timed in full, not extrapolated from a short run: the fastest of several short runs would flatter the floor.
    """
    batch = images[torch.arange(batch_size) % images.shape[0]]
    sizes = [batch_size] * (passes // batch_size) + ([passes % batch_size] if passes % batch_size else [])
    with torch.inference_mode():
        return _timed(lambda: [model(batch[:size]) for size in sizes] and _sync(batch))[0]


def _sync(tensor: torch.Tensor) -> None:
    if tensor.device.type == "cuda":
        torch.cuda.synchronize(tensor.device)


class _MapsExtractor:
    """A torchcam CAM-extractor stand-in that returns precomputed maps (torchcam's extractor protocol)."""

    def __init__(self, model: torch.nn.Module, maps: torch.Tensor) -> None:
        self.model = model
        self.maps = maps

    def __call__(self, class_idx: Any = None, scores: Any = None, normalized: bool = True, **_: Any) -> list:
        return [self.maps]

    @staticmethod
    def fuse_cams(cams: list) -> torch.Tensor:
        return cams[0]

    @staticmethod
    def _hooks_off() -> Any:
        import contextlib

        return contextlib.nullcontext()


def _torchcam(model, images, filtered, steps, batch_size) -> float:
    from torchcam.metrics import DeletionInsertionMetric

    def work() -> None:
        for maps in filtered:
            metric = DeletionInsertionMetric(
                _MapsExtractor(model, maps),
                functools.partial(torch.softmax, dim=-1),
                steps=steps,
                batch_size=batch_size,
            )
            metric.update(images)
            metric.summary()

    with torch.inference_mode():
        return _timed(work)[0]


def _quantus(model, images, targets, filtered, steps, n_subsets, batch_size) -> float:
    import quantus

    x = images.cpu().numpy()
    y = targets.cpu().numpy()
    h, w = images.shape[-2:]
    pixels = (
        h * w
    )  # Quantus needs a step that divides the number of pixels: take the divisor nearest H*W/steps
    step = min((d for d in range(1, pixels + 1) if pixels % d == 0), key=lambda d: abs(d - pixels / steps))
    deletion = quantus.PixelFlipping(features_in_step=step, disable_warnings=True, normalise=False, abs=False)
    correlation = quantus.FaithfulnessCorrelation(
        nr_runs=n_subsets,
        subset_size=max(1, h * w // 5),
        disable_warnings=True,
        normalise=False,
        abs=False,
        return_aggregate=False,
    )

    def work() -> None:
        for maps in filtered:
            a = maps.cpu().numpy()[:, None]
            for metric in (deletion, correlation):
                metric(
                    model=model,
                    x_batch=x,
                    y_batch=y,
                    a_batch=a,
                    softmax=True,
                    device=str(images.device),
                    batch_size=batch_size,
                )

    return _timed(work)[0]


def _naive(model, images, targets, filtered, steps, mufidelity_options) -> float:
    from forgrad_viz.metrics import deletion, insertion, mufidelity

    def work() -> None:
        for maps in filtered:
            deletion(model, images, maps, targets, steps=steps)
            insertion(model, images, maps, targets, steps=steps)
            mufidelity(model, images, maps, targets, **mufidelity_options)

    return _timed(work)[0]


def run(
    device: str = "cpu",
    n_images: int = 16,
    n_cutoffs: int = 12,
    steps: int = 10,
    n_subsets: int = 50,
    model: str = "maxpool_cnn",
    batch_size: int | None = None,
    peers: bool = True,
    repeats: int = 3,
    precision: str = "fp32",
    backend: str = "torch",
) -> dict[str, Any]:
    """Time a sweep, its forward-pass floor and the per-cutoff baselines (see the module docstring).

    Parameters
    ----------
    device : str
        Torch device.
    n_images, n_cutoffs, steps, n_subsets : int
        Images, cutoffs (the default log grid), Deletion/Insertion steps, MuFidelity
        subsets.
    model : str
        A demo model (random weights if its weights are not shipped; shapes images, 64 x 64) or a pretrained
        one of :data:`forgrad_viz.models.PRETRAINED_MODELS` (``"efficientnet_lite0"``: scikit-image
        photographs at its input size, repeated up to ``n_images``).
    batch_size : int, optional
        Forward-pass batch size of every contender (default: each one's own default; 64 for the peers).
    peers : bool
        Time torchcam and Quantus when installed.
    repeats : int
        Rounds, each one timed sweep then one timed floor; the fastest of each counts (load from other processes
        only ever adds time).
    precision, backend : str
        Of the scoring forward passes (:func:`forgrad_viz.scoring.scoring_model`): the sweep and its floor both
        run them so (``backend="onnxruntime"``: the floor is ONNX Runtime's own passes).

    Returns
    -------
    dict
        Settings, seconds per contender, forward passes and ratios (contender time / our time).

    Examples
    --------
    >>> result = run(n_images=2, n_cutoffs=2, steps=2, n_subsets=4, peers=False)  # doctest: +SKIP
    >>> sorted(result["seconds"])  # doctest: +SKIP
    ['floor', 'naive', 'sweep', 'sweep_deletion_insertion_zero_baseline', 'sweep_deletion_mufidelity']
    """
    from forgrad_viz._utils import check_positive_int
    from forgrad_viz.filters import default_cutoffs, forgrad
    from forgrad_viz.scoring import check_scoring_options, scoring_model
    from forgrad_viz.sweep import sweep_cutoffs

    check_positive_int(repeats, "repeats")
    torch_device = torch.device(device)
    check_scoring_options(precision, backend, torch_device)
    net = _model(model, torch_device)
    scorer = scoring_model(net, precision=precision, backend=backend)
    images = _images(model, n_images, torch_device)
    cutoffs = default_cutoffs(*images.shape[-2:], n=n_cutoffs)
    mufi = {"n_subsets": n_subsets}
    common = dict(cutoffs=cutoffs, steps=steps, mufidelity=mufi, batch_size=batch_size, progress=False)
    scored = dict(common, precision=precision, backend=backend)
    seconds: dict[str, float | None] = {}
    # warm-up (CUDA context, cuDNN/oneDNN kernels for every batch shape, ONNX export) so that no contender pays
    sweep_cutoffs(net, images, **scored)
    best_batch = _best_batch_size(scorer, images)
    rounds = []
    for _ in range(
        repeats
    ):  # the sweep and the floor take turns: a drift in the machine's speed moves both alike
        sweep_seconds, sweep = _timed(lambda: sweep_cutoffs(net, images, **scored))
        rounds.append(
            (sweep_seconds, _floor(scorer, images, int(sweep.params["forward_passes"]), best_batch))
        )
    passes = int(sweep.params["forward_passes"])
    seconds["sweep"] = min(sweep_seconds for sweep_seconds, _ in rounds)
    seconds["floor"] = min(floor for _, floor in rounds)
    with torch.no_grad():
        targets = net(images).argmax(dim=1)
    stages, attributions = _stages(net, images, targets, cutoffs, repeats)
    stages["forward passes (floor)"] = seconds["floor"]
    stages["ranking, masks, bookkeeping (the rest)"] = seconds["sweep"] - sum(stages.values())
    filtered = [attributions.mean(dim=1).abs(), *forgrad(attributions, cutoffs)]
    seconds["naive"] = _naive(net, images, targets, filtered, steps, mufi)
    seconds["sweep_deletion_insertion_zero_baseline"], _ = _timed(
        lambda: sweep_cutoffs(
            net, images, metrics=("deletion", "insertion"), insertion_baseline=0.0, **common
        )
    )
    seconds["sweep_deletion_mufidelity"], _ = _timed(
        lambda: sweep_cutoffs(net, images, metrics=("deletion", "mufidelity"), **common)
    )
    installed = {name: _importable(name) for name in ("torchcam", "quantus")}
    peer_batch = batch_size or 64
    seconds["torchcam"] = (
        _torchcam(net, images, filtered, steps, peer_batch) if peers and installed["torchcam"] else None
    )
    seconds["quantus"] = (
        _quantus(net, images, targets, filtered, steps, n_subsets, peer_batch)
        if peers and installed["quantus"]
        else None
    )
    ours = {
        "naive": seconds["sweep"],
        "torchcam": seconds["sweep_deletion_insertion_zero_baseline"],
        "quantus": seconds["sweep_deletion_mufidelity"],
    }
    ratios = {k: (None if seconds[k] is None else seconds[k] / ours[k]) for k in ours}
    return {
        "settings": {
            "device": str(torch_device),
            "model": model,
            "n_images": n_images,
            "n_cutoffs": len(cutoffs),
            "steps": steps,
            "n_subsets": n_subsets,
            "threads": torch.get_num_threads(),
            "floor_batch_size": best_batch,
            "repeats": repeats,
            "precision": precision,
            "backend": backend,
        },
        "installed": installed,
        "forward_passes": passes,
        "forward_passes_by_stage": sweep.params["forward_passes_by_stage"],
        "seconds": seconds,
        "efficiency": seconds["floor"] / seconds["sweep"],
        "stages": stages,
        "slowdown_vs_ours": ratios,
    }


def _stages(
    net: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor, cutoffs: Any, repeats: int
) -> tuple[dict[str, float], torch.Tensor]:
    """Seconds of the sweep's stages that are not forward passes, its attributions and its filter (fastest of
    ``repeats``), and the attributions (the per-cutoff baselines reuse them)."""
    from forgrad_viz.attribution import explain
    from forgrad_viz.filters import forgrad

    explained = [_timed(lambda: explain(net, images, targets)) for _ in range(repeats)]
    attributions = explained[0][1]
    filtered = [
        _timed(lambda: (forgrad(attributions, cutoffs), _sync(attributions)))[0] for _ in range(repeats)
    ]
    return {"attributions": min(t for t, _ in explained), "filter": min(filtered)}, attributions


def format_report(result: dict[str, Any]) -> str:
    """A readable report of :func:`run`'s result.

    Examples
    --------
    >>> report = format_report({"settings": {"device": "cpu"}, "installed": {"torchcam": False},
    ...     "forward_passes": 10, "forward_passes_by_stage": {}, "efficiency": 0.9,
    ...     "seconds": {"sweep": 1.0, "floor": 0.9, "torchcam": None}, "slowdown_vs_ours": {"torchcam": None}})
    >>> "not installed" in report
    True
    """
    s = result["seconds"]
    lines = [
        "forgrad-viz bench sweep: " + ", ".join(f"{k}={v}" for k, v in result["settings"].items()),
        f"  sweep (deletion+insertion+mufidelity): {s['sweep']:.2f} s, {result['forward_passes']} forward passes "
        f"{result['forward_passes_by_stage']}",
        f"  forward-pass floor:                   {s['floor']:.2f} s  -> efficiency floor/sweep = "
        f"{result['efficiency']:.2f}",
    ]
    if "stages" in result:
        lines.append(
            "  the sweep's time by stage: "
            + ", ".join(f"{k} {v:.2f} s ({v / s['sweep']:.0%})" for k, v in result["stages"].items())
        )
    labels = {
        "naive": "naive per-cutoff loop (our metrics)",
        "torchcam": "torchcam DeletionInsertionMetric/cutoff",
        "quantus": "quantus PixelFlipping+FaithfulnessCorr.",
    }
    for key, label in labels.items():
        if key not in result["slowdown_vs_ours"]:
            continue
        ratio = result["slowdown_vs_ours"][key]
        if s.get(key) is None:
            installed = result.get("installed", {}).get(key, True)
            lines.append(f"  {label:<39} {'not installed' if not installed else 'skipped'}")
        else:
            lines.append(f"  {label:<39} {s[key]:.2f} s  -> {ratio:.1f}x our time for the same work")
    return "\n".join(lines)
