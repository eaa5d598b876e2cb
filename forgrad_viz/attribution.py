"""Attribution maps: white-box methods through Captum, RISE and Occlusion as black-box references.

:func:`explain` is the single entry point. Every method runs with the model in eval mode (BatchNorm uses its
running statistics, Dropout is off); afterwards every submodule gets its own ``training`` flag back and no hook
is left behind. The caller's images are never modified and the parameters' ``.grad`` are never touched.

Conventions
-----------
- Gradients are **signed**: ``saliency`` is the raw gradient of the target logit (Captum's ``Saliency`` with
  ``abs=False``), so that ``gradient_input = images * saliency`` and the noise-tunnel methods average signed
  gradients. The FORGrad pipeline (:func:`forgrad_viz.forgrad`) takes the absolute value itself.
- White-box methods explain the target **logit**; the black-box references (``occlusion``, ``rise``) explain
  the target's softmax **probability** by default (``score="probability"``, as in Petsiuk et al. 2018), or the
  logit with ``score="logit"``.
- Pixel-wise gradient methods return one map per input channel, (N, C, H, W). Spatial methods (``gradcam``,
  ``occlusion``, ``rise``) return a single channel, (N, 1, H, W); :func:`forgrad_viz.forgrad` averages
  channels, so both shapes go through it the same way. ``METHODS[name].single_channel`` tells which.
- ``batch_size`` is the number of model inputs per forward/backward pass: images, or their interpolated,
  noisy, occluded or masked copies. ``None`` starts at :func:`forgrad_viz._utils.default_batch_size` and
  halves on CUDA out-of-memory errors.
- Stochastic methods (``smoothgrad``, ``squaregrad``, ``vargrad``, ``rise``) are seeded by ``seed``: the same
  call gives the same maps, and the caller's global random state is left as it was. RISE's masks do not
  depend on ``batch_size``; Captum's noise tunnel draws its noise chunk by chunk, so the noise-tunnel maps
  depend on ``(seed, batch_size)``.
"""

from __future__ import annotations

import contextlib
import math
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from captum.attr import (
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from torch import nn
from tqdm.auto import tqdm

from forgrad_viz._utils import (
    check_choice,
    check_finite_number,
    check_images,
    check_model,
    check_positive_int,
    class_scores,
    iter_chunks,
    model_device,
    preserved_model,
    resolve_targets,
    torch_generator,
    with_oom_backoff,
)

__all__ = ["METHODS", "MethodInfo", "explain"]

Passes = Callable[[Mapping[str, Any], tuple[int, int] | None], tuple[int, int]]


@dataclass(frozen=True)
class MethodInfo:
    """Description of one attribution method of :data:`METHODS`.

    Attributes
    ----------
    name : str
        The ``method`` name given to :func:`explain`.
    kind : str
        ``"white-box"`` (needs gradients or activations) or ``"black-box"`` (forward passes only).
    description : str
        One line: what the method computes.
    options : Mapping[str, Any]
        The options :func:`explain` accepts for this method, with their defaults (read-only).
    single_channel : bool
        True if the maps have one channel (N, 1, H, W); False if one per input channel (N, C, H, W).
    stochastic : bool
        True if the maps depend on ``seed``.

    Examples
    --------
    >>> from forgrad_viz.attribution import METHODS
    >>> METHODS["integrated_gradients"].cost(n_steps=16)
    {'forward': 16, 'backward': 16}
    """

    name: str
    kind: str
    description: str
    options: Mapping[str, Any]
    single_channel: bool
    stochastic: bool
    _passes: Passes = field(repr=False, compare=False)

    def resolve_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options with defaults filled in, validated; unknown options raise a ``TypeError``."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = ", ".join(self.options) or "none"
            raise TypeError(
                f"option(s) {', '.join(map(repr, unknown))} do not apply to method {self.name!r}; "
                f"valid options: {valid}"
            )
        resolved = {**self.options, **options}
        return {name: _OPTION_CHECKS[name](value, name) for name, value in resolved.items()}

    def cost(self, image_size: tuple[int, int] | None = None, **options: Any) -> dict[str, int]:
        """Forward and backward passes per image with the given options.

        Parameters
        ----------
        image_size : (int, int), optional
            (H, W) of the images; needed by ``occlusion``, whose number of windows depends on it.
        **options
            Options of the method (defaults from :attr:`options`).

        Returns
        -------
        dict
            ``{"forward": ..., "backward": ...}``, model passes per image.

        Examples
        --------
        >>> METHODS["occlusion"].cost(image_size=(64, 64))
        {'forward': 226, 'backward': 0}
        """
        forward, backward = self._passes(self.resolve_options(options), image_size)
        return {"forward": forward, "backward": backward}


# ----------------------------------------------------------------------------------------------------------
# option validation (an option name has the same meaning for every method that takes it)


def _check_baseline(value: Any, name: str) -> float | torch.Tensor:
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point() or not bool(torch.isfinite(value).all()):
            raise TypeError(f"{name} must be a finite float or a finite floating-point tensor")
        return value
    return check_finite_number(value, name)


def _check_probability(value: Any, name: str) -> float:
    value = check_finite_number(value, name)
    if not 0 < value < 1:
        raise ValueError(f"{name} must lie in (0, 1); got {value}")
    return value


def _check_size_pair(value: Any, name: str) -> tuple[int, int] | None:
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"{name} must be None, an int or a pair of ints; got {value!r}")
    return (check_positive_int(pair[0], name), check_positive_int(pair[1], name))


