"""The OpenMP wait policy chosen at import: spin on a free machine, sleep on a busy one.

torch runs its CPU work on OpenMP threads that spin for a while after each parallel region, waiting for the next.
On a free machine that is the fastest choice; on a machine that is doing other things too, each spinning thread
burns a time slice another process needed. Measured on 2 cores (fresh processes, medians): ``OMP_WAIT_POLICY=PASSIVE``
(sleep at once) cost 39% on ``forgrad`` and 10% on ``deletion`` when the machine was free, and saved 53% and 44%
with two busy processes running. The policy is read once, when torch starts its threads, so it is chosen here,
before torch is imported, from the other processes' demand at that moment (see :mod:`forgrad_viz._cpu_load`).
Load that arrives later is met by :func:`forgrad_viz._cpu_load.threads_for_free_cores` where results allow it.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from forgrad_viz._cpu_load import runnable_elsewhere

#: The policy set when the machine is busy at import.
BUSY_POLICY = "PASSIVE"
#: Environment variables through which a user chooses the policy (then forgrad_viz leaves it alone).
USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def machine_is_busy(**reading: object) -> bool:
    """Whether another process wants a core now (:func:`~forgrad_viz._cpu_load.runnable_elsewhere` >= 1).

    The median of a few readings, not one: a single reading of ``/proc/loadavg`` at the start of a process saw
    another runnable task in 2 of 6 imports on an idle machine (and so slowed them by choosing PASSIVE). The
    load averages are not used: they stay high for a minute after a job ends, this process's own previous job
    included. Keyword arguments go to ``runnable_elsewhere`` (tests give it other files).

    Examples
    --------
    >>> machine_is_busy(samples=1, loadavg="/nonexistent")  # nothing known: the machine counts as free
    False
    """
    return runnable_elsewhere(**reading) >= 1


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
