"""One progress bar of forward passes for a whole job: its total from the plan, its ETA from smoothed throughput.

A :class:`Progress` is created from a :class:`~forgrad_viz.sweep.plan.Plan` (the exact count of the work, or its
upper bound for a ``"refine"`` search) and fed by the :class:`~forgrad_viz.sweep.forward_counter.ForwardCounter`
of each sweep it covers (:func:`feed`): one bar for every method and reference of a call, or, passed as
``progress=`` to several calls, for all of them. The count only grows; the total never changes for an exact plan
(an upper bound drops to the count done when its sweep ends, so the bar ends full). The ETA divides the passes
left by a rate that moves slowly (:class:`Throughput`: a moving average over :data:`TIME_CONSTANT` seconds,
starting from the probe's rate), not by the rate of the last few batches.

Distributed (under ``torchrun``), every rank adds its passes to a counter in the process group's store (at most
every :data:`PUSH_SECONDS`) and rank 0's bar shows the sum over the ranks, read by a thread every
:data:`PUSH_SECONDS`; at the end of each sweep it shows the count gathered from every rank.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from tqdm.auto import tqdm

from forgrad_viz.sweep.distributed import all_gather
from forgrad_viz.sweep.forward_counter import ForwardCounter
from forgrad_viz.sweep.plan import Plan

#: Seconds over which the rate behind the ETA is averaged (older work weighs ``exp(-age / TIME_CONSTANT)``).
TIME_CONSTANT = 120.0
#: Weight, in seconds of work, of the probe's rate before anything is measured.
PRIOR_SECONDS = 10.0
#: How often a rank of a distributed run shares its count, and rank 0 reads the sum.
PUSH_SECONDS = 0.5
_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} passes [{elapsed}{postfix}]"


class Throughput:
    """Forward passes per second, averaged over time with a time constant, starting from a prior rate.

    Passes done ``age`` seconds ago weigh ``exp(-age / time_constant)``, in the count and in the time alike, so
    a short slow stage (a block's attributions) moves the rate little while a lasting change (load that arrives
    mid-run) takes over within a few time constants.

    Examples
    --------
    >>> rate = Throughput(prior=100.0, now=0.0)  # the probe's 100 passes/s, weighing 10 s of work
    >>> rate.add(500, now=10.0)  # 50 passes/s measured for 10 s
    >>> round(rate.rate)
    74
    """

    def __init__(
        self,
        prior: float | None = None,
        now: float | None = None,
        time_constant: float = TIME_CONSTANT,
        prior_seconds: float = PRIOR_SECONDS,
    ) -> None:
        self.time_constant = time_constant
        self.passes = 0.0 if prior is None else prior * prior_seconds
        self.seconds = 0.0 if prior is None else prior_seconds
        self.last = time.perf_counter() if now is None else now

    def add(self, n: int, now: float | None = None) -> None:
        """``n`` passes were done since the last call."""
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self.last, 0.0)
        decay = math.exp(-elapsed / self.time_constant)
        self.passes = self.passes * decay + n
        self.seconds = self.seconds * decay + elapsed
        self.last = now

    @property
    def rate(self) -> float | None:
        """Passes per second, or None before anything is known."""
        return self.passes / self.seconds if self.seconds > 0 and self.passes > 0 else None


class Progress:
    """A tqdm bar of the forward passes of a job (disabled with ``enabled=False``).

    Parameters
    ----------
    plan : Plan or int
        The job's :class:`~forgrad_viz.sweep.plan.Plan` (its total and probe rate) or a total.
    label : str, optional
        The bar's description (default: the plan's label).
    enabled : bool
        Show the bar.

    Examples
    --------
    >>> bar = Progress(46, "sweep", enabled=False)
    >>> bar.advance(44); bar.settle(planned=46, done=44); (bar.n, bar.total)  # 2 passes fewer than planned
    (44, 44)
    >>> bar.close()
    """

    def __init__(self, plan: Plan | int, label: str | None = None, enabled: bool = True) -> None:
        if isinstance(plan, Plan):
            total, prior, self.exact = (
                plan.forward_passes,
                plan.probe.rate if plan.probe else None,
                plan.exact,
            )
            label = plan.label if label is None else label
        elif isinstance(plan, int) and not isinstance(plan, bool) and plan >= 0:
            total, prior, self.exact = plan, None, True
        else:
            raise TypeError(f"plan must be a Plan or a count of forward passes >= 0; got {plan!r}")
        self.n, self.total, self.expected = 0, total, total
        self.throughput = Throughput(prior)
        self._shown = 0.0
        self.bar = tqdm(
            total=total, desc=label or "sweep", disable=not enabled, unit="pass", bar_format=_BAR_FORMAT
        )

    def advance(self, n: int) -> None:
        """``n`` more forward passes are done."""
        if n <= 0:
            return
        self.n += n
        if self.n > self.total:  # a plan that missed work (a bug): the bar does not pass 100%
            self._show_total(self.n)
        self.throughput.add(n)
        now = time.perf_counter()
        if now - self._shown >= 1.0:
            self._shown = now
            self.bar.set_postfix_str(self.eta_text(), refresh=False)
        self.bar.update(n)

    def eta_text(self) -> str:
        """``"ETA m:ss at R passes/s"`` from the smoothed rate (``"ETA <= ..."`` for an upper bound)."""
        rate = self.throughput.rate
        if rate is None:
            return ""
        seconds = round((self.total - self.n) / rate)
        minutes, rest = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        left = f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"
        return f"ETA {'' if self.exact else '<= '}{left} at {rate:,.0f} passes/s"

    def settle(self, planned: int, done: int) -> None:
        """A sweep planned at ``planned`` passes ended after ``done`` (all ranks): its count replaces its plan."""
        self.expected += done - planned
        self._show_total(max(self.expected, self.n))

    def _show_total(self, total: int) -> None:
        self.total = total
        self.bar.total = total
        self.bar.refresh()

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


class _Shared:
    """This rank's passes added to a counter in the process group's store, read by rank 0."""

    def __init__(self, key: str) -> None:
        from torch.distributed.distributed_c10d import _get_default_store

        self.store, self.key = _get_default_store(), key
        self.pending, self.last = 0, time.perf_counter()

    def push(self, n: int, force: bool = False) -> None:
        self.pending += n
        if self.pending and (force or time.perf_counter() - self.last >= PUSH_SECONDS):
            self.store.add(self.key, self.pending)
            self.pending, self.last = 0, time.perf_counter()

    def total(self) -> int:
        return int(self.store.add(self.key, 0))


@contextlib.contextmanager
def feed(
    counter: ForwardCounter, bar: Progress | None, planned: int, distributed: bool
) -> Iterator[Callable[[int], None]]:
    """Feed ``bar`` (or nothing) from ``counter`` during one model's sweeps, planned at ``planned`` passes.

    Yields ``finish(done)``, to call with the passes the sweeps did (summed over the ranks): the bar then shows
    exactly that count and the total takes it in place of the plan. Distributed, every rank shares its count (a
    rank without a bar too) and rank 0's bar follows the sum.
    """
    base = 0 if bar is None else bar.n

    def settle(done: int) -> None:
        if bar is not None:
            bar.advance(base + done - bar.n)
            bar.settle(planned, done)

    if not distributed:
        if bar is not None:
            counter.listener = lambda n, _stage: bar.advance(n)
        try:
            yield settle
        finally:
            counter.listener = None
        return
    shared = _Shared(f"forgrad_viz/progress/{all_gather(uuid.uuid4().hex)[0]}")
    counter.listener = lambda n, _stage: shared.push(n)
    stop = threading.Event()
    reader = None
    if bar is not None:

        def follow() -> None:
            while not stop.wait(PUSH_SECONDS):
                bar.advance(base + shared.total() - bar.n)

        reader = threading.Thread(target=follow, name="forgrad_viz progress", daemon=True)
        reader.start()

    def finish(done: int) -> None:
        shared.push(0, force=True)
        stop.set()
        if reader is not None:
            reader.join()
        settle(done)

    try:
        yield finish
    finally:
        stop.set()
        if reader is not None:
            reader.join()
        counter.listener = None


def start(plans: Sequence[Plan], label: str, enabled: bool = True, **describe: str) -> Progress:
    """Print the plans, added up, as one paragraph on stderr (through tqdm, so that no bar is broken; ``describe``
    goes to :meth:`Plan.describe`) and return one bar for all of them (shown if ``enabled``)."""
    plan = replace(sum(plans[1:], plans[0]), label=label)
    tqdm.write(plan.describe(**describe), file=sys.stderr)
    return Progress(plan, enabled=enabled)