def _check_layer(value: Any, name: str) -> nn.Module | str | None:
    if value is not None and not isinstance(value, (str, nn.Module)):
        raise TypeError(
            f"{name} must be None, an nn.Module or a dotted module name; got {type(value).__name__}"
        )
    return value


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {type(value).__name__}")
    return value


_OPTION_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "n_steps": check_positive_int,
    "n_samples": check_positive_int,
    "n_masks": check_positive_int,
    "grid": check_positive_int,
    "stdev": lambda value, name: check_finite_number(value, name, positive=True),
    "p": _check_probability,
    "baseline": _check_baseline,
    "window": _check_size_pair,
    "stride": _check_size_pair,
    "layer": _check_layer,
    "relu": _check_bool,
    "score": lambda value, name: check_choice(value, name, ("probability", "logit")),
}


# ----------------------------------------------------------------------------------------------------------
# batching


@dataclass(frozen=True)
class _Job:
    """One validated call of :func:`explain`: what every method's runner needs."""

    model: nn.Module
    images: torch.Tensor
    targets: torch.Tensor
    opts: Mapping[str, Any]
    batch_size: int | None
    seed: int
    progress: bool


def _chunks(total: int, size: int, progress: bool, desc: str) -> Iterator[slice]:
    parts = list(iter_chunks(total, size))
    return iter(tqdm(parts, desc=desc, disable=not progress or len(parts) < 2, leave=False))


