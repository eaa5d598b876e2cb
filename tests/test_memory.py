"""Working-memory budgets: measured activation memory, the sizes derived from a budget, and a 224-pixel sweep whose
peak resident memory (measured in a subprocess) stays within its budget."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from forgrad_viz import _memory
from forgrad_viz._memory import (
    BACKWARD_MARGIN,
    FORWARD_MARGIN,
    RESERVED_BYTES,
    activation_bytes,
    check_memory_budget,
)
from forgrad_viz.sweep.arguments import check_settings
from forgrad_viz.sweep.memory import BYTES_PER_MAP_PIXEL, plan_memory

ROOT = Path(__file__).resolve().parents[1]


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1000), nn.ReLU(), nn.Linear(1000, 10))


def settings(**changes):
    arguments = dict(
        cutoffs=None,
        kind="ideal",
        search="grid",
        order=2,
        padding=None,
        block_size=32,
        chunk_size=None,
        seed=0,
        memory_budget=None,
        metrics=("deletion",),
        steps=20,
        deletion_baseline=0.0,
        insertion_baseline="blur",
        score="probability",
        mufidelity=None,
        batch_size=None,
        precision="fp32",
        backend="torch",
    )
    arguments.update(changes)
    return check_settings((3, 16, 16), **arguments)


def test_activation_bytes_of_a_known_network():
    model = mlp()
    # inference: the first layer's output (1000 floats) and the ReLU's are alive together; Flatten is a view
    forward = math.ceil(FORWARD_MARGIN * 2 * 1000 * 4)
    assert activation_bytes(model, (3, 16, 16), torch.float32, backward=False) == forward
    assert _memory._MEASURED[model] == {((3, 16, 16), torch.float32, False): forward}  # measured once
    # kept for the backward pass: the ReLU's output (saved) and the logits (40 bytes); the first layer's output
    # is freed (nothing saves it); then the gradients of the largest activation, twice
    backward = math.ceil(BACKWARD_MARGIN * (1000 * 4 + 10 * 4 + 2 * 1000 * 4))
    assert activation_bytes(model, (3, 16, 16), torch.float32, backward=True) == backward
    assert activation_bytes(model.double(), (3, 16, 16), torch.float64, backward=False) == 2 * forward
    assert model.training and all(
        not m._forward_hooks for m in model.modules()
    )  # mode restored, no hook left


def test_memory_budget_is_validated_with_its_name():
    assert check_memory_budget(None) is None and check_memory_budget(2.5 * 2**30) == int(2.5 * 2**30)
    with pytest.raises(TypeError, match="memory_budget must be a number of bytes"):
        check_memory_budget("2GB")
    for bad in (0, -1, 2**27 - 1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="memory_budget must be at least 128 MiB"):
            check_memory_budget(bad)
    from forgrad_viz import sweep_cutoffs

    with pytest.raises(TypeError, match="memory_budget"):
        sweep_cutoffs(mlp(), torch.rand(2, 3, 16, 16), memory_budget="2GB", progress=False)


def upsampler() -> nn.Module:
    """Large activations for little work: 16 x 16 inputs upsampled to 512 x 512 (3 MiB each)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Upsample(scale_factor=32), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 10)
    ).eval()


def test_sizes_follow_the_budget_and_explicit_sizes_win():
    model = upsampler()
    forward = activation_bytes(model, (3, 16, 16), torch.float32, backward=False)
    assert forward == math.ceil(FORWARD_MARGIN * (3 * 512 * 512 + 3) * 4)  # upsampled, and pooled
    forward += 48 * 16 * 16  # the perturbed inputs being built
    backward = activation_bytes(model, (3, 16, 16), torch.float32, backward=True)
    per_cutoff = BYTES_PER_MAP_PIXEL * 1024 * 16 * 16  # blocks of 1024 images
    budget = 2**27  # less what is reserved for the libraries, half to activations, half to maps
    usable = budget - RESERVED_BYTES
    plan = plan_memory(model, (3, 16, 16), 1024, settings(memory_budget=budget))
    assert plan.forward_batch == plan.black_box_batch == usable // 2 // forward < 16
    assert plan.gradient_batch == usable // 2 // backward < 64
    assert plan.chunk_size == usable // 2 // per_cutoff - 1
    activations = max(plan.forward_batch * forward, plan.gradient_batch * backward)
    assert activations + (plan.chunk_size + 1) * per_cutoff + RESERVED_BYTES <= budget
    large = plan_memory(model, (3, 16, 16), 1024, settings(memory_budget=2**32))
    assert (large.forward_batch, large.gradient_batch, large.black_box_batch) == (16, 64, 64)  # the caps
    assert large.chunk_size > plan.chunk_size
    given = plan_memory(model, (3, 16, 16), 1024, settings(memory_budget=budget, batch_size=5, chunk_size=3))
    assert (given.forward_batch, given.gradient_batch, given.black_box_batch, given.chunk_size) == (
        5,
        5,
        5,
        3,
    )
    padded = plan_memory(model, (3, 16, 16), 1024, settings(memory_budget=budget, padding="reflect"))
    assert padded.chunk_size < plan.chunk_size
    assert plan.describe() == (
        f"memory budget 128 MiB: {plan.forward_batch} inputs per forward pass, {plan.gradient_batch} per "
        f"attribution pass, {plan.chunk_size} cutoffs per chunk"
    )


