"""``aliasing()``: which downsampling layers put the high frequencies into a model's attribution maps."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import (
    check_choice,
    check_finite_number,
    check_images,
    check_model,
    check_positive_int,
    forward_logits,
    model_device,
    preserved_model,
    resolve_targets,
)
from forgrad_viz.attribution import METHODS, explain
from forgrad_viz.downsampling.blurpool import antialias
from forgrad_viz.downsampling.discovery import DownsamplingLayer, find_downsampling
from forgrad_viz.downsampling.gradients import layer_input_spectra
from forgrad_viz.downsampling.report import AliasingReport, AliasingRow
from forgrad_viz.spectra import high_frequency_energy

__all__ = ["aliasing", "default_cutoff"]


def default_cutoff(height: int, width: int) -> float:
    """The default cutoff of :func:`aliasing`: ``min(H, W) / 4`` cycles per image, half the Nyquist frequency.

    Examples
    --------
    >>> default_cutoff(64, 64)
    16.0
    """
    return min(height, width) / 4.0


def _resolve_cutoff(cutoff: Any, metric: str | None, height: int, width: int) -> tuple[float, str]:
    """The cutoff in cycles per image and where it came from."""
    if cutoff is None:
        return default_cutoff(height, width), "default: min(H, W) / 4"
    if hasattr(cutoff, "best_cutoff") and hasattr(cutoff, "metrics"):
        chosen = metric if metric is not None else cutoff.metrics[0]
        check_choice(chosen, "metric", tuple(cutoff.metrics))
        return float(cutoff.best_cutoff(chosen).cutoff), f"sigma* of the sweep ({chosen})"
    if metric is not None:
        raise ValueError("metric is only used with cutoff=a CutoffSweep (its sigma* for that metric)")
    return check_finite_number(cutoff, "cutoff", positive=True), "given"


def _check_layers(found: list[DownsamplingLayer], layers: Sequence[str] | None) -> list[DownsamplingLayer]:
    if layers is None:
        return found
    if isinstance(layers, str) or not all(isinstance(name, str) for name in layers):
        raise TypeError("layers must be None or a sequence of layer names (strings)")
    names = [layer.name for layer in found]
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise ValueError(f"layers {unknown} are not downsampling layers of the model; found: {names}")
    return [layer for layer in found if layer.name in layers]


class _Reference:
    """What every intervention is compared with: the original model's predictions and maps."""

    def __init__(self, logits: torch.Tensor, targets: torch.Tensor, hf: torch.Tensor) -> None:
        self.predicted = logits.argmax(dim=1)
        self.probability = logits.softmax(dim=1).gather(1, targets.reshape(-1, 1)).squeeze(1)
        self.targets = targets
        self.hf = hf


