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

Data, memory and scale (the contract)
------------------------------------
``sweep_cutoffs(model, images, ...)`` and ``compare_architectures(models, images, ...)`` take as ``images``:

- a (N, 3, H, W) float tensor in [0, 1] (kept as given; blocks are slices of it);
- a ``torch.utils.data.Dataset`` with ``len()`` whose items are an image (3, H, W) or a pair ``(image, target)``
  (target an int or 0-d integer tensor; ``-1`` or ``None`` means the predicted class);
- a ``torch.utils.data.DataLoader`` (not shuffling, dataset with ``len()``) yielding batches of the same: a
  tensor (B, 3, H, W) or ``(images, targets)`` with ``-1`` for "predicted". Its batches are cut into blocks.

The data's targets are used unless ``targets=`` is given. Images are processed in blocks of ``block_size``
(default :data:`DEFAULT_BLOCK_SIZE`), read when reached and moved to the model's device one block at a time;
nothing holds the whole set (a Dataset or DataLoader is never materialised; a ``"refine"`` search keeps the
unfiltered maps, 4 bytes per pixel per image, on the CPU between rounds). Within a block the filtered maps of
one Deletion/Insertion call are bounded by ``chunk_size`` cutoffs (by default sized to 256 MiB on the CPU, 1 GiB
on CUDA) and the perturbed inputs are built one forward batch at a time, so peak memory depends on the block
and batch sizes, not on N. A grid search scores every method and reference in one pass over the images. A
block is the unit of checkpointing, of sharding and of distributed work: shards that start on a block boundary
give bit-identical scores to an unsharded run, because every forward pass sees the same batch; a Dataset- or
DataLoader-fed sweep equals the tensor-fed sweep exactly.

Distributed (:mod:`~forgrad_viz.sweep.distributed`, ``torch.distributed``, not an engine of ours): under
``torchrun``, inside :func:`~forgrad_viz.sweep.distributed.distributed_session` (or any initialised process
group), a sweep runs distributed by itself (``distributed=None``; ``False`` forces one process, ``True``
requires a group). Rank ``r`` scores a contiguous share of the blocks
(:func:`~forgrad_viz.sweep.distributed.block_share`) on ``cuda:LOCAL_RANK`` (the model is moved there) or the
CPU; the per-image scores are exchanged with ``all_gather_object`` after each pass, and **every rank returns
the same full result**, identical to a single-process run on the CPU (``params["forward_passes"]`` sums all
ranks). A rank that fails stops the run: torchrun stops the others, and a collective waits at most the
session's ``timeout``.

Checkpoints (:mod:`~forgrad_viz.sweep.checkpoint`): JSON Lines, versioned, one line appended (flushed and
fsynced) per finished unit of work; a sweep killed at any moment resumes to the identical result, losing at
most the unit in flight, a torn last line being ignored. Distributed, rank ``r`` appends to
``CHECKPOINT.rank<r>`` and every rank reads all of them, so a run resumes under any number of processes.

Plan and progress (:mod:`~forgrad_viz.sweep.plan`, :mod:`~forgrad_viz.sweep.progress`): before any work,
:func:`plan_sweep` (and ``progress=True``, which prints it) states images x maps x forward passes, counted unit by
unit as the sweep will do them (exact for a grid search, the worst case for ``"refine"``), the memory budget and
an estimate of the time from a probe of a few seconds. One tqdm bar of forward passes covers the whole call (every
method, reference and model); its total is the plan's from the start, its count never goes back, its ETA uses a
smoothed rate; under ``torchrun`` rank 0 shows the passes of every rank. A :class:`Progress` made from several
plans, passed as ``progress=``, is one bar for several calls. ``progress=False`` prints nothing.

Modules
-------
Public entry points:

- ``cutoff_sweep``: :func:`sweep_cutoffs`, one method on one model (checkpoint, image ids for shards).
- ``architecture_comparison``: :func:`compare_architectures`, several models x methods, with black-box references.

The machinery, in the order the imports flow:

- ``forward_counter``: counting the images through the model, by stage (``params["forward_passes"]``).
- ``protocol``: the metrics and their parameters (``Protocol``), validated once; :data:`DEFAULT_METRICS`.
- ``source``: the images from a tensor, Dataset or DataLoader, read block by block (``ImageSource``).
- ``blocks``: the images in blocks, each with its targets and MuFidelity predictions; :data:`DEFAULT_BLOCK_SIZE`.
- ``distributed``: ``distributed_session``, ``rank_info``, each rank's blocks and the gather helper.
- ``scoring``: scoring a block's maps with every metric (``Scorer``); the unfiltered map.
- ``checkpoint``: checkpoint I/O (finished units of work appended to a JSON Lines file) and the signature.
- ``arguments``: validation of the entry points' arguments (``Settings``); :data:`SEARCHES`,
  :data:`DEFAULT_REFERENCES`.
- ``sweeper``: the units of work on one model: a method's maps, chunks of cutoffs, rounds, score tables.
- ``search``: the ``"grid"`` and ``"refine"`` (golden-section) searches over the cutoff grid.
- ``probe``: a few seconds' timing of the model and the attribution methods (the plan's estimate).
- ``plan``: the work counted before it starts (``Plan``).
- ``progress``: one bar of forward passes for a job (``Progress``), fed from every rank.
- ``per_model``: one model's searches and references, assembled as CutoffSweeps.
"""

from __future__ import annotations

from forgrad_viz.sweep.architecture_comparison import compare_architectures
from forgrad_viz.sweep.arguments import DEFAULT_REFERENCES, SEARCHES
from forgrad_viz.sweep.blocks import DEFAULT_BLOCK_SIZE as DEFAULT_BLOCK_SIZE
from forgrad_viz.sweep.cutoff_sweep import plan_sweep, sweep_cutoffs
from forgrad_viz.sweep.distributed import distributed_session, rank_info
from forgrad_viz.sweep.plan import Plan
from forgrad_viz.sweep.progress import Progress
from forgrad_viz.sweep.protocol import DEFAULT_METRICS

__all__ = [
    "DEFAULT_METRICS",
    "DEFAULT_REFERENCES",
    "SEARCHES",
    "Plan",
    "Progress",
    "compare_architectures",
    "distributed_session",
    "plan_sweep",
    "rank_info",
    "sweep_cutoffs",
]
