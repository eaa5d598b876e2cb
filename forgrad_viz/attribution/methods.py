"""The registry of attribution methods: :class:`MethodInfo` and :data:`METHODS`, with their costs."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forgrad_viz.attribution.black_box import RISE_DEFAULT_MASKS, _occlusion_windows
from forgrad_viz.attribution.options import _OPTION_CHECKS

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
                f"score-weighted mean of random smooth masks (RISE; {RISE_DEFAULT_MASKS:,} masks by default, the "
                f"paper's setting at 224x224, at every input size: {RISE_DEFAULT_MASKS:,} forward passes per image)",
                {"n_masks": RISE_DEFAULT_MASKS, "grid": 7, "p": 0.5, "score": "probability"},
                lambda o, _: (o["n_masks"], 0),
                single_channel=True,
                stochastic=True,
            ),
        )
    }
)