def _hf_energy(maps: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Per-image high-frequency energy of the channel-mean absolute map (FORGrad's map before filtering)."""
    return high_frequency_energy(maps.mean(dim=1).abs(), cutoff)


def _evaluate(
    variant: nn.Module,
    layer: DownsamplingLayer | None,
    images: torch.Tensor,
    reference: _Reference,
    explain_args: dict[str, Any],
    cutoff: float,
) -> AliasingRow:
    logits = forward_logits(variant, images, explain_args["batch_size"])
    probability = logits.softmax(dim=1).gather(1, reference.targets.reshape(-1, 1)).squeeze(1)
    maps = explain(variant, images, reference.targets, **explain_args)
    hf = _hf_energy(maps, cutoff)
    return AliasingRow(
        name=layer.name if layer is not None else "all",
        kind=layer.kind if layer is not None else "all",
        module_type=layer.module_type if layer is not None else "",
        stride=layer.stride if layer is not None else None,
        in_size=layer.in_size if layer is not None else None,
        out_size=layer.out_size if layer is not None else None,
        hf_energy=float(hf.mean()),
        hf_change=float((hf - reference.hf).mean()),
        agreement=float((logits.argmax(dim=1) == reference.predicted).float().mean()),
        prob_change=float((probability - reference.probability).abs().mean()),
        hf_energy_images=hf,
    )


def aliasing(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    method: str = "saliency",
    cutoff: Any = None,
    *,
    metric: str | None = None,
    layers: Sequence[str] | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    **options: Any,
) -> AliasingReport:
    """Find the downsampling layers of ``model`` and measure how much high-frequency energy each puts in its maps.

    For every downsampling layer (max-pool, average pool, strided convolution, patch embedding, or any module
    that shrinks the map: see :func:`~forgrad_viz.downsampling.find_downsampling`), a deep copy of the model is made
    in which that layer alone low-passes before it subsamples (blur-pooling, Zhang 2019, without retraining: see
    :mod:`forgrad_viz.downsampling.blurpool`), then one with every layer anti-aliased. For each copy: the
    high-frequency energy of its attribution maps (the fraction of non-DC power above ``cutoff`` of the
    channel-mean absolute map, as FORGrad filters it), its change against the original model, and how much the
    intervention changes the predictions. Also the radial spectrum of the gradient at each layer's input, where
    the spectral replicas a stride produces show.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits ``(N, K)``. Never modified: the interventions are deep copies, hooks are
        removed and modes restored whatever happens.
    images : Tensor
        Float images ``(N, C, H, W)`` in pixel space, on the model's device. Never modified.
    targets : None, int, sequence of ints or 1-D integer tensor
        Class explained per image; ``None`` uses the original model's predicted class. Every intervention
        explains the same targets.
    method : str
        An attribution method of :data:`forgrad_viz.attribution.METHODS` (default ``"saliency"``).
    cutoff : None, float or CutoffSweep
        Cutoff in cycles per image above which power counts as high-frequency. ``None``: ``min(H, W) / 4``
        (half the Nyquist frequency; 16 at 64 x 64). A ``CutoffSweep``: its ``sigma*`` for ``metric``.
    metric : str, optional
        The sweep's metric whose ``sigma*`` is used (default: its first metric); only with a sweep.
    layers : sequence of str, optional
        Analyse only these downsampling layers (dotted names); all of them by default.
    batch_size : int, optional
        Images per pass, as in :func:`~forgrad_viz.attribution.explain`.
    seed : int
        Seed of stochastic methods (the same for every intervention).
    **options
        Options of ``method``, as in :func:`~forgrad_viz.attribution.explain`.

    Returns
    -------
    AliasingReport
        Per-layer rows, the all-layers row, the original model's energy and the per-layer gradient spectra;
        tensors on the images' device.

    Raises
    ------
    TypeError, ValueError
        Bad ``model``, ``images``, ``method``, ``cutoff``, ``layers`` or options; a model without any downsampling
        layer (global pools do not count).

    Examples
    --------
    >>> from forgrad_viz.models import build_demo_model
    >>> report = aliasing(build_demo_model("strided_cnn"), torch.rand(4, 3, 64, 64))
    >>> [(row.name, row.kind, row.stride) for row in report.rows]
    [('3', 'strided-conv', (2, 2)), ('9', 'strided-conv', (2, 2)), ('15', 'strided-conv', (2, 2))]
    >>> report.cutoff, len(report.spectra)
    (16.0, 3)
    """
    check_model(model)
    check_images(images)
    check_choice(method, "method", tuple(METHODS))
    METHODS[method].resolve_options(options)
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    height, width = images.shape[-2:]
    if height < 2 or width < 2:
        raise ValueError(f"images must be at least 2 x 2 pixels; got shape {tuple(images.shape)}")
    device = model_device(model)
    if next(iter(model.state_dict()), None) is not None and device != images.device:
        raise ValueError(f"images are on device {images.device} but the model is on device {device}")
    value, source = _resolve_cutoff(cutoff, metric, height, width)
    inputs = images.detach()
    explain_args = {"method": method, "batch_size": batch_size, "seed": seed, **options}
    with preserved_model(model):
        found = find_downsampling(model, inputs, include_global=True)
        skipped = [layer.name for layer in found if layer.kind == "global-pool"]
        chosen = _check_layers([layer for layer in found if layer.kind != "global-pool"], layers)
        if not chosen:
            raise ValueError(
                "model has no downsampling layer (no pool, strided or patch convolution, or other module that "
                f"shrinks the feature maps) on images of size {height} x {width}; global pools {skipped} do not "
                "count: their 1 x 1 output has no aliasing"
            )
        logits = forward_logits(model, inputs, batch_size)
        if logits.dim() != 2:
            raise ValueError(
                f"model must return logits of shape (N, classes); got shape {tuple(logits.shape)}"
            )
        target = logits.argmax(dim=1) if targets is None else resolve_targets(model, inputs, targets)
        hf = _hf_energy(explain(model, inputs, target, **explain_args), value)
        reference = _Reference(logits, target, hf)
        rows = [
            _evaluate(antialias(model, [layer]), layer, inputs, reference, explain_args, value)
            for layer in chosen
        ]
        smooth = antialias(model, chosen)
        all_layers = _evaluate(smooth, None, inputs, reference, explain_args, value)
        names = [layer.name for layer in chosen]
        spectra = layer_input_spectra(copy.deepcopy(model), inputs, target, names, batch_size)
        spectra_antialiased = layer_input_spectra(smooth, inputs, target, names, batch_size)
    return AliasingReport(
        method=method,
        cutoff=value,
        hf_energy=float(hf.mean()),
        hf_energy_images=hf,
        rows=rows,
        all_layers=all_layers,
        spectra=spectra,
        spectra_antialiased=spectra_antialiased,
        skipped=skipped,
        params={
            "cutoff_source": source,
            "n_images": int(images.shape[0]),
            "seed": seed,
            "options": {k: v for k, v in options.items() if isinstance(v, (int, float, str, bool))},
            "filter": "binomial, 2 s - 1 taps per axis of stride s, reflect padding",
        },
    )
