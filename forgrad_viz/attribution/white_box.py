"""White-box methods through Captum: gradients of the target logit, in signed form.

Saliency, Gradient x Input, Integrated Gradients, the noise tunnels over Saliency (SmoothGrad, SquareGrad,
VarGrad), Guided Backprop and Grad-CAM. Each runner takes a job and returns the maps of all its images.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator

import torch
from captum.attr import (
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Saliency,
)
from torch import nn

from forgrad_viz.attribution.jobs import _baseline_tensor, _Job, _per_image


def _leaf(images: torch.Tensor) -> torch.Tensor:
    """A fresh copy of ``images`` that requires grad (Captum writes ``requires_grad`` on its inputs)."""
    return images.detach().clone().requires_grad_(True)


@contextlib.contextmanager
def _seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed the global generator of ``device`` for the block (Captum draws noise from it), then restore it."""
    cuda = device.type == "cuda"
    index = device.index if device.index is not None else torch.cuda.current_device() if cuda else None
    with torch.random.fork_rng(devices=[index] if cuda else [], device_type="cuda"):
        generator = torch.cuda.default_generators[index] if cuda else torch.default_generator
        generator.manual_seed(seed)
        yield


def _saliency(job: _Job) -> torch.Tensor:
    def compute(x: torch.Tensor, t: torch.Tensor, _: int) -> torch.Tensor:
        return Saliency(job.model).attribute(_leaf(x), target=t, abs=False)

    return _per_image(job, compute, 1, "saliency")


def _gradient_input(job: _Job) -> torch.Tensor:
    def compute(x: torch.Tensor, t: torch.Tensor, _: int) -> torch.Tensor:
        return InputXGradient(job.model).attribute(_leaf(x), target=t)

    return _per_image(job, compute, 1, "gradient_input")


def _integrated_gradients(job: _Job) -> torch.Tensor:
    baseline = _baseline_tensor(job.opts["baseline"], job.images)
    n_steps = job.opts["n_steps"]

    def compute(x: torch.Tensor, t: torch.Tensor, pass_size: int) -> torch.Tensor:
        return IntegratedGradients(job.model).attribute(
            _leaf(x),
            baselines=baseline,
            target=t,
            n_steps=n_steps,
            internal_batch_size=max(len(x), pass_size),
        )

    return _per_image(job, compute, n_steps, "integrated_gradients")


def _noise_tunnel(nt_type: str, name: str) -> Callable[[_Job], torch.Tensor]:
    """A runner of Captum's NoiseTunnel over signed Saliency, seeded by the job's seed."""

    def run(job: _Job) -> torch.Tensor:
        n_samples = job.opts["n_samples"]

        def compute(x: torch.Tensor, t: torch.Tensor, pass_size: int) -> torch.Tensor:
            return NoiseTunnel(Saliency(job.model)).attribute(
                _leaf(x),
                nt_type=nt_type,
                nt_samples=n_samples,
                nt_samples_batch_size=max(1, pass_size // len(x)),
                stdevs=job.opts["stdev"],
                target=t,
                abs=False,
            )

        with _seeded_global_rng(job.seed, job.images.device):
            return _per_image(job, compute, n_samples, name)

    return run


def _guided_backprop(job: _Job) -> torch.Tensor:
    def compute(x: torch.Tensor, t: torch.Tensor, _: int) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")
            return GuidedBackprop(job.model).attribute(_leaf(x), target=t)

    return _per_image(job, compute, 1, "guided_backprop")


def _gradcam_layer(model: nn.Module, layer: nn.Module | str | None) -> nn.Module:
    if layer is None:
        convs = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
        if not convs:
            raise ValueError("gradcam needs a convolution layer: the model has no nn.Conv2d; pass layer=...")
        return convs[-1]
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError as error:
            raise ValueError(f"layer {layer!r} is not a submodule of the model") from error
    if not any(module is layer for module in model.modules()):
        raise ValueError("layer must be a submodule of the model")
    return layer


def _gradcam(job: _Job) -> torch.Tensor:
    gradcam = LayerGradCam(job.model, _gradcam_layer(job.model, job.opts["layer"]))
    size = tuple(job.images.shape[-2:])

    def compute(x: torch.Tensor, t: torch.Tensor, _: int) -> torch.Tensor:
        cam = gradcam.attribute(_leaf(x), target=t, relu_attributions=job.opts["relu"])
        if cam.dim() != 4:
            raise ValueError(f"gradcam layer must output (N, C, h, w) feature maps; got {cam.dim()}-D output")
        return LayerAttribution.interpolate(cam, size, interpolate_mode="bilinear")

    return _per_image(job, compute, 1, "gradcam")
