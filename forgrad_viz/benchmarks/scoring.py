"""The scoring forward passes at each precision and backend (``forgrad-viz bench scoring``).

``run()`` measures, in one process, on one model and one set of images:

1. **Speed and agreement.** The forward pass in ms per image at each batch size, for each contender: PyTorch fp32
   (the model as loaded, and a copy in the other memory format: channels-last for an NCHW model, NCHW for a
   channels-last one such as :func:`~forgrad_viz.models.load_pretrained`'s), PyTorch bf16 autocast, ONNX Runtime fp32 (and fp16 autocast
   on CUDA), plus ``torch.compile`` fp32 when asked (its compile time is reported apart). The contenders take
   turns, round after round, and each keeps its fastest round, so that a drift in the machine's speed (other
   processes) moves them alike; ratios are against PyTorch fp32 of the same run. Each contender's logits are
   compared with fp32's on the same batches: largest |logit difference|, largest |softmax probability
   difference| and top-1 agreement. On a CPU without native bf16 (no AVX-512 BF16 or AMX) bf16 is emulated and
   20-40x slower than fp32, so it runs one batch of the smallest size in ``bf16_rounds`` rounds only.
2. **Batch composition.** Whether a row's logits depend on the batch it is in: every image scored at batch sizes
   1, 8 and 32 (rows of the repeated image list), compared bit for bit with batch size 1.
3. **Load that arrives mid-run.** A sweep-like loop of :func:`~forgrad_viz.metrics.insertion` calls runs for
   ``load_seconds`` on the machine as it is ("idle"), then ``busy`` busy processes start
   (:func:`~forgrad_viz.benchmarks.load.busy_processes`) and the same loop goes on for ``load_seconds`` more;
   rate under load / idle rate (forward passes per second) for PyTorch fp32 and ONNX Runtime, taking turns, the
   fastest of ``load_rounds`` rounds each; whether the scores under load are the same bits as the idle ones; and
   each backend's idle rate against PyTorch's.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from forgrad_viz._utils import check_positive_int
from forgrad_viz.benchmarks.load import busy_processes

__all__ = ["format_report", "run"]

#: The contender every ratio is against.
BASELINE = "torch fp32"
#: Batch sizes of the batch-composition check.
COMPOSITION_SIZES = (1, 8, 32)


@dataclasses.dataclass
class _Contender:
    """A forward pass to time: at which batch sizes, in how many rounds, one batch or the whole image list."""

    name: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    sizes: tuple[int, ...]
    rounds: int
    whole: bool = True


def _load(name: str, device: torch.device) -> tuple[nn.Module, Callable[[Any], torch.Tensor]]:
    """A pretrained or demo model and its image transform; a clear error for any other name."""
    from forgrad_viz.models import DEMO_MODELS, PRETRAINED_MODELS, ImageTransform, load_demo, load_pretrained

    if name in PRETRAINED_MODELS:
        model, transform = load_pretrained(name, device=device)
        return model, transform
    if name in DEMO_MODELS:
        return load_demo(name, device=device), ImageTransform(64, 64)
    raise ValueError(f"model must be one of {[*PRETRAINED_MODELS, *DEMO_MODELS]}; got {name!r}")


def _images(
    name: str, folder: str | os.PathLike | None, transform: Callable, n_images: int
) -> tuple[torch.Tensor, str]:
    """``n_images`` inputs and where they came from: the folder's first photographs (the model's transform),
    else scikit-image photographs (pretrained models) or shapes images (demo models), repeated as needed."""
    from forgrad_viz.data import sample_images, shapes_dataset
    from forgrad_viz.image_folder import ImageFolderDataset
    from forgrad_viz.models import PRETRAINED_MODELS

    if folder is not None:
        dataset = ImageFolderDataset(folder, transform, max_images=n_images)
        images = torch.stack([dataset[i][0] for i in range(len(dataset))])
        source = f"{len(dataset)} photographs of {Path(folder).name}"
    elif name in PRETRAINED_MODELS:
        images, names = sample_images(size=PRETRAINED_MODELS[name].crop_size)
        source = f"{len(names)} scikit-image photographs"
    else:
        images, source = shapes_dataset(n_images, seed=0).images, "shapes images"
    return images[torch.arange(n_images) % images.shape[0]], source


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _passes(forward: Callable, batches: list[torch.Tensor]) -> tuple[float, torch.Tensor]:
    """Seconds of ``forward`` over ``batches`` and the logits, rows in order."""
    start = time.perf_counter()
    with torch.no_grad():
        outputs = [forward(batch) for batch in batches]
    _sync(batches[0].device)
    return time.perf_counter() - start, torch.cat(outputs).float().cpu()


def _channels_last(model: nn.Module) -> bool:
    """Whether the model's convolution weights are stored channels-last (a 1 x 1 kernel is both formats).

    Examples
    --------
    >>> conv = nn.Conv2d(3, 4, 3)
    >>> _channels_last(conv), _channels_last(conv.to(memory_format=torch.channels_last))
    (False, True)
    """
    weights = [p for p in model.parameters() if p.dim() == 4]
    return any(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in weights)


def _contenders(
    model: nn.Module, device: torch.device, sizes: tuple[int, ...], rounds: int, bf16_rounds: int | None
) -> list[_Contender]:
    from forgrad_viz.scoring import scoring_model
    from forgrad_viz.scoring.autocast import native_cpu_bf16

    other_format = torch.contiguous_format if _channels_last(model) else torch.channels_last
    other = copy.deepcopy(model).to(memory_format=other_format)
    contenders = [
        _Contender(BASELINE, model, sizes, rounds),
        _Contender(
            f"torch fp32 {'NCHW' if other_format is torch.contiguous_format else 'channels-last'}",
            lambda x: other(x.contiguous(memory_format=other_format)),
            sizes,
            rounds,
        ),
    ]
    emulated = device.type == "cpu" and not native_cpu_bf16()
    bf16 = scoring_model(model, "bf16")
    if emulated:  # 20-40x slower than fp32: one batch of the smallest size
        contenders.append(
            _Contender("torch bf16", bf16, sizes[:1], min(rounds, bf16_rounds or 1), whole=False)
        )
    else:
        contenders.append(_Contender("torch bf16", bf16, sizes, min(rounds, bf16_rounds or rounds)))
    if device.type == "cuda":
        contenders.append(_Contender("torch fp16", scoring_model(model, "fp16"), sizes, rounds))
    else:
        contenders.append(
            _Contender("onnxruntime fp32", scoring_model(model, backend="onnxruntime"), sizes, rounds)
        )
    return contenders


def _speed(
    model: nn.Module,
    images: torch.Tensor,
    sizes: tuple[int, ...],
    rounds: int,
    bf16_rounds: int | None,
    compile: bool,
) -> dict[str, Any]:
    """Table 1: ms per image per contender and batch size (fastest round), setup times, agreement with fp32."""
    n = images.shape[0]
    batches = {
        size: [images[(j * size + torch.arange(size)) % n] for j in range(math.ceil(n / size))]
        for size in sizes
    }
    contenders = _contenders(model, images.device, sizes, rounds, bf16_rounds)
    setup_s: dict[str, float] = {}
    errors: dict[str, str] = {}
    if compile:
        try:
            compiled = torch.compile(model)
            for size in sizes:  # the first call of each batch shape compiles
                setup_s[f"torch.compile fp32, batch {size}"] = _passes(compiled, batches[size][:1])[0]
            contenders.append(_Contender("torch.compile fp32", compiled, sizes, rounds))
        except Exception as error:  # inductor raises many types; any of them means "cannot compile here"
            errors["torch.compile fp32"] = f"{type(error).__name__}: {str(error).strip().splitlines()[:1]}"
    for contender in contenders:  # warm-up (the ONNX export, oneDNN kernels) outside the timed rounds
        first = contender.sizes[0]
        warm = batches[first][0] if contender.whole else batches[first][0][:1]
        setup_s.setdefault(contender.name, _passes(contender.forward, [warm])[0])
    best: dict[str, dict[int, float]] = {c.name: {} for c in contenders}
    logits: dict[str, dict[int, torch.Tensor]] = {c.name: {} for c in contenders}
    for round_ in range(rounds):
        for size in sizes:
            for contender in contenders:
                if size not in contender.sizes or round_ >= contender.rounds:
                    continue
                timed = batches[size] if contender.whole else batches[size][:1]
                seconds, out = _passes(contender.forward, timed)
                per_image = 1000 * seconds / (len(timed) * size)
                best[contender.name][size] = min(best[contender.name].get(size, math.inf), per_image)
                logits[contender.name][size] = out
    ratio = {
        name: {size: ms / best[BASELINE][size] for size, ms in by_size.items()}
        for name, by_size in best.items()
    }
    agreement = {name: _agreement(logits[BASELINE], by_size) for name, by_size in logits.items()}
    return {
        "ms_per_image": best,
        "ratio_to_fp32": ratio,
        "setup_s": setup_s,
        "errors": errors,
        "agreement": agreement,
    }


def _agreement(reference: dict[int, torch.Tensor], candidate: dict[int, torch.Tensor]) -> dict[str, float]:
    """Largest |logit| and |probability| differences and top-1 agreement against fp32 on the same rows."""
    logit, probability, agree, rows = 0.0, 0.0, 0, 0
    for size, out in candidate.items():
        ref = reference[size][: out.shape[0]]
        logit = max(logit, float((out - ref).abs().max()))
        probability = max(probability, float((out.softmax(1) - ref.softmax(1)).abs().max()))
        agree += int((out.argmax(1) == ref.argmax(1)).sum())
        rows += out.shape[0]
    return {"max_logit_diff": logit, "max_probability_diff": probability, "top1_agree": agree, "rows": rows}


def _composition(forward: Callable, images: torch.Tensor) -> dict[str, Any]:
    """Each row's logits at every batch size of :data:`COMPOSITION_SIZES` against batch size 1, bit for bit."""
    rows = images[torch.arange(max(COMPOSITION_SIZES)) % images.shape[0]]
    by_size = {size: _passes(forward, list(rows.split(size)))[1] for size in COMPOSITION_SIZES}
    single = by_size[COMPOSITION_SIZES[0]]
    return {
        "bit_identical": all(torch.equal(single, out) for out in by_size.values()),
        "max_diff": max(float((single - out).abs().max()) for out in by_size.values()),
        "sizes": list(COMPOSITION_SIZES),
    }