def test_no_budget_on_cuda_by_default(monkeypatch):
    from forgrad_viz.sweep import memory

    monkeypatch.setattr(memory, "model_device", lambda _model: torch.device("cuda"))
    plan = plan_memory(mlp(), (3, 16, 16), 32, settings())
    assert plan.budget is None and plan.forward_batch is None and plan.gradient_batch is None
    assert plan.chunk_size == memory.UNBUDGETED_CHUNK_BYTES // (BYTES_PER_MAP_PIXEL * 32 * 16 * 16) - 1
    assert plan.describe() == f"no memory budget ({plan.chunk_size} cutoffs per chunk)"


@pytest.mark.filterwarnings("ignore:map is constant")  # the upsampler's gradients are uniform
def test_the_sweep_uses_the_plans_sizes():
    from forgrad_viz import sweep_cutoffs
    from forgrad_viz._threads import in_thread_check

    model = upsampler()
    sizes = []  # the inputs of each pass, bar the repeats of a bit-for-bit thread check (a busy machine's)
    model.register_forward_pre_hook(
        lambda _m, inputs: None if in_thread_check() else sizes.append(inputs[0].shape[0])
    )
    budget = 2**27
    plan = plan_memory(upsampler(), (3, 16, 16), 32, settings(memory_budget=budget))  # a copy: measured apart
    assert 1 < plan.forward_batch < 32 and 1 < plan.gradient_batch < 32  # one block of 32 images
    sweep = sweep_cutoffs(
        model, torch.rand(32, 3, 16, 16), metrics=("deletion",), steps=4, memory_budget=budget, progress=False
    )
    assert max(sizes) == max(plan.forward_batch, plan.gradient_batch)
    assert plan.gradient_batch in sizes and plan.forward_batch in sizes
    assert sizes[:2] == [1, 1]  # the measurement: one input forward, then forward and backward
    assert sweep.params["forward_passes"] == sum(sizes[2:])  # not counted


SCRIPT = """
import json, sys
import torch
from torch import nn
import forgrad_viz as fv

budget = int(sys.argv[1])
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
# load what the sweep imports lazily (and the thread pools) on small images, so that only its buffers count
fv.sweep_cutoffs(model, images[:, :, :16, :16], method="smoothgrad", method_options={"n_samples": 8},
                 cutoffs=[2.0], steps=2, metrics=("deletion",), progress=False)

def status(field):  # resident memory now (VmRSS) or at most since the last reset (VmHWM), in bytes
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) * 1024 for line in file if line.startswith(field))

with open("/proc/self/clear_refs", "w") as file:
    file.write("5")  # reset the peak: imports and the warm-up above do not count
before = status("VmRSS")
cutoffs = torch.logspace(0, torch.log10(torch.tensor(158.4)), 24).tolist()  # the paper's range at 224 px
sweep = fv.sweep_cutoffs(model, images, method="smoothgrad", method_options={"n_samples": 8}, cutoffs=cutoffs,
                         steps=2, metrics=("deletion",), memory_budget=budget, progress=False)
peak = status("VmHWM")
print(json.dumps({"before": before, "peak": peak, "cutoffs": len(sweep.cutoffs)}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="reads resident memory from /proc")
def test_a_224_pixel_sweep_of_24_cutoffs_stays_within_its_memory_budget(tmp_path):
    budget = 128 * 2**20
    script = tmp_path / "sweep_memory.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), str(budget)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["cutoffs"] == 24
    grown = measured["peak"] - measured["before"]
    assert grown <= budget, (
        f"the sweep took {grown / 2**20:.0f} MiB, over its budget of {budget / 2**20:.0f} MiB"
    )
