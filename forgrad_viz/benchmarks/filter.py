"""Benchmark of :func:`forgrad_viz.filters.forgrad` with many cutoffs against its baselines and its floor.

Everything runs in the same process on the same seeded attributions ``(n_maps, 3, size, size)`` float32 and the
cutoffs :func:`~forgrad_viz.filters.default_cutoffs` ``(size, size, n_cutoffs)``, ideal mask. Timed: the fastest of
``repeats`` runs (other work on the machine only ever adds time), after one untimed warm-up run of the torch paths;
the paths take turns (one run of each per round), so that a machine whose speed drifts during the benchmark moves
them alike:

* ``forgrad``: one call with all the cutoffs (one forward FFT, every output held: ``(S, N, H, W)``).
* ``iter_forgrad``: :func:`~forgrad_viz.filters.iter_forgrad` with ``chunk_size`` cutoffs per chunk, each chunk
  dropped once produced (the low-memory path).
* ``separate_calls``: ``n_cutoffs`` separate ``forgrad`` calls (a forward FFT per cutoff), outputs held.
* ``numpy_loop``: what the reference implementation (Xplique) does, one call per cutoff, written here with
  ``np.fft``: channel mean, abs, ``rfft2``, binary mask (a centred disc, ``fftshift``-ed, half kept),
  ``irfft2``, abs; outputs held. Runs on the CPU whatever ``device`` is.
* ``floor``: the bare FFT work on the already averaged absolute maps: one ``torch.fft.rfft2`` then, per cutoff,
  the mask multiply and one batched ``irfft2`` written into a preallocated output. Mask multiply included;
  channel mean, both absolute values and input validation excluded.
* ``floor_tiled``: the same FFT work as ``floor``, with the inverse transforms run in tiles of 8 maps (one
  cutoff at a time) so that each tile stays in cache, which is what ``forgrad`` does on the CPU. This is the
  tighter floor on the CPU; on CUDA the two floors are about the same.

Memory: the peak resident memory of the process above its level before each call (sampled every 2 ms from
``/proc/self/statm``; 0 where that file does not exist) on the CPU, ``torch.cuda.max_memory_allocated`` above the
level before the call on CUDA. Measured in one more run of each path after the timed ones (the sampling thread
would otherwise take time slices from the timed work).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from forgrad_viz._utils import check_positive_int, iter_chunks
from forgrad_viz.filters import default_cutoffs, forgrad, frequency_mask, iter_forgrad

__all__ = ["format_report", "run"]

_FLOOR_TILE = 8


class _PeakRSS:
    """Context manager sampling this process's resident memory in a thread; ``peak`` is the rise in bytes."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        try:
            with open("/proc/self/statm") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss() - self.start)

    def __enter__(self) -> _PeakRSS:
        self.start = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss() - self.start, 0)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(function: Callable[[], Any], device: torch.device) -> float:
    """Seconds of one run of ``function`` (its result dropped)."""
    start = time.perf_counter()
    result = function()
    _synchronize(device)
    seconds = time.perf_counter() - start
    del result
    return seconds


def _peak_bytes(function: Callable[[], Any], device: torch.device) -> int:
    """Peak memory rise of one run of ``function``: resident memory on the CPU, allocated memory on CUDA.

    Measured in a run of its own: the sampling thread wakes every 2 ms and would take time slices from timed work.
    """
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with _PeakRSS() as monitor:
        result = function()
        _synchronize(device)
    del result
    return torch.cuda.max_memory_allocated(device) - base if device.type == "cuda" else monitor.peak


def _measure_interleaved(
    paths: dict[str, Callable[[], Any]], repeats: int, devices: dict[str, torch.device], warmup: list[str]
) -> tuple[dict[str, float], dict[str, int]]:
    """Fastest seconds of every path and its peak memory rise.

    The paths take turns, one run each per round (``repeats`` rounds after one warm-up run of those in
    ``warmup``), so that a machine that drifts in speed during the benchmark moves every path alike and the ratios
    between them stay fair. Memory comes from one more run of each path, after the timed rounds.
    """
    for name in warmup:
        _seconds(paths[name], devices[name])
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, function in paths.items():
            times[name].append(_seconds(function, devices[name]))
    seconds = {name: min(values) for name, values in times.items()}
    peaks = {name: _peak_bytes(function, devices[name]) for name, function in paths.items()}
    return seconds, peaks


