"""Faithfulness metrics: Deletion, Insertion, MuFidelity, and localisation on ground-truth masks.

Protocols (the defaults, also listed in the README):

- Scores are the softmax probability of the target class (``score="probability"``) or its logit
  (``score="logit"``). ``targets=None`` uses the class the model predicts on the unperturbed image.
- Maps are 2-D per image, (N, H, W); a (N, C, H, W) map is reduced by its mean over channels. Pixels are ranked
  by the map's value *as given*, descending (pass non-negative maps, e.g. ``abs``, to rank by magnitude; FORGrad
  maps are non-negative). Ties are broken by the flat pixel index ``h * W + w``, lower first (a stable sort), so a
  constant map ranks pixels in index order (with a warning).
- Deletion: step ``k = 0 .. steps`` replaces the ``round(k * H * W / steps)`` top-ranked pixels (round half up),
  in all channels at once, by the baseline (0, black, by default). The curve has ``steps + 1`` points; its x
  values are the actual fractions of pixels replaced, from 0 to 1; the score is the trapezoid area under the
  curve (lower is better). The curve starts at the score of the image and ends at the score of the baseline.
- Insertion: the same steps, starting from the baseline (by default a Gaussian blur of the image,
  ``sigma = min(H, W) / 16`` pixels, kernel ``2 * ceil(3 * sigma) + 1`` clipped to the image, reflect padding)
  and inserting the top-ranked pixels of the image (higher is better). The curve ends at the image's score.
- MuFidelity: the image is cut into a ``grid_size x grid_size`` grid of cells (row ``i`` belongs to cell row
  ``floor(i * grid_size / H)``, so cells differ in size by at most one pixel when ``H`` is not a multiple);
  each of ``n_subsets`` subsets removes every cell independently with probability ``subset_fraction`` (set to the
  baseline, 0 by default). The score is Spearman's correlation (average ranks for ties) between the sum of the
  map over the removed pixels and the drop of the target score, per image; 0 when either is constant. The
  subsets depend only on the seed (drawn on the CPU, the same on every device) and are shared by all images.

Performance: rankings take one ``argsort`` per map on the device; perturbed inputs are built in bulk with
``torch.where`` for chunks of (map, step) pairs; forward passes run in chunks of ``batch_size`` (on the CPU by
default the fastest of 16 to 256, measured on the first chunks by :class:`~forgrad_viz._utils.BatchSizer`)
under ``torch.inference_mode()`` with no host synchronisation inside the loop; the two endpoints of the curves
are computed once per image whatever the number of maps. MuFidelity's perturbed predictions are independent of the
map (:func:`mufidelity_perturbations`) and are reused for every map (:func:`mufidelity_scores`).

Modules (each imports only from those listed after it):

- :mod:`~forgrad_viz.metrics.curves`: Deletion, Insertion, and :func:`perturbation_curves` (many maps per image,
  shared endpoints); pixel ranking and the steps.
- :mod:`~forgrad_viz.metrics.fidelity`: MuFidelity, its map-free perturbations and the scores of maps from them.
- :mod:`~forgrad_viz.metrics.ground_truth`: :func:`localisation`, the attribution mass inside ground-truth masks.
- :mod:`~forgrad_viz.metrics.stats`: :func:`auc` (trapezoid area) and :func:`spearman` (rank correlation).
- :mod:`~forgrad_viz.metrics.baselines`: :func:`blur` and the baselines the metrics accept.
- ``_forward``: forward passes in chunks (target logits, target scores of perturbed inputs); internal.
- ``_inputs``: validation of maps, the score and the device; the constant-map warning; internal.
"""

from __future__ import annotations

# Names imported ``as`` themselves stay importable from here, as before, without being in ``__all__``.
from forgrad_viz.metrics.baselines import BLUR_SIGMA_FRACTION, blur
from forgrad_viz.metrics.baselines import Baseline as Baseline
from forgrad_viz.metrics.curves import DEFAULT_STEPS, deletion, insertion, perturbation_curves
from forgrad_viz.metrics.fidelity import DEFAULT_GRID_SIZE as DEFAULT_GRID_SIZE
from forgrad_viz.metrics.fidelity import DEFAULT_N_SUBSETS as DEFAULT_N_SUBSETS
from forgrad_viz.metrics.fidelity import DEFAULT_SUBSET_FRACTION as DEFAULT_SUBSET_FRACTION
from forgrad_viz.metrics.fidelity import (
    MuFidelityPerturbations,
    mufidelity,
    mufidelity_perturbations,
    mufidelity_scores,
)
from forgrad_viz.metrics.ground_truth import localisation
from forgrad_viz.metrics.stats import auc, spearman

__all__ = [
    "BLUR_SIGMA_FRACTION",
    "DEFAULT_STEPS",
    "MuFidelityPerturbations",
    "auc",
    "blur",
    "deletion",
    "insertion",
    "localisation",
    "mufidelity",
    "mufidelity_perturbations",
    "mufidelity_scores",
    "perturbation_curves",
    "spearman",
]
