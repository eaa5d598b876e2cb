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

Modules
-------
api
    :func:`explain`: validates a call, runs the method with the model in eval mode, checks the maps.
methods
    :class:`MethodInfo` and the registry :data:`METHODS`: each method's kind, options, output shape and cost in
    model passes.
options
    Validation of the method options (an option name means the same for every method that takes it).
jobs
    One validated call as a job, and the batching every method shares: chunks of images sized to a number of
    model inputs per pass, halved on CUDA out-of-memory errors.
white_box
    The Captum-backed gradient methods: Saliency, Gradient x Input, Integrated Gradients, the noise tunnels
    (SmoothGrad, SquareGrad, VarGrad), Guided Backprop and Grad-CAM.
black_box
    The forward-only references: Occlusion and RISE.
"""

from forgrad_viz.attribution.api import explain
from forgrad_viz.attribution.methods import METHODS, MethodInfo

__all__ = ["METHODS", "MethodInfo", "explain"]
