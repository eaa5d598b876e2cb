"""forgrad_viz: FORGrad (low-pass filtered white-box attribution maps) for PyTorch.

FORGrad (Muzellec et al., ICML 2024) removes the high-frequency artifacts of gradient attribution maps with a
low-pass filter whose cutoff is chosen per architecture by maximising a faithfulness metric. This package runs the
filter, the attribution methods and the metrics on the device, sweeps cutoffs, plots and exports figures, and
offers notebook widgets.

Examples
--------
>>> import torch
>>> import forgrad_viz as fv
>>> maps = torch.rand(2, 3, 32, 32)
>>> fv.forgrad(maps, 8.0).shape
torch.Size([2, 32, 32])

The public names are imported on first use, so ``import forgrad_viz`` and ``forgrad-viz --help`` stay fast.

Importing forgrad_viz before torch on a machine that is busy at that moment sets ``OMP_WAIT_POLICY=PASSIVE``
(unless you set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``): torch's OpenMP threads then sleep between parallel
regions instead of spinning, so work degrades gracefully when other processes share the cores. On a free machine
torch's default (spinning, faster there) is kept. When load arrives later (or torch was imported first), the
filter and the metrics' forward passes run on the cores other processes leave free, wherever that was checked to
give the same bits (:mod:`forgrad_viz._threads`). See :mod:`forgrad_viz._wait_policy`; to choose the policy yourself
when torch is imported first, set ``OMP_WAIT_POLICY`` in the environment before starting Python.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from forgrad_viz._wait_policy import choose_wait_policy, machine_is_busy

choose_wait_policy(os.environ, sys.modules, busy=machine_is_busy())

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "lowpass": "filters",
    "forgrad": "filters",
    "iter_forgrad": "filters",
    "frequency_mask": "filters",
    "max_cutoff": "filters",
    "default_cutoffs": "filters",
    "cutoff_to_nyquist": "filters",
    "nyquist_to_cutoff": "filters",
    "radial_spectrum": "spectra",
    "high_frequency_energy": "spectra",
    "explain": "attribution",
    "METHODS": "attribution",
    "deletion": "metrics",
    "insertion": "metrics",
    "mufidelity": "metrics",
    "localisation": "metrics",
    "sweep_cutoffs": "sweep",
    "compare_architectures": "sweep",
    "FaithfulnessResult": "results",
    "CutoffSweep": "results",
    "BestCutoff": "results",
    "ArchitectureComparison": "results",
    "HeldOutGain": "results",
    "CutoffComparison": "results",
    "compare_best_cutoffs": "results",
    "versus_reference": "results",
    "ReferenceDifference": "results",
    "scoring_model": "scoring",
    "aliasing": "downsampling",
    "AliasingReport": "downsampling",
    "export_figure": "export",
    "paper_style": "export",
}
# public submodules reachable as attributes
_SUBMODULES: dict[str, str] = {
    "plot": "plot",
    "models": "models",
    "data": "data",
    "widgets": "widgets",
    "filters": "filters",
    "spectra": "spectra",
    "metrics": "metrics",
    "attribution": "attribution",
    "sweep": "sweep",
    "export": "export",
    "results": "results",
    "downsampling": "downsampling",
    "scoring": "scoring",
}

__all__ = ["__version__", *_EXPORTS, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{_SUBMODULES[name]}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
