"""The filter's thread count follows the machine's load, and its results never do."""

from __future__ import annotations

import time

import pytest
import torch

from forgrad_viz import _cpu_load
from forgrad_viz.benchmarks.load import busy_processes
from forgrad_viz.filters import default_cutoffs, filtering, forgrad, iter_forgrad, lowpass
from forgrad_viz.filters import threads as filter_threads

needs_two_cores = pytest.mark.skipif(_cpu_load.usable_cores() < 2, reason="needs 2 cores")


@pytest.fixture
def two_threads():
    """torch on 2 threads for the test, a fresh verdict cache, and both restored afterwards."""
    before, cache = torch.get_num_threads(), dict(filter_threads._SAME_BITS)
    torch.set_num_threads(2)
    filter_threads._SAME_BITS.clear()
    yield
    torch.set_num_threads(before)
    filter_threads._SAME_BITS.clear()
    filter_threads._SAME_BITS.update(cache)


@pytest.fixture
def thread_counts(monkeypatch):
    """The thread counts the filter's calls ran on (recorded from its ``torch_threads`` blocks)."""
    seen: list[int] = []
    original = filtering.torch_threads

    def recording(threads: int):
        seen.append(threads)
        return original(threads)

    monkeypatch.setattr(filtering, "torch_threads", recording)
    return seen


def _taken(monkeypatch, free: int) -> None:
    """Pretend other processes leave ``free`` cores."""
    monkeypatch.setattr(filter_threads, "recent_free_cores", lambda: free)


@needs_two_cores
@pytest.mark.parametrize("size", [224, 64, 97])
def test_results_are_the_same_bits_whatever_the_load(two_threads, thread_counts, monkeypatch, size):
    generator = torch.Generator().manual_seed(size)
    attributions = torch.randn(40, 3, size, size, generator=generator)
    cutoffs = default_cutoffs(size, size, 16)
    free_machine = forgrad(attributions, cutoffs)
    chunks_free = torch.cat([maps for _, maps in iter_forgrad(attributions, cutoffs, chunk_size=6)])
    _taken(monkeypatch, free=1)
    thread_counts.clear()
    busy_machine = forgrad(attributions, cutoffs)
    chunks_busy = torch.cat([maps for _, maps in iter_forgrad(attributions, cutoffs, chunk_size=6)])
    assert torch.equal(free_machine, busy_machine) and torch.equal(chunks_free, chunks_busy)
    assert torch.equal(chunks_free, free_machine)
    assert torch.get_num_threads() == 2
    # fewer threads only where this machine's FFT was checked to give the same bits on 1 and 2 threads (a call
    # whose transforms all agree runs on 1; a call with one that differs stays on 2)
    verdicts = list(filter_threads._SAME_BITS.values())
    assert verdicts  # measured, not assumed
    assert (1 in thread_counts) == any(verdicts) and (2 in thread_counts) == (not all(verdicts))


@needs_two_cores
def test_fewer_threads_only_when_cores_are_taken_and_the_call_is_large(
    two_threads, thread_counts, monkeypatch
):
    maps = torch.rand(32, 224, 224, dtype=torch.float64)
    cpu = torch.device("cpu")
    _taken(monkeypatch, free=2)
    assert filter_threads.fft_threads(cpu, 2**24, [("irfft2", 4)], 224, 224, torch.float64) == 2
    _taken(monkeypatch, free=1)
    assert filter_threads.fft_threads(cpu, 2**10, [("irfft2", 4)], 224, 224, torch.float64) == 2  # small call
    assert (
        filter_threads.fft_threads(torch.device("meta"), 2**24, [("irfft2", 4)], 224, 224, torch.float64) == 2
    )
    lowpass(maps, [4.0, 8.0])
    assert thread_counts == [1, 1]  # forward and inverse transforms (224 x 224 gives the same bits here)
    torch.set_num_threads(1)
    assert filter_threads.fft_threads(cpu, 2**24, [("irfft2", 4)], 224, 224, torch.float64) == 1


def test_same_bits_refuses_a_transform_whose_bits_change_with_the_thread_count(two_threads, monkeypatch):
    def thread_dependent(kind, batch, height, width, dtype):
        return torch.full((batch, height, width), 1.0 + torch.get_num_threads() * 1e-7, dtype=dtype)

    monkeypatch.setattr(filter_threads, "_transform", thread_dependent)
    _taken(monkeypatch, free=1)
    assert filter_threads.same_bits("irfft2", 3, 8, 8, torch.float32, 1) is False
    assert filter_threads.fft_threads(torch.device("cpu"), 2**24, [("irfft2", 3)], 8, 8, torch.float32) == 2
    monkeypatch.setattr(
        filter_threads, "_transform", lambda kind, batch, h, w, dtype: torch.zeros(batch, h, w)
    )
    assert (
        filter_threads.same_bits("irfft2", 3, 8, 8, torch.float32, 1) is False
    )  # remembered, not re-measured
    assert filter_threads.same_bits("irfft2", 5, 8, 8, torch.float32, 1) is True


def test_torch_threads_restores_the_count_after_an_error(two_threads):
    with pytest.raises(RuntimeError, match="inside"), filter_threads.torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == 2


@needs_two_cores
def test_with_real_busy_processes_the_filter_uses_one_thread_and_the_same_bits(two_threads, thread_counts):
    attributions = torch.randn(40, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    cutoffs = default_cutoffs(224, 224, 16)
    _cpu_load._last_reading.clear()
    free_machine = forgrad(attributions, cutoffs)
    with busy_processes(2):
        time.sleep(0.3)
        _cpu_load._last_reading.clear()  # no reading from before the load
        thread_counts.clear()
        busy_machine = forgrad(attributions, cutoffs)
    _cpu_load._last_reading.clear()
    assert torch.equal(free_machine, busy_machine)
    assert thread_counts and set(thread_counts) == ({1} if all(filter_threads._SAME_BITS.values()) else {2})
    assert torch.get_num_threads() == 2