def _phase(score: Callable[[], Any], seconds: float) -> tuple[float, int, list]:
    """Calls of ``score()`` until ``seconds`` have passed (at least two): elapsed seconds, calls, scores."""
    start, scores = time.perf_counter(), []
    while len(scores) < 2 or time.perf_counter() - start < seconds:
        scores.append(score())
    return time.perf_counter() - start, len(scores), scores


def _under_load(
    model: nn.Module, images: torch.Tensor, steps: int, seconds: float, busy: int, rounds: int
) -> dict[str, Any]:
    """Table 2: insertion calls idle, then with ``busy`` busy processes started mid-run, per backend."""
    from forgrad_viz.metrics import insertion

    maps = torch.rand(images.shape[0], *images.shape[-2:], generator=torch.Generator().manual_seed(0))
    backends = ["torch"] if images.device.type != "cpu" else ["torch", "onnxruntime"]
    calls = {b: (lambda b=b: insertion(model, images, maps, steps=steps, backend=b).scores) for b in backends}
    passes = images.shape[0] * (steps + 1)
    for score in calls.values():
        score()  # warm-up: the export, the kernels
    rows: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):
        for backend, score in calls.items():
            idle_s, idle_calls, idle_scores = _phase(score, seconds)
            with busy_processes(busy):  # started while the run goes on: no pause, no warm-up
                loaded_s, loaded_calls, loaded_scores = _phase(score, seconds)
            idle_rate, loaded_rate = passes * idle_calls / idle_s, passes * loaded_calls / loaded_s
            same = all(np.array_equal(idle_scores[0], s) for s in idle_scores + loaded_scores)
            kept = rows.get(backend)
            rows[backend] = {
                "idle_passes_per_s": max(idle_rate, kept["idle_passes_per_s"] if kept else 0.0),
                "loaded_passes_per_s": max(loaded_rate, kept["loaded_passes_per_s"] if kept else 0.0),
                "same_numbers": same and (kept is None or kept["same_numbers"]),
                "calls": (kept["calls"] if kept else []) + [[idle_calls, loaded_calls]],
            }
    for row in rows.values():
        row["loaded_over_idle"] = row["loaded_passes_per_s"] / row["idle_passes_per_s"]
        row["idle_time_vs_torch"] = rows["torch"]["idle_passes_per_s"] / row["idle_passes_per_s"]
    return {
        "busy": busy,
        "steps": steps,
        "n_images": images.shape[0],
        "passes_per_call": passes,
        "rows": rows,
    }


