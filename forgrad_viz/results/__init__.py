"""Result containers: faithfulness scores, cutoff sweeps and architecture comparisons.

Each result keeps per-image values (so that confidence intervals can be computed over images), reports means and
bootstrap intervals, converts to plain dictionaries, saves to and loads from JSON, and plots itself (the plotting
code is imported only when ``.plot()`` is called).

Modules
-------
faithfulness
    :class:`FaithfulnessResult` (one metric's per-image scores and curves) and :data:`HIGHER_IS_BETTER`.
cutoff_sweep
    :class:`CutoffSweep` (scores per cutoff and image, merging of image shards) and :class:`BestCutoff`
    (sigma* with a bootstrap interval over images).
comparison
    :class:`ArchitectureComparison`: sweeps of several models and methods as rows, Markdown, CSV and JSON.
paired
    Paired statistics of a sweep: the gain of each cutoff over the unfiltered map with its paired interval, and
    the held-out gain (:class:`HeldOutGain`: sigma* chosen on other folds, scored on the fold left out).
versus_reference
    :func:`versus_reference`: FORGrad at held-out sigma* minus a black-box reference, paired
    (:class:`ReferenceDifference`).
best_cutoffs
    :func:`compare_best_cutoffs`: do two models' sigma* differ (:class:`CutoffComparison`)?
statistics
    :func:`bootstrap_ci` and the bootstrap resampling weights and checks shared by the containers.
serialization
    Arrays to and from JSON lists, JSON files tagged with the result type, text files.
"""

from forgrad_viz.results.best_cutoffs import CutoffComparison, compare_best_cutoffs
from forgrad_viz.results.comparison import ArchitectureComparison
from forgrad_viz.results.cutoff_sweep import BestCutoff, CutoffSweep
from forgrad_viz.results.faithfulness import HIGHER_IS_BETTER, FaithfulnessResult
from forgrad_viz.results.paired import HeldOutGain
from forgrad_viz.results.statistics import bootstrap_ci
from forgrad_viz.results.versus_reference import ReferenceDifference, versus_reference

__all__ = [
    "HIGHER_IS_BETTER",
    "ArchitectureComparison",
    "BestCutoff",
    "CutoffComparison",
    "CutoffSweep",
    "FaithfulnessResult",
    "HeldOutGain",
    "ReferenceDifference",
    "bootstrap_ci",
    "compare_best_cutoffs",
    "versus_reference",
]
