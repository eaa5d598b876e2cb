"""Cutoff sweeps: faithfulness of FORGrad maps over many cutoffs, sigma* selection, architecture comparisons.

A sweep scores the FORGrad maps ``forgrad(attributions, sigma)`` of a set of images at many cutoffs ``sigma``
with Deletion, Insertion and MuFidelity, per image, next to the *unfiltered* map: the FORGrad pipeline without
the low-pass, ``abs(mean over channels)`` of the attributions (the map the paper filters). The result is a
:class:`~forgrad_viz.results.CutoffSweep` (means, bootstrap intervals, sigma* with an interval over images,
plots, JSON).

Work done once, not once per cutoff
-----------------------------------
- the attributions (one :func:`~forgrad_viz.attribution.explain` call per block of images);
- the target classes (resolved once, predicted class by default, shared by every metric and cutoff);
- the forward FFT of each map (:func:`~forgrad_viz.filters.iter_forgrad`: one FFT for all cutoffs);
- the endpoints of the Deletion/Insertion curves (the image's and the baseline's scores), shared by all the
  maps scored in one call of :func:`~forgrad_viz.metrics.perturbation_curves`: all the cutoffs of a block at
  once unless ``chunk_size`` splits them;
- MuFidelity's perturbed predictions (:func:`~forgrad_viz.metrics.mufidelity_perturbations`), computed once per
  image and reused for every cutoff and every method.

Images are processed in blocks of ``block_size``; a block is the unit of checkpointing and of sharding (shards
that start on a block boundary give bit-identical scores to an unsharded run, because every forward pass sees the
same batch).

Modules
-------
Public entry points:

- ``cutoff_sweep``: :func:`sweep_cutoffs`, one method on one model (checkpoint, image ids for shards).
- ``architecture_comparison``: :func:`compare_architectures`, several models x methods, with black-box references.

The machinery, in the order the imports flow:

- ``forward_counter``: counting the images through the model, by stage (``params["forward_passes"]``).
- ``protocol``: the metrics and their parameters (``Protocol``), validated once; :data:`DEFAULT_METRICS`.
- ``blocks``: the images in blocks, each with its targets and MuFidelity predictions; :data:`DEFAULT_BLOCK_SIZE`.
- ``scoring``: scoring a block's maps with every metric (``Scorer``); the unfiltered map.
- ``checkpoint``: checkpoint I/O (finished units of work in a JSON file) and the sweep's signature.
- ``sweeper``: the units of work on one model: a method's maps, chunks of cutoffs, rounds, score tables.
- ``search``: the ``"grid"`` and ``"refine"`` (golden-section) searches over the cutoff grid; :data:`SEARCHES`.
- ``arguments``: validation of the entry points' arguments (``Settings``); :data:`DEFAULT_REFERENCES`.
- ``per_model``: one model's searches and references, assembled as CutoffSweeps.
"""

from __future__ import annotations

from forgrad_viz.sweep.architecture_comparison import compare_architectures
from forgrad_viz.sweep.arguments import DEFAULT_REFERENCES
from forgrad_viz.sweep.blocks import DEFAULT_BLOCK_SIZE as DEFAULT_BLOCK_SIZE
from forgrad_viz.sweep.cutoff_sweep import sweep_cutoffs
from forgrad_viz.sweep.protocol import DEFAULT_METRICS
from forgrad_viz.sweep.search import SEARCHES

__all__ = ["DEFAULT_METRICS", "DEFAULT_REFERENCES", "SEARCHES", "compare_architectures", "sweep_cutoffs"]
