"""The maps on display: attributions computed once and cached, their FORGrad maps and radial spectra.

Moving a cutoff only re-filters a cached attribution (:func:`map_array`) and takes its spectrum
(:func:`map_spectrum`), each on one CPU thread: the model is called only for an attribution not yet cached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from forgrad_viz.attribution import explain
from forgrad_viz.filters import forgrad
from forgrad_viz.spectra import radial_spectrum

__all__ = ["AttributionCache", "map_array", "map_spectrum"]


class AttributionCache:
    """Attributions (1, C, H, W) per (model name, method, image index), each computed once with ``explain``.

    Each image is explained on its own, so a map does not depend on which other images were computed before
    (the noise of the stochastic methods is drawn per call from ``seed``).
    """

    def __init__(
        self, method_options: Mapping[str, Mapping[str, Any]], batch_size: int | None, seed: int
    ) -> None:
        self.method_options = method_options
        self.batch_size = batch_size
        self.seed = seed
        self.maps: dict[tuple[str, str, int], torch.Tensor] = {}

    def get(
        self,
        name: str,
        model: nn.Module,
        images: torch.Tensor,
        targets: torch.Tensor,
        method: str,
        index: int,
    ) -> torch.Tensor:
        """The attributions of image ``index`` under ``model`` (cached under ``name``), explained on first call."""
        key = (name, method, index)
        if key not in self.maps:
            self.maps[key] = explain(
                model,
                images[index : index + 1],
                targets[index : index + 1],
                method=method,
                batch_size=self.batch_size,
                seed=self.seed,
                **self.method_options.get(method, {}),
            )
        return self.maps[key]


@contextlib.contextmanager
def _one_cpu_thread() -> Iterator[None]:
    """Run the work of one map (a 2-D FFT) on one CPU thread, then restore torch's thread count.

    Measured at 224 x 224 on a busy 2-core machine: 1.4 ms on one thread, 20-240 ms on two competing threads.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def map_array(attributions: torch.Tensor, cutoff: float | None, kind: str, order: int) -> np.ndarray:
    """The FORGrad map (H, W) of one attribution (1, C, H, W), or the unfiltered one (``cutoff=None``).

    The unfiltered map is the first half of the pipeline: channel mean, absolute value.
    """
    with _one_cpu_thread():
        if cutoff is None:
            maps = attributions.mean(dim=1).abs()
        else:
            maps = forgrad(attributions, cutoff, kind=kind, order=order)
        return maps[0].detach().cpu().numpy()


def map_spectrum(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of one map as float64 arrays (frequencies, power)."""
    with _one_cpu_thread():
        frequencies, power = radial_spectrum(values)
    return np.asarray(frequencies, dtype=np.float64), np.asarray(power, dtype=np.float64)
