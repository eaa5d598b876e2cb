"""torchrun --nproc-per-node 2 on the CPU (gloo): the gathered sweep equals the single-process one exactly, and a
rank that fails makes the run fail quickly with its error."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KWARGS = dict(
    cutoffs=[2.0, 8.0],
    steps=3,
    metrics=("deletion", "mufidelity"),
    mufidelity={"grid_size": 4, "n_subsets": 8},
    block_size=8,
)

#: A model whose logits depend on the size of their batch, as EfficientNet-Lite0's do in the last bits (GEMM
#: blocking): the ranks match the single process only if every input goes through the model in the same batches.
BATCH_DEPENDENT = """
import torch

class BatchDependent(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x) + 1e-3 * x.shape[0]
"""

SCRIPT = (
    BATCH_DEPENDENT
    + """
import json, os, sys
from datetime import timedelta
from torch.utils.data import DataLoader, TensorDataset
import forgrad_viz as fv
from forgrad_viz.sweep.distributed import distributed_session

kwargs, out, fail, wrap = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "batch_dependent"
model = fv.models.load_demo("maxpool_cnn")
model = BatchDependent(model) if wrap else model
data = fv.data.shapes_dataset(48, seed=3)
with distributed_session(timeout=timedelta(seconds=60)) as info:
    if info.rank == fail:
        raise RuntimeError(f"rank {info.rank} failed on purpose")
    # each rank reads only its share of the loader's images (a loader rebuilt over a Subset)
    loader = DataLoader(TensorDataset(data.images), batch_size=5)
    sweep = fv.sweep_cutoffs(model, loader, progress=False, **kwargs)
    if info.rank == 0:
        with open(out, "w") as file:
            json.dump(sweep.to_dict(), file)
"""
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(tmp_path: Path, fail: int, model: str = "maxpool_cnn") -> subprocess.CompletedProcess:
    script = tmp_path / "run_sweep.py"
    script.write_text(SCRIPT)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += [
        "--master-port",
        str(free_port()),
        str(script),
        json.dumps(KWARGS),
        str(tmp_path / "out.json"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([*command, str(fail), model], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def model():
    import forgrad_viz as fv

    try:
        return fv.models.load_demo("maxpool_cnn")
    except FileNotFoundError as error:
        pytest.skip(f"demo weights not shipped: {error}")


def test_torchrun_two_cpu_ranks_equal_one_process_exactly(tmp_path, model):
    import forgrad_viz as fv

    done = torchrun(tmp_path, fail=-1)
    assert done.returncode == 0, done.stderr[-3000:]
    gathered = json.loads((tmp_path / "out.json").read_text())
    single = fv.sweep_cutoffs(model, fv.data.shapes_dataset(48, seed=3).images, progress=False, **KWARGS)
    assert gathered == json.loads(json.dumps(single.to_dict()))  # forward passes summed over the ranks too


def test_torchrun_is_exact_for_a_model_whose_logits_depend_on_the_batch(tmp_path, model):
    import forgrad_viz as fv

    namespace: dict = {}
    exec(BATCH_DEPENDENT, namespace)
    wrapped = namespace["BatchDependent"](model)
    done = torchrun(tmp_path, fail=-1, model="batch_dependent")
    assert done.returncode == 0, done.stderr[-3000:]
    gathered = json.loads((tmp_path / "out.json").read_text())
    single = fv.sweep_cutoffs(wrapped, fv.data.shapes_dataset(48, seed=3).images, progress=False, **KWARGS)
    assert gathered == json.loads(json.dumps(single.to_dict()))
    # the same sweep in other batches gives other scores: the equality above is not for want of sensitivity
    other = fv.sweep_cutoffs(
        wrapped, fv.data.shapes_dataset(48, seed=3).images, progress=False, batch_size=7, **KWARGS
    )
    assert other.scores["deletion"].tolist() != single.scores["deletion"].tolist()


def test_a_failing_rank_fails_the_run_with_its_message(tmp_path, model):
    done = torchrun(tmp_path, fail=1)
    assert done.returncode != 0
    assert "rank 1 failed on purpose" in done.stderr + done.stdout
    assert not (tmp_path / "out.json").exists()


def test_outside_torchrun_the_session_and_distributed_true_say_what_is_missing(monkeypatch):
    from forgrad_viz.sweep import distributed, sweep_cutoffs

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="torchrun"), distributed.distributed_session():
        pass
    assert distributed.rank_info() == (0, 1, 0)
    import torch

    with pytest.raises(RuntimeError, match="process group"):
        sweep_cutoffs(torch.nn.Flatten(), torch.rand(2, 3, 4, 4), distributed=True, progress=False)
    shares = [distributed.block_share(7, r, 3) for r in range(3)]
    assert [b for share in shares for b in share] == list(range(7)) and max(map(len, shares)) - min(
        map(len, shares)
    ) <= 1
