"""Radial power spectra of the gradient of the target logit with respect to each downsampling layer's input.

A layer that keeps every ``s``-th sample sends its output gradient back by zero insertion, whose spectrum is the
output gradient's spectrum tiled ``s`` times per axis: replicas of its low frequencies appear around multiples of
``1/s`` cycles per sample. These spectra show them layer by layer (channel-averaged power, averaged over images).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from forgrad_viz._utils import default_batch_size, iter_chunks, preserved_model
from forgrad_viz.spectra import radial_spectrum

__all__ = ["LayerSpectrum", "layer_input_spectra"]


@dataclass
class LayerSpectrum:
    """Radially averaged power spectrum of the gradient at one layer's input.

    Attributes
    ----------
    name : str
        The layer's dotted name.
    size : tuple of int
        ``(H, W)`` of the layer's input.
    frequencies : numpy.ndarray
        ``(K,)`` radius bins in cycles per image *of the layer's input map* (Nyquist is ``min(H, W) / 2``).
    power : torch.Tensor
        ``(K,)`` mean power per DFT bin (as :func:`forgrad_viz.spectra.radial_spectrum` with ``reduce="mean"``),
        averaged over channels and images; on the model's device.
    """

    name: str
    size: tuple[int, int]
    frequencies: np.ndarray
    power: torch.Tensor

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary."""
        return {
            "name": self.name,
            "size": list(self.size),
            "frequencies": self.frequencies.tolist(),
            "power": self.power.detach().cpu().double().tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSpectrum:
        """The inverse of :meth:`to_dict` (power on the CPU, float64)."""
        return cls(
            data["name"],
            tuple(data["size"]),
            np.asarray(data["frequencies"], dtype=np.float64),
            torch.tensor(data["power"], dtype=torch.float64),
        )


def _capture(store: dict[str, torch.Tensor], name: str):
    """Forward pre-hook: route the layer's first input through a differentiable copy and keep it."""

    def hook(_: nn.Module, args: tuple) -> tuple | None:
        if name in store or not args or not isinstance(args[0], torch.Tensor):
            return None
        x = args[0]
        tap = x.clone() if x.requires_grad else x.detach().clone().requires_grad_(True)
        store[name] = tap
        return (tap, *args[1:])

    return hook


def layer_input_spectra(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    names: Sequence[str],
    batch_size: int | None = None,
) -> list[LayerSpectrum]:
    """Gradient spectra of the target logit at the inputs of the layers ``names`` of ``model``.

    One forward and one backward pass per chunk of images give every layer's gradient (``torch.autograd.grad``,
    so no ``.grad`` is written). The hooks are removed and the model's mode restored on exit, whatever happens.
    Run it on a copy of the user's model: the hooks feed the layers a copy of their input.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits ``(N, K)``.
    images : Tensor
        ``(N, C, H, W)`` on the model's device; never modified.
    targets : Tensor
        ``(N,)`` long class indices.
    names : sequence of str
        Dotted names of modules of ``model``, each called with a 4-D map of at least 2 x 2 pixels.
    batch_size : int, optional
        Images per pass (default: the device's default batch size).

    Returns
    -------
    list of LayerSpectrum
        One per name, in order.
    """
    size = batch_size or default_batch_size(images.device)
    sums: dict[str, torch.Tensor] = {}
    sizes: dict[str, tuple[int, int]] = {}
    frequencies: dict[str, np.ndarray] = {}
    handles = []
    with preserved_model(model):
        try:
            store: dict[str, torch.Tensor] = {}
            for name in names:
                handles.append(model.get_submodule(name).register_forward_pre_hook(_capture(store, name)))
            for part in iter_chunks(images.shape[0], size):
                store.clear()
                inputs = images[part].detach().clone().requires_grad_(True)
                with torch.enable_grad():
                    logits = model(inputs)
                    score = logits.gather(1, targets[part].reshape(-1, 1)).sum()
                    taps = [store[name] for name in names]
                    grads = torch.autograd.grad(score, taps, allow_unused=True)
                for name, tap, grad in zip(names, taps, grads, strict=True):
                    grad = torch.zeros_like(tap) if grad is None else grad.detach()
                    freqs, power = radial_spectrum(grad)  # (n, C, K)
                    total = power.mean(dim=1).sum(dim=0)
                    sums[name] = total if name not in sums else sums[name] + total
                    sizes[name], frequencies[name] = tuple(tap.shape[-2:]), freqs
        finally:
            for handle in handles:
                handle.remove()
    n_images = images.shape[0]
    return [LayerSpectrum(name, sizes[name], frequencies[name], sums[name] / n_images) for name in names]
