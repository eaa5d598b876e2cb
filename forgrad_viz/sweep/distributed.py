"""Sweeps across processes with ``torch.distributed``: the process group, each rank's share, gathering results.

Launch a script (or ``python -m forgrad_viz sweep``) with ``torchrun --nproc-per-node K ...``; inside,
:func:`distributed_session` initialises the process group from torchrun's environment variables (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), NCCL on CUDA and gloo on the CPU, and always
destroys it. :func:`~forgrad_viz.sweep.sweep_cutoffs` and :func:`~forgrad_viz.sweep.compare_architectures` then
run distributed by themselves: rank ``r`` scores a contiguous share of the blocks (:func:`block_share`), and the
per-image scores are exchanged with ``all_gather_object`` after each round of work, so that every rank returns
the same, full result (identical to a single-process run on the CPU).

Examples
--------
>>> rank_info()  # outside torchrun
RankInfo(rank=0, world_size=1, local_rank=0)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, NamedTuple

import torch
import torch.distributed as dist

#: How long a collective waits for the other ranks before the run fails (a rank that died or hangs).
DEFAULT_TIMEOUT = timedelta(minutes=30)


class RankInfo(NamedTuple):
    """This process's place in the run: global rank, number of processes, rank on this node."""

    rank: int
    world_size: int
    local_rank: int


def is_active() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank_info() -> RankInfo:
    """Rank, world size and local rank of this process (0, 1, 0 outside a process group)."""
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if is_active():
        return RankInfo(dist.get_rank(), dist.get_world_size(), local)
    return RankInfo(0, 1, 0)


@contextlib.contextmanager
def distributed_session(
    backend: str | None = None, timeout: timedelta | float = DEFAULT_TIMEOUT
) -> Iterator[RankInfo]:
    """Initialise the process group from torchrun's environment, yield :func:`rank_info`, always destroy it.

    Parameters
    ----------
    backend : str, optional
        ``"nccl"`` when CUDA is available, else ``"gloo"`` (default).
    timeout : timedelta or float (seconds)
        How long a collective waits for the other ranks before raising: a rank that fails or hangs makes the
        others fail after at most this long (torchrun usually stops them sooner).

    Examples
    --------
    >>> with distributed_session() as info:  # doctest: +SKIP
    ...     sweep = fv.sweep_cutoffs(model, dataset)  # each rank sweeps its share; all get the whole result
    """
    if is_active():  # someone else owns the group
        yield rank_info()
        return
    missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise RuntimeError(
            f"distributed_session needs torchrun's environment variables; {missing} are not set "
            "(launch with: torchrun --nproc-per-node K script.py)"
        )
    if not isinstance(timeout, timedelta):
        timeout = timedelta(seconds=float(timeout))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend or ("nccl" if cuda else "gloo"), timeout=timeout)
    try:
        yield rank_info()
    finally:
        dist.destroy_process_group()


def use_distributed(distributed: bool | None) -> bool:
    """Whether a sweep runs distributed: ``None`` follows the process group, ``True`` requires one."""
    if distributed is None:
        return is_active()
    if not isinstance(distributed, bool):
        raise TypeError(f"distributed must be None, True or False; got {distributed!r}")
    if distributed and not is_active():
        raise RuntimeError(
            "distributed=True needs an initialised torch.distributed process group "
            "(use forgrad_viz.sweep.distributed_session under torchrun)"
        )
    return distributed


def rank_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", rank_info().local_rank)
    return torch.device("cpu")


def block_share(n_blocks: int, rank: int, world_size: int) -> list[int]:
    """The blocks of rank ``rank``: a contiguous share, sizes differing by at most one.

    Examples
    --------
    >>> [block_share(5, r, 2) for r in range(2)]
    [[0, 1], [2, 3, 4]]
    """
    return list(range(rank * n_blocks // world_size, (rank + 1) * n_blocks // world_size))


def all_gather(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable: numpy arrays, dicts), in rank order, on every rank."""
    out: list[Any] = [None] * dist.get_world_size()
    try:
        dist.all_gather_object(out, value)
    except Exception as error:
        raise RuntimeError(
            f"rank {dist.get_rank()}: gathering the sweep's results failed; another rank failed or did not "
            f"answer in time ({error})"
        ) from error
    return out
