"""The example scripts run with small settings and write what they promise.

Each script runs in a subprocess with this interpreter, the repository root on ``PYTHONPATH`` and a temporary
working directory.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from forgrad_viz.models import build_demo_model, load_torchvision
from forgrad_viz.results import ArchitectureComparison, CutoffSweep

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(script: str, *arguments: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "2")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (
        f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def _module(script: str):
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), EXAMPLES / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _photo_folder(folder: Path, n: int) -> Path:
    from PIL import Image

    from forgrad_viz.data import sample_images

    images, names = sample_images(["astronaut", "chelsea", "coffee", "rocket", "camera"][:n], size=96)
    folder.mkdir()
    for image, name in zip(images, names, strict=True):
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")
    return folder


def test_every_example_has_a_test() -> None:
    tested = {"sweep_folder_sharded.py", "export_all_figures.py", "train_demo_models.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.slow
def test_sharded_sweep_merges_to_the_unsharded_sweep(tmp_path: Path) -> None:
    weights = tmp_path / "resnet18_random.pt"
    torch.save(load_torchvision("resnet18", seed=3).model.net.state_dict(), weights)
    images = _photo_folder(tmp_path / "photos", 4)
    out = tmp_path / "out"
    stdout = _ok(
        _run(
            "sweep_folder_sharded.py",
            "--quick", "--images", str(images), "--weights", str(weights), "--shards", "2", "--check",
            "--out", str(out),
            cwd=tmp_path,
        )
    )  # fmt: skip
    if not torch.cuda.is_available():
        assert "device cpu" in stdout  # the GPU default falls back to the CPU
    assert "merged sweep == unsharded sweep" in stdout
    shards = [CutoffSweep.load(out / "shards" / f"resnet18_saliency_shard-{i}-of-2.json") for i in range(2)]
    assert [s.image_ids.tolist() for s in shards] == [[0, 1], [2, 3]]
    merged = CutoffSweep.load(out / "merged" / "resnet18_saliency.json")
    whole = CutoffSweep.load(out / "unsharded" / "resnet18_saliency.json")
    assert merged.image_ids.tolist() == whole.image_ids.tolist() == [0, 1, 2, 3]
    assert len(merged.cutoffs) == 3 and merged.metrics == whole.metrics
    for metric in whole.metrics:
        expected = np.concatenate([s.scores[metric] for s in shards], axis=1)
        np.testing.assert_allclose(merged.scores[metric], expected, rtol=0, atol=0)
        np.testing.assert_allclose(merged.scores[metric], whole.scores[metric], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(merged.unfiltered[metric], whole.unfiltered[metric], rtol=1e-6, atol=1e-7)
        assert (out / "merged" / "figures" / f"resnet18_saliency_{metric}_gain.png").stat().st_size > 0
    rows = list(csv.DictReader((out / "merged" / "resnet18_saliency_curves.csv").open()))
    assert list(rows[0])[:6] == ["cutoff", "metric", "gain", "gain_low", "gain_high", "mean"]
    assert list(rows[0])[6:] == ["ci_low", "ci_high", "n_images", "model", "weights"]
    assert {(r["n_images"], r["model"]) for r in rows} == {("4", "resnet18")}
    sha = merged.params["weights"]["sha256"]
    assert all(r["weights"].startswith("file, file ") and r["weights"].endswith(sha) for r in rows)


def test_sharded_sweep_writes_sample_photographs(tmp_path: Path) -> None:
    example = _module("sweep_folder_sharded.py")
    folder = example.sample_folder(tmp_path / "images", 3)
    assert sorted(p.name for p in folder.iterdir()) == ["astronaut.png", "camera.png", "chelsea.png"]
    assert example.count_images(folder) == 3
    assert example.resolve_device("cpu") == "cpu"
    assert example.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_sharded_sweep_rejects_bad_options(tmp_path: Path) -> None:
    result = _run("sweep_folder_sharded.py", "--shards", "0", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "--shards must be a positive integer" in result.stderr
    too_many = _run(
        "sweep_folder_sharded.py", "--images", str(_photo_folder(tmp_path / "p", 2)), "--shards", "3",
        "--block-size", "1", cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert too_many.returncode != 0
    assert "fewer than 3 shards" in too_many.stderr


@pytest.mark.slow
def test_export_all_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures"
    models = ("maxpool_cnn", "antialiased_cnn")
    stdout = _ok(
        _run(
            "export_all_figures.py", "--quick", "--models", *models, "--formats", "png,svg", "--out", str(out),
            cwd=tmp_path,
        )
    )  # fmt: skip
    stems = [f"before_after_{m}" for m in models] + ["spectra_methods", "spectra_architectures", "heatmap"]
    stems += [f"{kind}_{metric}" for kind in ("cutoff_curves", "architectures") for metric in
              ("deletion", "insertion", "mufidelity")]  # fmt: skip
    stems += ["deletion_curves_maxpool_cnn", "insertion_curves_maxpool_cnn"]
    for stem in stems:
        assert (out / f"{stem}.png").read_bytes().startswith(b"\x89PNG"), stem
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()[:2000], stem
    assert not list(out.glob("*.pdf"))
    assert f"{2 * len(stems)} files" in stdout
    comparison = ArchitectureComparison.load(out / "comparison.json")
    assert comparison.models == list(models)

    # the saved comparison redoes the figures without recomputing it
    again = tmp_path / "again"
    _ok(
        _run(
            "export_all_figures.py", "--comparison", str(out / "comparison.json"), "--formats", "pdf",
            "--out", str(again), cwd=tmp_path,
        )
    )  # fmt: skip
    assert sorted(p.stem for p in again.glob("*.pdf")) == sorted(stems)
    assert all(p.read_bytes().startswith(b"%PDF") for p in again.glob("*.pdf"))
    assert not (again / "comparison.json").exists()


def test_export_all_figures_rejects_bad_formats(tmp_path: Path) -> None:
    result = _run("export_all_figures.py", "--formats", "jpg", cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    assert "--formats must be a comma-separated subset of pdf,svg,png" in result.stderr


@pytest.mark.slow
def test_train_demo_models_tiny(tmp_path: Path) -> None:
    out = tmp_path / "assets"
    _ok(
        _run(
            "train_demo_models.py", "--models", "maxpool_cnn", "--epochs", "1", "--n-train", "64",
            "--n-eval", "32", "--threads", "1", "--out", str(out), cwd=tmp_path,
        )
    )  # fmt: skip
    import json

    model = build_demo_model("maxpool_cnn")
    model.load_state_dict(torch.load(out / "maxpool_cnn.pt", weights_only=True))  # strict: every key matches
    card = json.loads((out / "maxpool_cnn.json").read_text())
    assert 0.0 <= card["eval_accuracy"] <= 1.0
    assert (out / "maxpool_cnn.md").read_text().strip()