def _numpy_loop(attributions: np.ndarray, cutoffs: np.ndarray) -> list[np.ndarray]:
    """The reference implementation's algorithm, one call per cutoff, in numpy (square maps)."""
    size = attributions.shape[-1]
    y_grid, x_grid = np.ogrid[:size, :size]
    centred = np.hypot(y_grid - size // 2, x_grid - size // 2)
    outputs = []
    for cutoff in cutoffs:
        maps = np.abs(attributions.mean(axis=1))
        mask = np.fft.fftshift(centred <= cutoff)[:, : size // 2 + 1].astype(maps.dtype)
        filtered = np.fft.irfft2(np.fft.rfft2(maps) * mask, s=maps.shape[-2:])
        outputs.append(np.abs(filtered).astype(attributions.dtype))
    return outputs


def _floor(maps: torch.Tensor, masks: torch.Tensor, tile: int | None = None) -> torch.Tensor:
    """One rfft2, then per cutoff the mask multiply and batched irfft2 into a preallocated output.

    The inverse transforms of one cutoff run on all maps at once, or in tiles of ``tile`` maps.
    """
    height, width = maps.shape[-2:]
    spectrum = torch.fft.rfft2(maps)
    out = maps.new_empty((masks.shape[0], *maps.shape))
    parts = [slice(None)] if tile is None else list(iter_chunks(maps.shape[0], tile))
    for index in range(masks.shape[0]):
        for part in parts:
            torch.fft.irfft2(spectrum[part] * masks[index], s=(height, width), out=out[index, part])
    return out


def _consume_chunks(attributions: torch.Tensor, cutoffs: np.ndarray, chunk_size: int) -> None:
    for _, chunk in iter_forgrad(attributions, cutoffs, chunk_size=chunk_size):
        del chunk


def run(
    n_maps: int = 256,
    size: int = 224,
    n_cutoffs: int = 32,
    repeats: int = 10,
    device: str = "cpu",
    seed: int = 0,
    chunk_size: int = 8,
    include_numpy: bool = True,
    threads: int | None = None,
) -> dict[str, Any]:
    """Time ``forgrad`` with many cutoffs against separate calls, a numpy per-cutoff loop and the FFT floor.

    Parameters
    ----------
    n_maps : int
        Number of attribution maps N (each ``3 x size x size``, float32, standard normal, seeded).
    size : int
        Map height and width in pixels (>= 2).
    n_cutoffs : int
        Number of cutoffs S (log-spaced from 1 to the corner radius), >= 2.
    repeats : int
        Timed runs per path (10: on a shared virtual machine single runs of the same work vary by up to 2x);
        the fastest is reported.
    device : str
        Torch device of the torch paths (``"cpu"``, ``"cuda"``, ...). The numpy loop always runs on the CPU.
    seed : int
        Seed of the attributions.
    chunk_size : int
        Cutoffs per chunk for the ``iter_forgrad`` path.
    include_numpy : bool
        Also time the numpy per-cutoff loop (the slowest path).
    threads : int, optional
        Torch CPU threads for the run (restored afterwards); torch's current setting by default. On a machine
        shared with other work, ``threads=1`` gives steadier numbers: multi-threaded small FFTs slow down badly
        when the cores are oversubscribed. (numpy's FFT is single-threaded either way.)

    Returns
    -------
    dict
        ``params`` (the arguments, ``threads``, ``device_name``), ``seconds`` and ``peak_bytes`` per path (keys
        ``forgrad``, ``iter_forgrad``, ``separate_calls``, ``numpy_loop``, ``floor``, ``floor_tiled``),
        ``output_bytes`` (size of the ``(S, N, H, W)`` result) and ``ratios``: ``forgrad_over_floor``,
        ``forgrad_over_floor_tiled``, ``iter_forgrad_over_forgrad``, ``separate_calls_over_forgrad`` and
        ``numpy_loop_over_forgrad``.

    Examples
    --------
    >>> result = run(n_maps=4, size=32, n_cutoffs=4, repeats=1)
    >>> sorted(result["ratios"])[:2]
    ['forgrad_over_floor', 'forgrad_over_floor_tiled']
    """
    for value, name in ((n_maps, "n_maps"), (repeats, "repeats"), (chunk_size, "chunk_size")):
        check_positive_int(value, name)
    check_positive_int(size, "size", minimum=2)
    check_positive_int(n_cutoffs, "n_cutoffs", minimum=2)
    previous = torch.get_num_threads()
    torch.set_num_threads(previous if threads is None else check_positive_int(threads, "threads"))
    try:
        return _run(n_maps, size, n_cutoffs, repeats, torch.device(device), seed, chunk_size, include_numpy)
    finally:
        torch.set_num_threads(previous)


def _run(
    n_maps: int,
    size: int,
    n_cutoffs: int,
    repeats: int,
    target: torch.device,
    seed: int,
    chunk_size: int,
    include_numpy: bool,
) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    attributions = torch.randn(n_maps, 3, size, size, generator=generator).to(target)
    cutoffs = default_cutoffs(size, size, n_cutoffs)
    maps = attributions.mean(dim=1).abs()
    masks = frequency_mask(size, size, cutoffs, device=target)
    paths: dict[str, Callable[[], Any]] = {
        "forgrad": lambda: forgrad(attributions, cutoffs),
        "iter_forgrad": lambda: _consume_chunks(attributions, cutoffs, chunk_size),
        "separate_calls": lambda: [forgrad(attributions, float(cutoff)) for cutoff in cutoffs],
        "floor": lambda: _floor(maps, masks),
        "floor_tiled": lambda: _floor(maps, masks, _FLOOR_TILE),
    }
    devices = dict.fromkeys(paths, target)
    if include_numpy:
        host = attributions.cpu().numpy()
        paths["numpy_loop"] = lambda: _numpy_loop(host, cutoffs)
        devices["numpy_loop"] = torch.device("cpu")
    seconds, peaks = _measure_interleaved(
        paths, repeats, devices, warmup=[name for name in paths if name != "numpy_loop"]
    )
    ratios = {
        "forgrad_over_floor": seconds["forgrad"] / seconds["floor"],
        "forgrad_over_floor_tiled": seconds["forgrad"] / seconds["floor_tiled"],
        "iter_forgrad_over_forgrad": seconds["iter_forgrad"] / seconds["forgrad"],
        "separate_calls_over_forgrad": seconds["separate_calls"] / seconds["forgrad"],
    }
    if include_numpy:
        ratios["numpy_loop_over_forgrad"] = seconds["numpy_loop"] / seconds["forgrad"]
    params = {
        "n_maps": n_maps,
        "size": size,
        "n_cutoffs": n_cutoffs,
        "repeats": repeats,
        "device": str(target),
        "seed": seed,
        "chunk_size": chunk_size,
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name(target) if target.type == "cuda" else "cpu",
    }
    output_bytes = n_cutoffs * n_maps * size * size * attributions.element_size()
    return {
        "params": params,
        "seconds": seconds,
        "peak_bytes": peaks,
        "output_bytes": output_bytes,
        "ratios": ratios,
    }


_LABELS = {
    "forgrad": "forgrad, all cutoffs in one call",
    "iter_forgrad": "iter_forgrad, chunks dropped",
    "separate_calls": "one forgrad call per cutoff",
    "numpy_loop": "numpy per-cutoff loop (Xplique)",
    "floor": "floor: rfft2 + S x (mask, irfft2)",
    "floor_tiled": "floor, irfft2 in tiles of 8 maps",
}


def format_report(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`run`'s result: seconds, peak memory and ratios.

    Examples
    --------
    >>> print(format_report(run(n_maps=2, size=16, n_cutoffs=3, repeats=1)))  # doctest: +ELLIPSIS
    forgrad filter benchmark: 2 maps of 16 x 16, 3 cutoffs, ...
    """
    params = result["params"]
    lines = [
        f"forgrad filter benchmark: {params['n_maps']} maps of {params['size']} x {params['size']}, "
        f"{params['n_cutoffs']} cutoffs, ideal mask, float32, device {params['device']} ({params['device_name']}), "
        f"{params['threads']} threads, fastest of {params['repeats']}",
        f"output (S, N, H, W): {result['output_bytes'] / 2**30:.2f} GiB",
        f"{'path':<40} {'seconds':>9} {'peak GiB':>9}",
    ]
    for name, label in _LABELS.items():
        if name in result["seconds"]:
            seconds, peak = result["seconds"][name], result["peak_bytes"][name]
            lines.append(f"{label:<40} {seconds:>9.3f} {peak / 2**30:>9.2f}")
    ratios = result["ratios"]
    lines.append(f"forgrad / floor                 {ratios['forgrad_over_floor']:.2f}x")
    lines.append(f"forgrad / floor (tiled)         {ratios['forgrad_over_floor_tiled']:.2f}x")
    lines.append(f"iter_forgrad / forgrad          {ratios['iter_forgrad_over_forgrad']:.2f}x")
    lines.append(f"separate calls / forgrad        {ratios['separate_calls_over_forgrad']:.2f}x")
    if "numpy_loop_over_forgrad" in ratios:
        lines.append(f"numpy loop (Xplique) / forgrad  {ratios['numpy_loop_over_forgrad']:.2f}x")
    return "\n".join(lines)
