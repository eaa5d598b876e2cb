"""Aliasing analysis: which downsampling layers put the high frequencies into gradient attribution maps.

FORGrad's premise is that the high-frequency content of gradient maps comes mostly from downsampling inside the
network (max-pooling, strided convolution): aliasing. :func:`aliasing` finds every downsampling layer of a model,
anti-aliases each one in a deep copy (blur-pooling, Zhang 2019, without retraining) and measures how much
high-frequency energy of the maps goes away and how much the predictions change; it also gives the spectrum of
the gradient at each layer's input, where the spectral replicas of each stride show.

Modules: :mod:`~forgrad_viz.downsampling.discovery` (finding the layers), :mod:`~forgrad_viz.downsampling.blurpool` (the
intervention), :mod:`~forgrad_viz.downsampling.gradients` (gradient spectra at layer inputs),
:mod:`~forgrad_viz.downsampling.report` (the result) and :mod:`~forgrad_viz.downsampling.analysis` (the entry point).

Examples
--------
>>> import torch
>>> from forgrad_viz.downsampling import aliasing
>>> from forgrad_viz.models import build_demo_model
>>> report = aliasing(build_demo_model("maxpool_cnn"), torch.rand(4, 3, 64, 64))
>>> report.layers
['6', '13', '20']
"""

from __future__ import annotations

from forgrad_viz.downsampling.analysis import aliasing, default_cutoff
from forgrad_viz.downsampling.blurpool import (
    AntiAliased,
    BlurredInput,
    BlurSubsample,
    antialias,
    binomial_taps,
)
from forgrad_viz.downsampling.discovery import KINDS, DownsamplingLayer, find_downsampling
from forgrad_viz.downsampling.gradients import LayerSpectrum, layer_input_spectra
from forgrad_viz.downsampling.report import AliasingReport, AliasingRow

__all__ = [
    "KINDS",
    "AliasingReport",
    "AliasingRow",
    "AntiAliased",
    "BlurSubsample",
    "BlurredInput",
    "DownsamplingLayer",
    "LayerSpectrum",
    "aliasing",
    "antialias",
    "binomial_taps",
    "default_cutoff",
    "find_downsampling",
    "layer_input_spectra",
]
