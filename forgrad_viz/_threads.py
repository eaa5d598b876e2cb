"""Torch thread counts that follow the cores other processes leave free, where the results stay the same bits.

torch's OpenMP threads spin while they wait for each other. With more threads than free cores (other processes
started after torch, so the wait policy chosen at import could not help), every parallel region waits for a thread
that has no core. Measured on 2 cores with two busy processes started after torch: ``forgrad`` 5.8x slower than
idle on 2 threads, 2.1x on 1; Deletion + MuFidelity on the demo CNN 4.5x on 2 threads, 2.7x on 1.

Results must not depend on the machine's load, and fewer threads do not always give the same bits: MKL's inverse
FFT of 16, 32 and 64-pixel maps differs in the last bit between 1 and 2 threads, and so do some models' logits
(EfficientNet-Lite0, up to 8e-6). So a computation runs on fewer threads only once it was checked to give the same
bits there: :class:`SameBits` runs it at both counts, once per key (its shapes, dtype, the two counts), and keeps the
verdict for the process. Only spinning threads are worth fewer: with ``OMP_WAIT_POLICY=PASSIVE`` (set at import on a
busy machine) the count stays (see :func:`wanted_threads`).

Examples
--------
>>> with torch_threads(1):
...     torch.get_num_threads()
1
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Hashable, Iterator

import torch

from forgrad_viz._cpu_load import recent_free_cores

_CHECKING = contextvars.ContextVar("forgrad_viz_thread_check", default=False)


@contextlib.contextmanager
def thread_check() -> Iterator[None]:
    """Mark the block as a repeat run for a bit-for-bit check (forward counters do not count it).

    Examples
    --------
    >>> with thread_check():
    ...     in_thread_check()
    True
    >>> in_thread_check()
    False
    """
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def in_thread_check() -> bool:
    """Whether the caller runs inside :func:`thread_check`."""
    return _CHECKING.get()


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block on ``threads`` torch threads (nothing changes when it is the current count); restore after.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     pass
    >>> torch.get_num_threads() == before
    True
    """
    current = torch.get_num_threads()
    if threads == current:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(current)


def threads_spin() -> bool:
    """Whether torch's OpenMP threads spin while they wait (anything but ``OMP_WAIT_POLICY=PASSIVE``).

    Examples
    --------
    >>> import os
    >>> threads_spin() == (os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE")
    True
    """
    return os.environ.get("OMP_WAIT_POLICY", "").strip().upper() != "PASSIVE"


def wanted_threads(device: torch.device, full: int | None = None) -> int:
    """``min(full, free cores)`` for CPU work whose threads spin; ``full`` otherwise (torch's count by default).

    Sleeping threads (``OMP_WAIT_POLICY=PASSIVE``, which forgrad_viz sets when the machine is busy at import) waste
    no time slice while they wait, and more of them get more of a shared machine: measured in fresh processes on
    2 cores with two busy processes, Deletion took 1.11 s on 2 sleeping threads and 1.76 s on 1 thread. So the count
    is only lowered when the threads spin.

    Examples
    --------
    >>> 1 <= wanted_threads(torch.device("cpu")) <= torch.get_num_threads()
    True
    """
    full = torch.get_num_threads() if full is None else full
    if device.type != "cpu" or full == 1 or not threads_spin():
        return full
    return min(full, recent_free_cores())


def same_tensors(first: object, second: object) -> bool:
    """Whether both are tensors with the same shape, dtype and bits (anything else counts as different).

    Examples
    --------
    >>> same_tensors(torch.zeros(2), torch.zeros(2)), same_tensors(torch.zeros(2), -torch.zeros(2)), same_tensors(1, 1)
    (True, True, False)
    """
    return (
        isinstance(first, torch.Tensor)
        and isinstance(second, torch.Tensor)
        and first.dtype == second.dtype
        and torch.equal(first, second)
    )


class SameBits:
    """Verdicts, per key, on whether a computation gives the same bits on fewer threads than the current count.

    Examples
    --------
    >>> verdicts = SameBits()
    >>> verdicts.check(("sum", 3), lambda: torch.arange(3.0).sum(), threads=1)
    True
    >>> ("sum", 3, 1, torch.get_num_threads()) in verdicts.known
    True
    """

    def __init__(self) -> None:
        self.known: dict[Hashable, bool] = {}

    def check(self, key: tuple, compute: Callable[[], object], threads: int) -> bool:
        """Whether ``compute()`` gives equal tensors on ``threads`` threads and on the current count.

        Measured on the first call for ``key`` (extended with both counts), remembered afterwards. An output that
        is not a tensor counts as different (nothing is assumed).
        """
        full = (*key, threads, torch.get_num_threads())
        if full not in self.known:
            reference = compute()
            with torch_threads(threads):
                candidate = compute()
            self.known[full] = same_tensors(reference, candidate)
        return self.known[full]
