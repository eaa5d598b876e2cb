"""Frequency masks, low-pass filtering and the FORGrad pipeline, with cutoff-unit helpers.

Cutoff units
------------
A cutoff ``sigma`` is in *cycles per image*. On an ``H x W`` map the DFT bin with signed integer indices
``(ky, kx)`` (``ky`` in ``fftfreq(H) * H``, ``kx`` in ``rfftfreq(W) * W``) lies at the radius

    ``r = sqrt((ky / H) ** 2 + (kx / W) ** 2) * min(H, W)``

so on a square map ``r = sqrt(ky ** 2 + kx ** 2)``, the paper's radius in DFT bins (``sigma = 15`` at 224 x 224
is the paper's default). On a non-square map the kept region is a circle in physical frequency; odd and
non-square sizes are exact, nothing is resized. :func:`cutoff_to_nyquist` and :func:`nyquist_to_cutoff` convert
to and from a fraction of the Nyquist frequency of the shorter side (``min(H, W) / 2`` cycles per image), which
transfers across input resolutions.

Filter kinds (gain as a function of the radius ``r``, all equal to 1 at ``r = 0``):

* ``"ideal"``: 1 where ``r <= sigma`` (with a relative tolerance of 1e-9, so a bin lying exactly on the cutoff
  is kept, as in the paper), 0 elsewhere. This is the paper's filter.
* ``"gaussian"``: ``exp(-ln(2) / 2 * (r / sigma) ** 2)``: gain ``1 / sqrt(2)`` (-3 dB) at ``r = sigma``.
* ``"butterworth"``: ``1 / sqrt(1 + (r / sigma) ** (2 * order))``: gain ``1 / sqrt(2)`` at ``r = sigma``,
  steeper for a larger ``order``.

Inputs are real maps, torch tensors on any device or numpy arrays (numpy in, numpy out, same dtype). float32 and
float64 are computed in their own precision; float16 and bfloat16 are computed in float32 and cast back. The
results are not differentiable (computed on detached tensors).

Edges: the FFT treats a map as periodic, so at a low cutoff a region at one edge spreads onto the opposite one.
``padding="reflect"`` or ``"zero"`` (:func:`lowpass`, :func:`forgrad`, :func:`iter_forgrad`) pads each side by
half the map, filters at the same cutoff in cycles per original image and crops back; ``padding=None`` (the
default) is the paper's periodic filter, bit for bit.

Performance: one forward ``rfft2`` serves every cutoff. The masked inverse transforms run in tiles of about
2 MiB on the CPU (so that each tile's spectrum and output stay in cache, several times faster than one huge
batched ``irfft2``) and in large batches on CUDA, writing straight into the preallocated output.

Modules
-------
cutoffs
    Cutoff units: the radius grid of the ``rfft2`` bins, parsing of cutoffs, conversions to and from fractions of
    Nyquist, the largest useful cutoff and default log-spaced cutoffs.
padding
    Padding the maps by half their size (reflect or zero) before the FFT and cropping them back.
masks
    The filter kinds and their gains on the ``rfft2`` bins (:func:`frequency_mask`), cached per size and cutoffs.
maps
    Validation of the input maps and the conversion back to the caller's type and dtype.
filtering
    :func:`lowpass`, :func:`forgrad` and :func:`iter_forgrad`: one forward FFT, tiled masked inverse FFTs.
"""

from forgrad_viz.filters.cutoffs import (
    cutoff_to_nyquist,
    default_cutoffs,
    frequency_radius,
    max_cutoff,
    nyquist_to_cutoff,
)
from forgrad_viz.filters.filtering import forgrad, iter_forgrad, lowpass
from forgrad_viz.filters.masks import KINDS, frequency_mask
from forgrad_viz.filters.padding import PADDINGS

__all__ = [
    "KINDS",
    "PADDINGS",
    "cutoff_to_nyquist",
    "default_cutoffs",
    "forgrad",
    "frequency_mask",
    "frequency_radius",
    "iter_forgrad",
    "lowpass",
    "max_cutoff",
    "nyquist_to_cutoff",
]
