"""The OpenMP wait policy chosen at import: spin on a free machine, sleep on a busy one.

torch runs its CPU work on OpenMP threads that spin for a while after each parallel region, waiting for the next.
On a free machine that is the fastest choice; on a machine that is doing other things too, each spinning thread
burns a time slice another process needed. Measured on 2 cores (fresh processes, medians): ``OMP_WAIT_POLICY=PASSIVE``
(sleep at once) cost 39% on ``forgrad`` and 10% on ``deletion`` when the machine was free, and saved 53% and 44%
with two busy processes running. The policy is read once, when torch starts its threads, so it is chosen here,
before torch is imported, from the load seen at that moment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

#: The policy set when the machine is busy at import.
BUSY_POLICY = "PASSIVE"
#: Environment variables through which a user chooses the policy (then forgrad_viz leaves it alone).
USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_is_busy(loadavg: str | os.PathLike = "/proc/loadavg", cores: int | None = None) -> bool:
    """Whether other processes compete for the cores now: one runnable besides this one, or a full minute's load.

    ``/proc/loadavg`` reads ``"1-min 5-min 15-min running/total last-pid"``; ``running`` counts this process.
    Without that file (not Linux) the machine counts as free.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix="loadavg", delete=False) as handle:
    ...     _ = handle.write("0.10 0.20 0.30 3/200 999")
    >>> machine_is_busy(handle.name, cores=2)
    True
    """
    try:
        fields = Path(loadavg).read_text().split()
        one_minute, running = float(fields[0]), int(fields[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return False
    cores = usable_cores() if cores is None else cores
    return running - 1 >= 1 or one_minute >= cores


def choose_wait_policy(
    environ: MutableMapping[str, str], modules: Mapping[str, object], busy: bool
) -> str | None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` in ``environ`` when the machine is busy; return what was set (or None).

    Nothing is set when the user chose a policy (``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``), when torch is already
    imported (too late: its threads read the policy when they start) or when the machine is free.

    Examples
    --------
    >>> environ = {}
    >>> choose_wait_policy(environ, {}, busy=True), environ
    ('PASSIVE', {'OMP_WAIT_POLICY': 'PASSIVE'})
    >>> choose_wait_policy({"OMP_WAIT_POLICY": "ACTIVE"}, {}, busy=True) is None
    True
    """
    if not busy or "torch" in modules or any(name in environ for name in USER_SETTINGS):
        return None
    environ["OMP_WAIT_POLICY"] = BUSY_POLICY
    return BUSY_POLICY