def run(
    model: str = "efficientnet_lite0",
    images: str | os.PathLike | None = None,
    n_images: int = 32,
    batch_sizes: tuple[int, ...] = (8, 32),
    repeats: int = 3,
    bf16_rounds: int | None = None,
    compile: bool = False,
    busy: int = 1,
    load_images: int = 8,
    load_steps: int = 8,
    load_seconds: float = 8.0,
    load_rounds: int = 1,
    device: str = "cpu",
) -> dict[str, Any]:
    """Time the scoring forward passes per precision and backend, their agreement, and their rate under load.

    Parameters
    ----------
    model : str
        A pretrained model (``"efficientnet_lite0"``: 224 x 224) or a demo model (64 x 64).
    images : str or path, optional
        A folder of photographs (the first ``n_images``, through the model's transform); default: scikit-image
        photographs (pretrained) or shapes images (demo), repeated up to ``n_images``.
    n_images : int
        Images each timing scores (the batch size's share of them at a time).
    batch_sizes : tuple of int
        Batch sizes of table 1.
    repeats : int
        Rounds of table 1; each contender keeps its fastest.
    bf16_rounds : int, optional
        Rounds of bf16 (default: all on native bf16; one batch in one round where bf16 is emulated).
    compile : bool
        Also time ``torch.compile`` fp32 (compile time reported apart).
    busy : int
        Busy processes started mid-run in table 2 (``--load K``).
    load_images, load_steps, load_seconds, load_rounds : int, int, float, int
        Table 2's insertion calls (images, steps), the seconds of each phase and the rounds.
    device : str
        Torch device (ONNX Runtime runs on the CPU only).

    Returns
    -------
    dict
        ``settings``, ``ms_per_image`` and ``ratio_to_fp32`` (contender -> batch size -> value), ``setup_s``,
        ``errors``, ``agreement``, ``batch_composition`` and ``load``.

    Examples
    --------
    >>> result = run("maxpool_cnn", n_images=4, batch_sizes=(2,), repeats=1, load_seconds=0.1)  # doctest: +SKIP
    >>> result["ratio_to_fp32"]["torch fp32"]  # doctest: +SKIP
    {2: 1.0}
    """
    for value, name in (
        (n_images, "n_images"),
        (repeats, "repeats"),
        (busy, "busy"),
        (load_images, "load_images"),
        (load_steps, "load_steps"),
        (load_rounds, "load_rounds"),
    ):
        check_positive_int(value, name)
    if bf16_rounds is not None:
        check_positive_int(bf16_rounds, "bf16_rounds")
    if not batch_sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in batch_sizes):
        raise ValueError(f"batch_sizes must be positive integers; got {batch_sizes!r}")
    if not isinstance(load_seconds, (int, float)) or load_seconds <= 0:
        raise ValueError(f"load_seconds must be a positive number; got {load_seconds!r}")
    from forgrad_viz.scoring.autocast import native_cpu_bf16

    torch_device = torch.device(device)
    net, transform = _load(model, torch_device)
    inputs, source = _images(model, images, transform, n_images)
    inputs = inputs.to(torch_device)
    sizes = tuple(sorted(set(batch_sizes)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bf16's "emulated here" warning: the report says it
        speed = _speed(net, inputs, sizes, repeats, bf16_rounds, compile)
    from forgrad_viz.scoring import scoring_model

    composition = {BASELINE: _composition(net, inputs)}
    if torch_device.type == "cpu":
        composition["onnxruntime fp32"] = _composition(scoring_model(net, backend="onnxruntime"), inputs)
    load = _under_load(net, inputs[:load_images], load_steps, float(load_seconds), busy, load_rounds)
    settings = {
        "model": model,
        "images": source,
        "image_size": list(inputs.shape[-2:]),
        "n_images": n_images,
        "batch_sizes": list(sizes),
        "repeats": repeats,
        "device": str(torch_device),
        "threads": torch.get_num_threads(),
        "memory_format": "channels-last" if _channels_last(net) else "NCHW",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
        "native_bf16": torch_device.type != "cpu" or native_cpu_bf16(),
        "cores": os.cpu_count(),
    }
    return {"settings": settings, **speed, "batch_composition": composition, "load": load}


def format_report(result: dict[str, Any]) -> str:
    """Tables 1 and 2 and the batch-composition check as text.

    Examples
    --------
    >>> result = run("maxpool_cnn", n_images=4, batch_sizes=(2,), repeats=1, load_seconds=0.1)  # doctest: +SKIP
    >>> format_report(result).splitlines()[0]  # doctest: +SKIP
    'forgrad-viz bench scoring: model=maxpool_cnn, ...'
    """
    settings, sizes = result["settings"], result["settings"]["batch_sizes"]
    lines = ["forgrad-viz bench scoring: " + ", ".join(f"{k}={v}" for k, v in settings.items())]
    lines.append(
        f"1. forward pass, ms per image (fastest of {settings['repeats']} rounds, contenders in turns; "
        f"x = time / {BASELINE}'s at the same batch size)"
    )
    lines.append(
        f"  {'contender':<26}"
        + "".join(f"{'batch ' + str(s):>18}" for s in sizes)
        + f"{'setup s':>9}{'max|dlogit|':>13}{'max|dprob|':>12}{'top-1':>9}"
    )
    for name, by_size in result["ms_per_image"].items():
        cells = [
            f"{by_size[s]:8.2f} ({result['ratio_to_fp32'][name][s]:.2f}x)" if s in by_size else "-"
            for s in sizes
        ]
        agreement = result["agreement"][name]
        lines.append(
            f"  {name:<26}"
            + "".join(f"{c:>18}" for c in cells)
            + f"{result['setup_s'].get(name, 0.0):9.2f}{agreement['max_logit_diff']:13.2e}"
            + f"{agreement['max_probability_diff']:12.2e}{agreement['top1_agree']:>5}/{agreement['rows']:<3}"
        )
    for name, seconds in result["setup_s"].items():
        if name.startswith("torch.compile fp32, "):
            lines.append(f"  torch.compile: first call (compiling) at {name.split(', ')[1]}: {seconds:.1f} s")
    for name, error in result["errors"].items():
        lines.append(f"  {name}: failed here ({error})")
    if not settings["native_bf16"]:
        lines.append(
            "  bf16 is emulated on this CPU (no AVX-512 BF16/AMX): one batch of the smallest size only"
        )
    lines.append(
        f"2. batch composition: each row's logits at batch sizes {COMPOSITION_SIZES} against batch size 1"
    )
    for name, check in result["batch_composition"].items():
        verdict = "bit-identical" if check["bit_identical"] else f"differ, up to {check['max_diff']:.2e}"
        lines.append(f"  {name:<26} {verdict}")
    load = result["load"]
    lines.append(
        f"3. load arriving mid-run: insertion on {load['n_images']} images, {load['steps']} steps "
        f"({load['passes_per_call']} passes per call), idle then {load['busy']} busy process(es) started mid-run"
    )
    lines.append(
        f"  {'backend':<14}{'idle pass/s':>12}{'loaded pass/s':>15}{'loaded/idle':>13}"
        f"{'idle time / torch':>19}{'same numbers':>14}  calls (idle, loaded) per round"
    )
    for backend, row in load["rows"].items():
        lines.append(
            f"  {backend:<14}{row['idle_passes_per_s']:12.1f}{row['loaded_passes_per_s']:15.1f}"
            f"{row['loaded_over_idle']:13.2f}{row['idle_time_vs_torch']:19.2f}{row['same_numbers']!s:>14}"
            f"  {row['calls']}"
        )
    return "\n".join(lines)
