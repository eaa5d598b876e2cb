"""The demo's aliasing outputs: files per model, a summary equal to the reports, bad input."""

from __future__ import annotations

import warnings

import pytest
import torch

from forgrad_viz.cli.demo_aliasing import aliasing_outputs
from forgrad_viz.data import shapes_dataset
from forgrad_viz.downsampling import AliasingReport
from forgrad_viz.models import load_demo

MODELS = ("maxpool_cnn", "strided_cnn", "antialiased_cnn")
KINDS = {"maxpool_cnn": "max-pool", "strided_cnn": "strided-conv", "antialiased_cnn": "blur-pool"}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared 2-core machine: one thread is faster than two competing ones
    try:
        out = tmp_path_factory.mktemp("aliasing")
        images = shapes_dataset(3, seed=1).images
        with warnings.catch_warnings():
            # the figures fit their own width (export_figure warns when a legend or label makes them wider)
            warnings.filterwarnings("error", message="the figure's content", category=UserWarning)
            return out, aliasing_outputs(
                {m: load_demo(m) for m in MODELS}, images, out, ("png", "svg"), False
            )
    finally:
        torch.set_num_threads(threads)


def test_files_and_summary_match_the_reports(outputs):
    out, result = outputs
    expected = [out / f"aliasing_{m}.{ext}" for m in MODELS for ext in ("md", "json", "png", "svg")]
    assert sorted(result["files"]) == sorted(expected)
    assert all(path.stat().st_size > 0 for path in expected)
    for model in MODELS:
        report = AliasingReport.load(out / f"aliasing_{model}.json")
        summary = result["models"][model]
        assert [layer["name"] for layer in summary["layers"]] == report.layers
        assert len(report.layers) == 3 and {layer["kind"] for layer in summary["layers"]} == {KINDS[model]}
        assert all(layer["stride"] == [2, 2] for layer in summary["layers"])
        assert (out / f"aliasing_{model}.md").read_text() == report.to_markdown() + "\n"
        for row in [*report.rows, report.all_layers]:
            assert summary["removed"][row.name] == -row.hf_change
            assert summary["agreement"][row.name] == row.agreement
            assert summary["prob_change"][row.name] == row.prob_change
        assert summary["hf_energy"] == report.hf_energy and summary["n_images"] == 3
        line = next(line for line in result["text"].splitlines() if line.strip().startswith(model))
        assert f"all layers {-report.all_layers.hf_change:+.3f}" in line


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="models must be a non-empty dict"):
        aliasing_outputs({}, torch.rand(1, 3, 64, 64), tmp_path)
    with pytest.raises(ValueError, match="images has no entry for model 'maxpool_cnn'"):
        aliasing_outputs(
            {"maxpool_cnn": load_demo("maxpool_cnn")}, {"other": torch.rand(1, 3, 64, 64)}, tmp_path
        )
    with pytest.raises(TypeError, match="images must be a tensor"):
        aliasing_outputs({"maxpool_cnn": load_demo("maxpool_cnn")}, [1, 2], tmp_path)
