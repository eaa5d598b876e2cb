"""The filter's thread count follows the machine's load, and its results never do."""

from __future__ import annotations

import time

import pytest
import torch

from forgrad_viz import _cpu_load, _threads
from forgrad_viz.benchmarks.load import busy_processes
from forgrad_viz.filters import default_cutoffs, filtering, forgrad, iter_forgrad, lowpass
from forgrad_viz.filters import threads as filter_threads

needs_two_cores = pytest.mark.skipif(_cpu_load.usable_cores() < 2, reason="needs 2 cores")


@pytest.fixture
def two_threads(monkeypatch):
    """torch on 2 spinning threads for the test, a fresh verdict cache, and both restored afterwards.

    (``import forgrad_viz`` on a busy machine sets ``OMP_WAIT_POLICY=PASSIVE``, under which counts never drop.)
    """
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    before, cache = torch.get_num_threads(), dict(filter_threads.VERDICTS.known)
    torch.set_num_threads(2)
    filter_threads.VERDICTS.known.clear()
    yield
    torch.set_num_threads(before)
    filter_threads.VERDICTS.known.clear()
    filter_threads.VERDICTS.known.update(cache)


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
    monkeypatch.setattr(_threads, "recent_free_cores", lambda: free)


@needs_two_cores
@pytest.mark.parametrize("size", [224, 64, 97])
def test_results_are_the_same_bits_whatever_the_load(two_threads, thread_counts, monkeypatch, size):
    generator = torch.Generator().manual_seed(size)
    attributions = torch.randn(40, 3, size, size, generator=generator)
    cutoffs = default_cutoffs(size, size, 16)
    _taken(monkeypatch, free=2)
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
    verdicts = list(filter_threads.VERDICTS.known.values())
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
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")  # sleeping threads: more of them get more of the machine
    assert filter_threads.fft_threads(cpu, 2**24, [("irfft2", 4)], 224, 224, torch.float64) == 2
    monkeypatch.delenv("OMP_WAIT_POLICY")
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
    with pytest.raises(RuntimeError, match="inside"), _threads.torch_threads(1):
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
    assert thread_counts and set(thread_counts) == (
        {1} if all(filter_threads.VERDICTS.known.values()) else {2}
    )
    assert torch.get_num_threads() == 2


class _ThreadCountModel(torch.nn.Module):
    """Logits that record the thread count they ran on; ``drift`` adds it in the last bits (as some models do)."""

    def __init__(self, drift: bool) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3 * 8 * 8, 3)
        self.drift = drift
        self.counts: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.counts.append(torch.get_num_threads())
        logits = self.linear(x.flatten(1))
        return logits + torch.get_num_threads() * 1e-6 if self.drift else logits


@needs_two_cores
@pytest.mark.parametrize("drift", [False, True])
def test_metric_forward_passes_follow_the_load_only_where_bits_agree(two_threads, monkeypatch, drift):
    from forgrad_viz.metrics import _forward, deletion

    torch.manual_seed(0)
    model = _ThreadCountModel(drift)
    images, maps = torch.rand(8, 3, 8, 8), torch.rand(8, 8, 8)
    _taken(monkeypatch, free=2)
    free_machine = deletion(model, images, maps, steps=16, batch_size=4).scores
    _taken(monkeypatch, free=1)
    model.counts.clear()
    busy_machine = deletion(model, images, maps, steps=16, batch_size=4).scores
    assert (free_machine == busy_machine).all()  # the same bits whatever the load
    assert torch.get_num_threads() == 2
    verdicts = _forward._VERDICTS[model]
    assert verdicts == {((4, 3, 8, 8), torch.float32, 1, 2): not drift}
    # forward passes: the target logits (2 chunks of 4, run as they are, on 2 threads), the baseline scores (2
    # chunks) and the curves' interior (8 images x 15 steps = 30 chunks); the first scored chunk is the probe, run
    # on both counts
    if drift:  # the probe's pass on 1 thread; the probe's other pass and everything else on 2
        assert (model.counts.count(1), model.counts.count(2)) == (1, 2 + 1 + 31)
    else:  # every scored chunk on 1 thread; the target logits and the probe's other pass on 2
        assert (model.counts.count(1), model.counts.count(2)) == (32, 2 + 1)


@needs_two_cores
def test_demo_cnn_scores_under_real_load_are_the_same_bits(two_threads):
    from forgrad_viz import models
    from forgrad_viz.data import shapes_dataset
    from forgrad_viz.metrics import _forward, mufidelity

    model = models.load_demo("maxpool_cnn")
    images = shapes_dataset(8, size=64, seed=3).images
    maps = torch.rand(8, 64, 64, generator=torch.Generator().manual_seed(3))
    _cpu_load._last_reading.clear()
    free_machine = mufidelity(model, images, maps, n_subsets=32, batch_size=16).scores
    with busy_processes(2):
        time.sleep(0.3)
        _cpu_load._last_reading.clear()
        busy_machine = mufidelity(model, images, maps, n_subsets=32, batch_size=16).scores
    _cpu_load._last_reading.clear()
    assert (free_machine == busy_machine).all()
    assert _forward._VERDICTS[model] == {((16, 3, 64, 64), torch.float32, 1, 2): True}
    assert torch.get_num_threads() == 2


@needs_two_cores
def test_a_sweep_counts_the_same_forward_passes_and_scores_whatever_the_load(two_threads, monkeypatch):
    from forgrad_viz import models
    from forgrad_viz.data import shapes_dataset
    from forgrad_viz.metrics import _forward
    from forgrad_viz.sweep import sweep_cutoffs

    model = models.load_demo("strided_cnn")
    images = shapes_dataset(6, size=64, seed=5).images
    options = dict(cutoffs=[4.0, 16.0], steps=4, mufidelity={"n_subsets": 8}, batch_size=8, progress=False)
    _taken(monkeypatch, free=2)
    free_machine = sweep_cutoffs(model, images, **options)
    _taken(monkeypatch, free=1)
    busy_machine = sweep_cutoffs(model, images, **options)
    assert _forward._VERDICTS[model]  # the bit-for-bit checks ran (with their repeat passes)
    assert busy_machine.params["forward_passes"] == free_machine.params["forward_passes"]
    assert busy_machine.params["forward_passes_by_stage"] == free_machine.params["forward_passes_by_stage"]
    for metric in free_machine.scores:
        assert (busy_machine.scores[metric] == free_machine.scores[metric]).all()
