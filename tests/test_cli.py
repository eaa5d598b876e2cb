"""Tests of the forgrad-viz command: help, sweep (shards, merge, resume) and error messages (demo: test_demo.py)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from forgrad_viz import cli
from forgrad_viz.results import CutoffSweep

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *words: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("forgrad-viz: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]


def test_help_and_version_in_a_subprocess():
    env = {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "forgrad_viz.cli", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0
    for command in ("demo", "sweep", "merge", "bench"):
        assert command in done.stdout
    version = subprocess.run(
        [sys.executable, "-m", "forgrad_viz.cli", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert version.returncode == 0 and version.stdout.strip() == "forgrad-viz 0.1.0"
    bare = subprocess.run([sys.executable, "-m", "forgrad_viz.cli"], capture_output=True, text=True, env=env)
    assert bare.returncode == 2 and "usage" in bare.stderr


def test_python_m_forgrad_viz_runs_the_command():
    # `python -m forgrad_viz` (and so `torchrun -m forgrad_viz`) is the same command as forgrad-viz
    done = subprocess.run(
        [sys.executable, "-m", "forgrad_viz", "--help"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: forgrad-viz")
    for command in ("demo", "sweep", "merge", "bench"):
        assert command in done.stdout


def test_shard_rows_cover_the_images_and_give_every_shard_work():
    for n, block, count in [
        (10, 2, 2),
        (7, 3, 3),
        (5, 4, 3),
        (33, 8, 4),
        (6, 32, 2),
        (6, 32, 6),
        (100, 32, 3),
    ]:
        parts = [cli.shard_rows(n, block, i, count) for i in range(count)]
        assert [i for part in parts for i in part] == list(range(n))
        assert all(len(part) > 0 for part in parts)  # n >= count: every shard gets images
        if -(-n // block) >= count:  # enough blocks: shards hold whole blocks (exact merge)
            assert all(part.start % block == 0 for part in parts)
        else:  # split by images, evenly: sizes differ by at most one
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_image_folder_targets(tmp_path):
    from PIL import Image

    from forgrad_viz.cli.images import image_files

    for name in ("7", "3"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "a.png")
    files, labels = image_files(str(tmp_path))
    assert [f.parent.name for f in files] == ["3", "7"] and labels == [3, 7]
    (tmp_path / "cat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "cat" / "b.jpg")
    files, labels = image_files(str(tmp_path))
    assert labels == [0, 1, 2]  # not all integers: rank of the sorted class names


@pytest.fixture
def png_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def resnet_weights(tmp_path):
    from forgrad_viz.models import load_torchvision

    model, _ = load_torchvision("resnet18", seed=0)
    path = tmp_path / "resnet18.pt"
    torch.save(model.net.state_dict(), path)
    return path


SWEEP_ARGS = ("--metrics", "deletion", "mufidelity", "--cutoffs", "4,16", "--steps", "2", "--n-subsets", "4")


@pytest.mark.slow
def test_sweep_shards_merge_to_the_unsharded_result(capsys, tmp_path, png_folder, resnet_weights):
    base = ("sweep", "--model", "resnet18", "--weights", resnet_weights, "--images", png_folder, *SWEEP_ARGS)
    base = (*base, "--block-size", "2", "--batch-size", "8", "--no-progress")
    code, out, err = run_cli(capsys, *base, "--out", tmp_path / "whole", "--formats", "png")
    assert code == 0, err
    whole = CutoffSweep.load(tmp_path / "whole" / "resnet18_saliency.json")
    assert whole.n_images == 4 and whole.cutoffs.tolist() == [4.0, 16.0]
    summary = (tmp_path / "whole" / "resnet18_saliency.csv").read_text()
    assert summary.startswith("model,weights,method,metric,n_images,held_out_gain,")
    curves = (tmp_path / "whole" / "resnet18_saliency_curves.csv").read_text()
    assert curves.startswith("cutoff,metric,gain,gain_low,gain_high,mean")
    for figure in ("deletion_gain", "deletion", "mufidelity_gain", "mufidelity"):
        assert (tmp_path / "whole" / "figures" / f"resnet18_saliency_{figure}.png").is_file()
    sha = hashlib.sha256(resnet_weights.read_bytes()).hexdigest()
    assert f"| resnet18 | file, sha256 {sha[:12]} | saliency | deletion |" in out
    assert whole.params["weights"]["sha256"] == sha and whole.params["model"] == "resnet18"
    for shard in ("0/2", "1/2"):
        code, _, err = run_cli(capsys, *base, "--out", tmp_path / "shards", "--shard", shard, "--no-figures")
        assert code == 0, err
    shards = sorted((tmp_path / "shards").glob("resnet18_saliency_shard-*.json"))
    assert len(shards) == 2
    code, out, err = run_cli(capsys, "merge", *shards, "--out", tmp_path / "merged", "--no-figures")
    assert code == 0, err
    merged = json.loads((tmp_path / "merged" / "resnet18_saliency.json").read_text())
    assert merged == json.loads((tmp_path / "whole" / "resnet18_saliency.json").read_text())
    # the checkpoints make a second run free: same result, no forward pass
    code, _, err = run_cli(capsys, *base, "--out", tmp_path / "whole", "--no-figures")
    assert code == 0, err
    again = CutoffSweep.load(tmp_path / "whole" / "resnet18_saliency.json")
    assert again.params["forward_passes"] == 0
    np.testing.assert_array_equal(again.scores["deletion"], whole.scores["deletion"])


def test_errors_print_one_line_without_traceback(capsys, tmp_path, png_folder):
    code, _, err = run_cli(capsys, "sweep", "--model", "resnet18", "--images", tmp_path / "missing")
    assert_one_line_error(code, err, "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "sweep", "--model", "resnet18", "--images", empty)
    assert_one_line_error(code, err, "no images")
    code, _, err = run_cli(capsys, "sweep", "--model", "resnet_nope", "--images", png_folder)
    assert_one_line_error(code, err, "resnet_nope")
    code, _, err = run_cli(
        capsys, "sweep", "--model", "resnet18", "--images", png_folder, "--methods", "lime"
    )
    assert_one_line_error(code, err, "lime")
    code, _, err = run_cli(capsys, "sweep", "--model", "resnet18", "--images", png_folder, "--shard", "2/2")
    assert_one_line_error(code, err, "--shard")
    code, _, err = run_cli(capsys, "merge", tmp_path / "nothing.json")
    assert_one_line_error(code, err, "nothing.json")


def test_weights_that_do_not_match_the_model(capsys, tmp_path, png_folder):
    from forgrad_viz.models import load_torchvision

    small, _ = load_torchvision("squeezenet1_1", seed=0)
    path = tmp_path / "squeezenet.pt"
    torch.save(small.net.state_dict(), path)
    code, _, err = run_cli(
        capsys, "sweep", "--model", "resnet18", "--weights", path, "--images", png_folder, "--no-progress"
    )
    assert_one_line_error(code, err, "do not match")


def test_bench_dispatch(capsys, monkeypatch, tmp_path):
    import types

    calls = {}

    def fake_run(device: str = "cpu", n_images: int = 2) -> dict:
        calls.update(device=device, n_images=n_images)
        return {"value": np.float64(1.5)}

    module = types.SimpleNamespace(run=fake_run, format_report=lambda r: f"report {r['value']}")
    monkeypatch.setitem(sys.modules, "forgrad_viz.benchmarks.sweep", module)
    out_json = tmp_path / "bench.json"
    code, out, err = run_cli(capsys, "bench", "sweep", "--n-images", "3", "--json", out_json)
    assert code == 0, err
    assert calls == {"device": "cpu", "n_images": 3} and "report 1.5" in out
    assert json.loads(out_json.read_text()) == {"value": 1.5}
    code, _, err = run_cli(capsys, "bench", "sweep", "--repeats", "2")
    assert_one_line_error(code, err, "--repeats")