Compute = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def _per_image(job: _Job, compute: Compute, per_image: int, desc: str) -> torch.Tensor:
    """``compute(images, targets, pass_size)`` on chunks of ``pass_size // per_image`` images, concatenated.

    ``per_image`` is the number of model inputs one image costs per call (interpolation steps, noisy copies,
    occluded copies), so that each pass holds about ``pass_size`` inputs.
    """

    def work(pass_size: int) -> torch.Tensor:
        n_images = max(1, pass_size // per_image)
        parts = _chunks(job.images.shape[0], n_images, job.progress, desc)
        return torch.cat([compute(job.images[part], job.targets[part], pass_size) for part in parts])

    return with_oom_backoff(work, job.batch_size, job.images.device)


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


def _baseline_tensor(baseline: float | torch.Tensor, images: torch.Tensor) -> float | torch.Tensor:
    """A float as is, or a tensor broadcast to one image, shape (1, C, H, W), on the images' device."""
    if not isinstance(baseline, torch.Tensor):
        return baseline
    try:
        one = baseline.to(images).expand(images.shape[1:])
    except RuntimeError as error:
        raise ValueError(
            f"baseline must broadcast to one image of shape {tuple(images.shape[1:])}; "
            f"got shape {tuple(baseline.shape)}"
        ) from error
    return one.unsqueeze(0)


# ----------------------------------------------------------------------------------------------------------
# white-box methods (Captum)


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


# ----------------------------------------------------------------------------------------------------------
# black-box references


def _scorer(model: nn.Module, score: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return (lambda x: model(x).softmax(dim=-1)) if score == "probability" else model


def _occlusion_geometry(opts: Mapping[str, Any], image_size: tuple[int, int]) -> tuple[tuple, tuple]:
    """(window, stride) in pixels; defaults: window about 1/8 of the shorter side, stride half the window."""
    height, width = image_size
    window = opts["window"] or (max(1, round(min(height, width) / 8)),) * 2
    stride = opts["stride"] or (max(1, window[0] // 2), max(1, window[1] // 2))
    if window[0] > height or window[1] > width:
        raise ValueError(f"window {window} must fit in the images of size {(height, width)}")
    if stride[0] > window[0] or stride[1] > window[1]:
        raise ValueError(f"stride {stride} must not exceed the window {window}")
    return window, stride


def _occlusion_windows(opts: Mapping[str, Any], image_size: tuple[int, int]) -> int:
    window, stride = _occlusion_geometry(opts, image_size)
    counts = [math.ceil((size - w) / s) + 1 for size, w, s in zip(image_size, window, stride, strict=True)]
    return counts[0] * counts[1]


def _occlusion(job: _Job) -> torch.Tensor:
    channels, image_size = job.images.shape[1], tuple(job.images.shape[-2:])
    window, stride = _occlusion_geometry(job.opts, image_size)
    occlusion = Occlusion(_scorer(job.model, job.opts["score"]))
    baseline = _baseline_tensor(job.opts["baseline"], job.images)

    def compute(x: torch.Tensor, t: torch.Tensor, pass_size: int) -> torch.Tensor:
        with torch.no_grad():
            maps = occlusion.attribute(
                x,
                sliding_window_shapes=(channels, *window),
                strides=(channels, *stride),
                baselines=baseline,
                target=t,
                perturbations_per_eval=max(1, pass_size // len(x)),
            )
        return maps.mean(dim=1, keepdim=True)  # the window spans all channels: they are equal

    return _per_image(job, compute, _occlusion_windows(job.opts, image_size), "occlusion")


class _RiseMasks:
    """RISE masks (Petsiuk et al. 2018), drawn once and rebuilt on demand, chunk by chunk, on the device.

    Each mask is a ``grid x grid`` binary grid (cells on with probability ``p``) upsampled bilinearly to
    ``(grid + 1) * cell`` pixels, ``cell = ceil(size / grid)``, and cropped to the image at a random shift in
    ``[0, cell)`` along each axis. Only the grids and shifts are stored, so the masks do not depend on how they
    are chunked.
    """

    def __init__(
        self, n_masks: int, grid: int, p: float, image_size: tuple[int, int], seed: int, like: torch.Tensor
    ):
        generator = torch_generator(seed, like.device)
        self.size = image_size
        self.cell = tuple(math.ceil(size / grid) for size in image_size)
        self.up = tuple((grid + 1) * cell for cell in self.cell)
        draw = torch.rand((n_masks, 1, grid, grid), generator=generator, device=like.device)
        self.grids = (draw < p).to(like.dtype)
        self.shifts = [
            torch.randint(cell, (n_masks,), generator=generator, device=like.device) for cell in self.cell
        ]

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        """Masks ``index`` (a 1-D long tensor), shape (len(index), H, W), values in [0, 1]."""
        up = F.interpolate(self.grids[index], size=self.up, mode="bilinear", align_corners=False)[:, 0]
        rows = self.shifts[0][index, None] + torch.arange(self.size[0], device=index.device)
        cols = self.shifts[1][index, None] + torch.arange(self.size[1], device=index.device)
        batch = torch.arange(index.shape[0], device=index.device)
        return up[batch[:, None, None], rows[:, :, None], cols[:, None, :]]


def _rise(job: _Job) -> torch.Tensor:
    """RISE on the device: one pass per (image, mask) pair, pairs batched across images, then one matmul
    per chunk of masks to accumulate ``sum_i score_i M_i``."""
    model, images, targets, opts = job.model, job.images, job.targets, job.opts
    n_images, n_masks = images.shape[0], opts["n_masks"]
    masks = _RiseMasks(n_masks, opts["grid"], opts["p"], tuple(images.shape[-2:]), job.seed, images)
    pairs = torch.arange(n_images * n_masks, device=images.device)
    mask_ids = torch.arange(n_masks, device=images.device)

    def scores_of(part: torch.Tensor) -> torch.Tensor:
        image, mask = part // n_masks, part % n_masks
        logits = model(images[image] * masks(mask)[:, None])
        return class_scores(logits, targets[image], opts["score"])

    def work(pass_size: int) -> torch.Tensor:
        with torch.inference_mode():
            parts = _chunks(pairs.shape[0], pass_size, job.progress, "rise")
            scores = torch.cat([scores_of(pairs[part]) for part in parts]).view(n_images, n_masks)
            saliency = images.new_zeros(n_images, images.shape[-2] * images.shape[-1])
            for part in iter_chunks(n_masks, pass_size):
                saliency += scores[:, part] @ masks(mask_ids[part]).flatten(1)
        return saliency

    saliency = with_oom_backoff(work, job.batch_size, images.device) / (n_masks * opts["p"])
    return saliency.view(n_images, 1, *images.shape[-2:])


# ----------------------------------------------------------------------------------------------------------
# registry


def _gradient_passes(_: Mapping[str, Any], __: tuple[int, int] | None) -> tuple[int, int]:
    return 1, 1


def _occlusion_passes(opts: Mapping[str, Any], image_size: tuple[int, int] | None) -> tuple[int, int]:
    if image_size is None:
        raise ValueError("occlusion's cost depends on the image size: pass image_size=(H, W)")
    return _occlusion_windows(opts, image_size) + 1, 0


def _info(name, kind, description, options, passes, single_channel=False, stochastic=False) -> MethodInfo:
    return MethodInfo(
        name, kind, description, types.MappingProxyType(options), single_channel, stochastic, passes
    )


_NOISE = {"n_samples": 16, "stdev": 0.15}


def _noise_passes(opts, _):
    return opts["n_samples"], opts["n_samples"]


#: Every method :func:`explain` knows, by name.
METHODS: Mapping[str, MethodInfo] = types.MappingProxyType(
    {
        info.name: info
        for info in (
            _info(
                "saliency",
                "white-box",
                "signed gradient of the target logit w.r.t. the pixels",
                {},
                _gradient_passes,
            ),
            _info(
                "gradient_input",
                "white-box",
                "images times the signed gradient (Gradient x Input)",
                {},
                _gradient_passes,
            ),
            _info(
                "integrated_gradients",
                "white-box",
                "path integral of the gradient from a baseline (Gauss-Legendre, n_steps points)",
                {"n_steps": 32, "baseline": 0.0},
                lambda o, _: (o["n_steps"], o["n_steps"]),
            ),
            _info(
                "smoothgrad",
                "white-box",
                "mean gradient over noisy copies (Gaussian noise, stdev in pixels)",
                _NOISE,
                _noise_passes,
                stochastic=True,
            ),
            _info(
                "squaregrad",
                "white-box",
                "mean squared gradient over noisy copies",
                _NOISE,
                _noise_passes,
                stochastic=True,
            ),
            _info(
                "vargrad",
                "white-box",
                "variance of the gradient over noisy copies",
                _NOISE,
                _noise_passes,
                stochastic=True,
            ),
            _info(
                "guided_backprop",
                "white-box",
                "gradient with negative signals cut at every nn.ReLU",
                {},
                _gradient_passes,
            ),
            _info(
                "gradcam",
                "white-box",
                "Grad-CAM at a convolution layer (default: the last nn.Conv2d), bilinearly upsampled",
                {"layer": None, "relu": True},
                _gradient_passes,
                single_channel=True,
            ),
            _info(
                "occlusion",
                "black-box",
                "score drop when a sliding window is set to the baseline, averaged over the windows",
                {"window": None, "stride": None, "baseline": 0.0, "score": "probability"},
                _occlusion_passes,
                single_channel=True,
            ),
            _info(
                "rise",
                "black-box",
                "score-weighted mean of random smooth masks (RISE)",
                {"n_masks": 2000, "grid": 7, "p": 0.5, "score": "probability"},
                lambda o, _: (o["n_masks"], 0),
                single_channel=True,
                stochastic=True,
            ),
        )
    }
)

_RUNNERS: dict[str, Callable[[_Job], torch.Tensor]] = {
    "saliency": _saliency,
    "gradient_input": _gradient_input,
    "integrated_gradients": _integrated_gradients,
    "smoothgrad": _noise_tunnel("smoothgrad", "smoothgrad"),
    "squaregrad": _noise_tunnel("smoothgrad_sq", "squaregrad"),
    "vargrad": _noise_tunnel("vargrad", "vargrad"),
    "guided_backprop": _guided_backprop,
    "gradcam": _gradcam,
    "occlusion": _occlusion,
    "rise": _rise,
}


def explain(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    method: str = "saliency",
    *,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool = False,
    **options: Any,
) -> torch.Tensor:
    """Attribution maps of ``model`` for ``images``.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits (N, K); it runs in eval mode and comes back in the mode it was in.
    images : Tensor
        Float images (N, C, H, W) in pixel space, on the model's device. Never modified.
    targets : None, int, sequence of ints or 1-D integer tensor, optional
        Class to explain per image; ``None`` (default) uses the predicted class (eval mode).
    method : str
        A key of :data:`METHODS`: ``saliency`` (default), ``gradient_input``, ``integrated_gradients``,
        ``smoothgrad``, ``squaregrad``, ``vargrad``, ``guided_backprop``, ``gradcam``, ``occlusion``, ``rise``.
    batch_size : int, optional
        Model inputs per forward/backward pass (images, or their interpolated, noisy or perturbed copies).
        ``None`` starts at the device default and halves on CUDA out-of-memory errors.
    seed : int
        Seed of the stochastic methods (``smoothgrad``, ``squaregrad``, ``vargrad``, ``rise``).
    progress : bool
        Show a progress bar over the chunks of work.
    **options
        Method options, listed with their defaults in ``METHODS[method].options``:

        - ``integrated_gradients``: ``n_steps=32`` integration points, ``baseline=0.0`` (a float or a tensor
          broadcastable to one image).
        - ``smoothgrad``, ``squaregrad``, ``vargrad``: ``n_samples=16`` noisy copies, ``stdev=0.15`` standard
          deviation of the Gaussian noise in pixel units (images span [0, 1], so 15% of the range).
        - ``gradcam``: ``layer=None`` (the output of the last ``nn.Conv2d``, before any activation; or a module
          of the model, or its dotted name), ``relu=True`` (keep positive evidence, as in Grad-CAM). The map is
          upsampled bilinearly to (H, W).
        - ``occlusion``: ``window=None`` (about 1/8 of the shorter side; an int or (h, w)), ``stride=None``
          (half the window), ``baseline=0.0``, ``score="probability"`` (or ``"logit"``).
        - ``rise``: ``n_masks=2000``, ``grid=7`` cells per side, ``p=0.5`` probability that a cell is kept,
          ``score="probability"``. The map is ``sum_i score(x * M_i) M_i / (n_masks * p)``.

    Returns
    -------
    Tensor
        Detached attributions on the images' device, in their dtype: (N, C, H, W) for the gradient methods,
        (N, 1, H, W) for ``gradcam``, ``occlusion`` and ``rise``.

    Raises
    ------
    TypeError, ValueError
        Bad model, images, targets, method or option (unknown options name the method and list valid ones).
    RuntimeError
        If the maps contain NaN or infinite values.

    Examples
    --------
    >>> import torch, forgrad_viz as fv
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4 * 14 * 14, 5))
    >>> images = torch.rand(2, 3, 16, 16)
    >>> fv.explain(net, images, method="integrated_gradients", n_steps=8).shape
    torch.Size([2, 3, 16, 16])
    >>> fv.explain(net, images, targets=[0, 4], method="rise", n_masks=64).shape
    torch.Size([2, 1, 16, 16])
    """
    check_model(model)
    check_images(images)
    check_choice(method, "method", tuple(METHODS))
    opts = METHODS[method].resolve_options(options)
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    torch_generator(seed, torch.device("cpu"))  # validates the seed
    device = model_device(model)
    if next(iter(model.state_dict()), None) is not None and device != images.device:
        raise ValueError(
            f"images are on device {images.device} but the model is on device {device}; move one of them"
        )
    inputs = images.detach()
    with preserved_model(model):
        target = resolve_targets(model, inputs, targets, batch_size)
        job = _Job(model, inputs, target, opts, batch_size, seed, progress)
        maps = _RUNNERS[method](job)
    if not bool(torch.isfinite(maps).all()):
        raise RuntimeError(f"{method} produced NaN or infinite attributions (check the model's outputs)")
    return maps.detach().to(images.dtype)
