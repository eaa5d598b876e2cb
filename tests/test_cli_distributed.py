"""``torchrun -m forgrad_viz sweep``: several processes give the single-process result; a failing rank fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgrad_viz.results import CutoffSweep

ROOT = Path(__file__).resolve().parents[1]
ARGS = ("--model", "maxpool_cnn", "--metrics", "deletion", "mufidelity", "--cutoffs", "4,16", "--steps", "2")
ARGS = (*ARGS, "--n-subsets", "4", "--block-size", "2", "--no-progress", "--no-figures")


def _folder(path: Path, n: int) -> Path:
    path.mkdir()
    rng = np.random.default_rng(2)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path / f"img{i}.png")
    return path


def _run(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]


@pytest.mark.slow
def test_torchrun_two_processes_give_the_single_process_sweep(tmp_path):
    images = _folder(tmp_path / "images", 8)
    one = _run(
        [
            sys.executable,
            "-m",
            "forgrad_viz",
            "sweep",
            *ARGS,
            "--images",
            str(images),
            "--out",
            str(tmp_path / "one"),
        ]
    )
    assert one.returncode == 0, one.stderr
    two = _run(
        _torchrun(
            "-m", "forgrad_viz", "sweep", *ARGS, "--images", str(images), "--out", str(tmp_path / "two")
        )
    )
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("2 processes") == 1  # only rank 0 prints
    a, b = (CutoffSweep.load(tmp_path / d / "maxpool_cnn_saliency.json") for d in ("one", "two"))
    assert b.image_ids.tolist() == a.image_ids.tolist() == list(range(8))
    for metric in a.metrics:
        np.testing.assert_array_equal(b.scores[metric], a.scores[metric])
        np.testing.assert_array_equal(b.unfiltered[metric], a.unfiltered[metric])
    assert b.params["weights"] == a.params["weights"] and b.params["weights"]["kind"] == "demo"


@pytest.mark.slow
def test_torchrun_with_a_failing_rank_fails_without_hanging(tmp_path):
    images = _folder(tmp_path / "images", 8)
    (images / "img7.png").write_bytes(b"not a png")  # read by rank 1 however the blocks are shared
    done = _run(
        _torchrun("-m", "forgrad_viz", "sweep", *ARGS, "--images", str(images), "--out", str(tmp_path / "o")),
        timeout=300,
    )
    assert done.returncode != 0
    assert "cannot read image" in done.stderr and "img7.png" in done.stderr
