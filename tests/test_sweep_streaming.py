"""Sweeps fed by a Dataset or a DataLoader, the progress bar, and a checkpointed sweep killed with SIGKILL."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from forgrad_viz.sweep import progress as progress_module
from forgrad_viz.sweep import sweep_cutoffs

MUFI = {"grid_size": 4, "n_subsets": 8}
KWARGS = dict(cutoffs=[1.5, 3.0, 6.0], steps=3, mufidelity=MUFI, block_size=3, progress=False, batch_size=16)


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 4)
    ).eval()


class Pairs(Dataset):
    """Images (and optional targets) from a tensor, item by item, counting the reads."""

    def __init__(self, images: torch.Tensor, targets: list | None = None) -> None:
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int):
        image = self.images[i].clone()
        return image if self.targets is None else (image, self.targets[i])


def images(n: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, 12, 12, generator=torch.Generator().manual_seed(seed))


def without_passes(sweep) -> dict:
    data = sweep.to_dict()
    data["params"] = {k: v for k, v in data["params"].items() if "forward_passes" not in k}
    return data


def test_dataset_and_dataloader_with_workers_equal_the_tensor_sweep_exactly():
    model, x = small_net(), images()
    reference = sweep_cutoffs(model, x, **KWARGS)
    from_dataset = sweep_cutoffs(model, Pairs(x), **KWARGS)
    assert from_dataset.to_dict() == reference.to_dict()
    loader = DataLoader(Pairs(x, [-1] * 8), batch_size=5, num_workers=2)  # batches cut across blocks
    assert sweep_cutoffs(model, loader, **KWARGS).to_dict() == reference.to_dict()


def test_dataset_targets_are_used_unless_targets_are_given():
    model, x = small_net(), images()
    labels = [0, 1, 2, 3, 0, 1, 2, 3]
    explicit = sweep_cutoffs(model, x, targets=labels, **KWARGS)
    assert without_passes(sweep_cutoffs(model, Pairs(x, labels), **KWARGS)) == without_passes(explicit)
    # -1 / None mean the predicted class; an explicit targets= wins over the data's
    predicted = model(x).argmax(1).tolist()
    mixed = [labels[i] if i % 2 else None for i in range(8)]
    resolved = [labels[i] if i % 2 else predicted[i] for i in range(8)]
    got = sweep_cutoffs(model, Pairs(x, mixed), **KWARGS)
    assert without_passes(got) == without_passes(sweep_cutoffs(model, x, targets=resolved, **KWARGS))
    given = sweep_cutoffs(model, Pairs(x, mixed), targets=labels, **KWARGS)
    assert without_passes(given) == without_passes(explicit)


def test_bad_data_gets_clear_errors():
    model = small_net()
    with pytest.raises(TypeError, match="images"):
        sweep_cutoffs(model, [1, 2, 3], **KWARGS)
    with pytest.raises(ValueError, match="shuffle"):
        sweep_cutoffs(model, DataLoader(Pairs(images()), shuffle=True), **KWARGS)
    with pytest.raises(TypeError, match="target"):
        sweep_cutoffs(model, Pairs(images(), ["cat"] * 8), **KWARGS)


def test_progress_counts_every_forward_pass_monotonically(monkeypatch):
    records = []

    class Recorder:
        def __init__(self, *args, total=None, disable=False, **kwargs):
            self.total, self.n, self.disable = total, 0, disable

        def update(self, n):
            self.n += n
            if not self.disable:
                records.append((self.n, self.total))

        def refresh(self):
            pass

        def set_postfix_str(self, text, refresh=True):
            pass

        @staticmethod
        def write(text, file=None):
            pass

        def close(self):
            records.append(("closed", self.disable))

    monkeypatch.setattr(progress_module, "tqdm", Recorder)
    model, x = small_net(), images()
    sweep = sweep_cutoffs(model, x, **{**KWARGS, "progress": True}, references=("occlusion",))
    counts = [n for n, _ in records[:-1]]
    assert records[-1] == ("closed", False)
    assert all(b > a for a, b in itertools.pairwise(counts))  # grows, never back
    assert all(n <= total for n, total in records[:-1])
    assert records[0][1] > 1  # the total is known from the start, never 0/1
    assert counts[-1] == records[-2][1] == sweep.params["forward_passes"]  # reaches the total: every pass
    records.clear()
    sweep_cutoffs(model, x, **KWARGS)
    assert records == []  # progress=False: no bar at all


_KILLED = """
import sys, torch
sys.path.insert(0, {root!r})
from torch import nn
from forgrad_viz.sweep import sweep_cutoffs
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                      nn.Linear(24, 4)).eval()
x = torch.rand({n}, 3, 12, 12, generator=torch.Generator().manual_seed(1))
sweep_cutoffs(model, x, checkpoint={path!r}, **{kwargs!r})
"""


def test_sigkill_then_resume_gives_the_same_sweep_losing_at_most_one_block(tmp_path):
    n, block = 30, 3
    kwargs = {**KWARGS, "block_size": block, "chunk_size": 3, "metrics": ("deletion", "insertion")}
    path = tmp_path / "ckpt.jsonl"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = _KILLED.format(root=root, n=n, path=str(path), kwargs=kwargs)
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and child.poll() is None:
        if path.is_file() and path.read_bytes().count(b"\n") >= 4:  # header + 3 finished blocks
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()[-2000:]
    lines = path.read_bytes().split(b"\n")
    done = len(lines) - 2  # the header and the (possibly torn or empty) last piece
    assert 3 <= done < n // block
    with open(path, "ab") as file:  # as if killed in the middle of the next line
        file.write(b'{"key": "saliency|9|0,1,2|1", "ima')
    model, x = small_net(), images(n)
    reference = sweep_cutoffs(model, x, **kwargs)
    resumed = sweep_cutoffs(model, x, checkpoint=path, **kwargs)
    assert without_passes(resumed) == without_passes(reference)
    per_block = reference.params["forward_passes"] / (n // block)
    remaining = per_block * (n // block - done)
    assert remaining <= resumed.params["forward_passes"] <= remaining + per_block
    assert all(json.loads(line) for line in path.read_bytes().split(b"\n")[:-1])  # torn line cut off
    again = sweep_cutoffs(model, x, checkpoint=path, **kwargs)
    assert again.params["forward_passes"] == 0 and without_passes(again) == without_passes(reference)


def test_old_or_mismatched_checkpoints_are_refused(tmp_path):
    model, x = small_net(), images()
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"signature": {}, "units": {}}) + "\n")
    with pytest.raises(ValueError, match="version"):
        sweep_cutoffs(model, x, checkpoint=old, **KWARGS)
    path = tmp_path / "ckpt.jsonl"
    sweep_cutoffs(model, x, checkpoint=path, **KWARGS)
    with pytest.raises(ValueError, match="images"):
        sweep_cutoffs(model, images(seed=2), checkpoint=path, **KWARGS)
    with pytest.raises(ValueError, match="different sweep"):
        sweep_cutoffs(model, x, checkpoint=path, **{**KWARGS, "steps": 4})
    lines = path.read_text().splitlines()
    path.write_text(lines[0].replace('"version": 2', '"version": 1') + "\n")
    with pytest.raises(ValueError, match="version 1"):
        sweep_cutoffs(model, x, checkpoint=path, **KWARGS)
