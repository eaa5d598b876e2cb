"""The progress bar of a sweep: forward passes (images through the model) counted as they happen.

The passes of the metrics are known before a round of work starts (Deletion/Insertion: ``2 n + k n (steps - 1)``
for ``k`` maps of a block of ``n`` images; MuFidelity: ``n (n_subsets + 1)`` per block) and set the bar's total
up front; the passes of the attributions and the target classes, which depend on the method, are added to the
total as they happen. The count only grows, and ends equal to the total.
"""

from __future__ import annotations

from tqdm.auto import tqdm

from forgrad_viz.metrics import DEFAULT_N_SUBSETS
from forgrad_viz.sweep.forward_counter import ForwardCounter
from forgrad_viz.sweep.protocol import Protocol

#: Stages whose forward passes are predicted by :meth:`Progress.expect_*` (the others join the total as they run).
PREDICTED = ("curves", "mufidelity")


class Progress:
    """A tqdm bar of forward passes fed by a :class:`ForwardCounter` (disabled with ``enabled=False``)."""

    def __init__(self, counter: ForwardCounter, protocol: Protocol, label: str, enabled: bool) -> None:
        self.protocol = protocol
        self.bar = tqdm(desc=label, disable=not enabled, unit="pass", total=0)
        self.total = 0
        counter.listener = self._forward

    def _forward(self, n: int, stage: str) -> None:
        if stage not in PREDICTED:
            self._grow(n)
        self.bar.update(n)

    def _grow(self, n: int) -> None:
        self.total += n
        self.bar.total = self.total
        self.bar.refresh()

    def expect_unit(self, n_images: int, n_maps: int) -> None:
        """A unit of ``n_maps`` maps on ``n_images`` images will be scored."""
        curves = sum(m in ("deletion", "insertion") for m in self.protocol.metrics)
        self._grow(curves * n_images * (2 + n_maps * (self.protocol.steps - 1)))

    def expect_block(self, n_images: int) -> None:
        """A block's shared work (MuFidelity's perturbed predictions) will be computed."""
        if "mufidelity" in self.protocol.metrics:
            n_subsets = self.protocol.mufidelity.get("n_subsets", DEFAULT_N_SUBSETS)
            self._grow(n_images * (n_subsets + 1))

    def close(self) -> None:
        self.bar.close()
