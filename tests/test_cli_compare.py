"""forgrad-viz compare: the numbers of compare_architectures, the tables and the LaTeX table of the saved sweeps,
FORGrad against the black-box references recomputed by hand, resume without forward passes, no silent overwrite,
one-line errors, fewer images than folds, ONNX Runtime scoring and --padding."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import require_modules
from PIL import Image

import forgrad_viz as fv
from forgrad_viz import cli
from forgrad_viz.image_folder import ImageFolderDataset
from forgrad_viz.models import ImageTransform, load_demo
from forgrad_viz.results import CutoffSweep

MODELS = ("maxpool_cnn", "strided_cnn")
METRICS = ("deletion", "insertion", "mufidelity")
N_IMAGES, FOLDS = 6, 3
FAST = (
    "--cutoffs",
    "2,8",
    "--steps",
    "4",
    "--n-subsets",
    "8",
    "--block-size",
    "4",
    "--no-progress",
    "--no-figures",
)
#: RISE and Occlusion made cheap: 16 masks, 4 x 4 windows of 16 pixels.
REFERENCE_OPTIONS = {"rise": {"n_masks": 16}, "occlusion": {"window": 16, "stride": 16}}
REFERENCES = (
    "--references", "rise", "occlusion",
    "--method-option", "rise.n_masks=16",
    "--method-option", "occlusion.window=16",
    "--method-option", "occlusion.stride=16",
)  # fmt: skip


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("forgrad-viz: error: "), err
    assert "Traceback" not in err
    return lines[0]


def write_pngs(folder: Path, n: int, seed: int = 5) -> Path:
    folder.mkdir(parents=True)
    images = fv.data.shapes_dataset(n, size=64, seed=seed).images
    for i, image in enumerate(images):
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i}.png")
    return folder


def compare_args(images: Path, out: Path, *more) -> list:
    return ["compare", "--models", *MODELS, "--images", images, "--out", out, *FAST, "--folds", FOLDS, *more]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return write_pngs(tmp_path_factory.mktemp("compare") / "images", N_IMAGES)


@pytest.fixture(scope="module")
def compared(tmp_path_factory, images) -> Path:
    """One run of compare on both demo models with RISE and Occlusion (PyTorch scoring)."""
    out = tmp_path_factory.mktemp("compare") / "out"
    assert cli.main([str(a) for a in compare_args(images, out, "--backend", "torch", *REFERENCES)]) == 0
    return out


def load(out: Path) -> dict[str, CutoffSweep]:
    return {name: CutoffSweep.load(out / "sweeps" / f"{name}_saliency.json") for name in MODELS}


def test_compare_gives_the_scores_of_compare_architectures(compared, images):
    sweeps = load(compared)
    # the same images as the command reads them: the folder through each model's transform (64 x 64 demos)
    dataset = ImageFolderDataset(images, ImageTransform(64, 64))
    expected = fv.compare_architectures(
        {name: load_demo(name) for name in MODELS},
        dataset,
        methods=("saliency",),
        metrics=METRICS,
        references=("rise", "occlusion"),
        cutoffs=[2.0, 8.0],
        reference_options=REFERENCE_OPTIONS,
        steps=4,
        mufidelity={"n_subsets": 8, "seed": 0},
        precision="fp32",
        backend="torch",
        block_size=4,
        progress=False,
        seed=0,
    )
    for name, sweep in sweeps.items():
        want = expected.sweeps[name]["saliency"]
        assert sweep.model_name == name and sweep.method == "saliency" and sweep.metrics == METRICS
        np.testing.assert_array_equal(sweep.cutoffs, [2.0, 8.0])
        np.testing.assert_array_equal(sweep.image_ids, np.arange(N_IMAGES))
        for metric in METRICS:
            assert sweep.scores[metric].shape == (2, N_IMAGES)
            np.testing.assert_allclose(sweep.scores[metric], want.scores[metric], rtol=0, atol=1e-12)
            np.testing.assert_allclose(sweep.unfiltered[metric], want.unfiltered[metric], rtol=0, atol=1e-12)
            for reference in ("rise", "occlusion"):
                np.testing.assert_allclose(
                    sweep.references[reference][metric],
                    expected.references[name][reference][metric],
                    rtol=0,
                    atol=1e-12,
                )
        assert sweep.params["precision"] == "fp32" and sweep.params["backend"] == "torch"
        assert sweep.params["signature"]["model"] == name and sweep.params["image_size"] == [64, 64]


def _rebuilt_rows(out: Path) -> tuple[fv.ArchitectureComparison, list[dict]]:
    sweeps = load(out)
    comparison = fv.ArchitectureComparison(
        {name: {"saliency": s} for name, s in sweeps.items()},
        {name: s.references for name, s in sweeps.items()},
        {name: s.params["weights"] for name, s in sweeps.items()},
    )
    return comparison, comparison.rows(folds=FOLDS)


def _cell(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def test_comparison_tables_agree_with_the_saved_sweeps(compared):
    comparison, rows = _rebuilt_rows(compared)
    # one row per model x metric for saliency, then per model x reference x metric
    assert len(rows) == len(MODELS) * 3 * len(METRICS)
    assert [r["folds"] for r in rows if r["method"] == "saliency"] == [FOLDS] * len(MODELS) * len(METRICS)
    with open(compared / "comparison.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(rows)
    for written, row in zip(table, rows, strict=True):
        assert written == {k: _cell(row[k]) for k in written}
    saved = json.loads((compared / "comparison.json").read_text())
    assert saved["folds"] == FOLDS and len(saved["rows"]) == len(rows)
    for written, row in zip(saved["rows"], rows, strict=True):
        assert written.keys() == row.keys()
        for key in ("held_out_gain", "held_out_low", "held_out_high", "sigma_star", "unfiltered"):
            np.testing.assert_equal(written[key], row[key])
    assert fv.ArchitectureComparison.from_dict(saved).models == list(MODELS)
    markdown = (compared / "comparison.md").read_text()
    assert f"held-out gains from {FOLDS} folds" in markdown
    lines = [
        line.split(" | ") for line in markdown.splitlines() if line.startswith("| ") and "---" not in line
    ]
    header, cells = lines[0], lines[1:]
    assert len(cells) == len(rows)
    gain = header.index("held-out gain")
    for line, row in zip(cells, rows, strict=True):
        shown = "—" if row["method"] != "saliency" else f"{row['held_out_gain']:.3f}"
        assert line[0] == f"| {row['model']}" and line[2] == row["metric"] and line[gain] == shown
    assert "maxpool_cnn" in comparison.models


def test_latex_table_structure(compared):
    _, rows = _rebuilt_rows(compared)
    tex = (compared / "comparison.tex").read_text()
    lines = tex.splitlines()
    assert lines[0].startswith(r"\begin{table}") and lines[-1] == r"\end{table}"
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in lines
    top, bottom = lines.index(r"\toprule"), lines.index(r"\bottomrule")
    assert lines.index(r"\midrule") == top + 2  # header, then the rule below it
    body = [line for line in lines[top + 2 : bottom] if line != r"\midrule"]
    columns = re.search(r"\\begin\{tabular\}\{(\w+)\}", tex).group(1)
    for line in [lines[top + 1], *body]:
        assert line.count("&") == len(columns) - 1 and line.endswith(r"\\"), line
    assert len(body) == len(rows)  # one line per model x method x metric, references included
    for line, row in zip(body, rows, strict=True):
        cells = [cell.strip() for cell in line.removesuffix(r"\\").split("&")]
        assert cells[0] == row["model"].replace("_", r"\_") and cells[1] == row["method"]
        assert ("\\textbf{" in line) == (row["held_out_excludes_zero"] is True), line
        if row["method"] == "saliency":
            assert f"{row['held_out_gain']:+.3f}" in cells[-1]
    assert "maxpool_cnn" not in tex and r"maxpool\_cnn" in tex  # underscores escaped
    assert f"{FOLDS - 1} of {FOLDS} folds" in tex


def test_versus_references_equal_the_held_out_difference_recomputed(compared):
    sweeps = load(compared)
    with open(compared / "versus_references.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(MODELS) * 2 * len(METRICS)
    markdown = (compared / "versus_references.md").read_text()
    for written in table:
        sweep = sweeps[written["model"]]
        metric, reference = written["metric"], written["reference"]
        d = fv.versus_reference(sweep, metric, reference, folds=FOLDS)
        # by hand: each image's FORGrad score at its held-out sigma*, minus the reference, signed (> 0: FORGrad)
        sign = 1.0 if sweep.higher_is_better[metric] else -1.0
        held = sweep.held_out(metric, folds=FOLDS).per_image
        forgrad = sweep.unfiltered[metric] + sign * held
        by_hand = sign * (forgrad - sweep.references[reference][metric])
        np.testing.assert_allclose(d.per_image, by_hand, rtol=0, atol=1e-12)
        assert d.difference == pytest.approx(by_hand.mean(), abs=1e-12)
        assert float(written["difference"]) == pytest.approx(by_hand.mean(), rel=1e-5, abs=1e-9)
        assert float(written["forgrad"]) == pytest.approx(forgrad.mean(), rel=1e-5)
        assert float(written["reference_score"]) == pytest.approx(
            sweep.references[reference][metric].mean(), rel=1e-5
        )
        assert written["excludes_zero"] == str(d.excludes_zero) and int(written["n_images"]) == N_IMAGES
        cell = f"{d.difference:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
        assert (f"**{cell}**" if d.excludes_zero else f"| {cell} |") in markdown
    # what one map costs, by hand: saliency one pass per image (one gradient), RISE one per mask, Occlusion one
    # per window position (64 px, windows of 16 at stride 16: 4 x 4) plus the unoccluded image
    costs = {(r["reference"], float(r["passes_forgrad"]), float(r["passes_reference"])) for r in table}
    assert costs == {("rise", 1.0, 16.0), ("occlusion", 1.0, 4 * 4 + 1.0)}


def _strip_timings(data: dict) -> dict:
    """A sweep's JSON without what a run measures (wall seconds, the passes of this call)."""
    for key in ("seconds_per_image", "forward_passes", "forward_passes_by_stage"):
        data["params"].pop(key, None)
    return data


def test_a_repeated_run_resumes_without_forward_passes_and_other_settings_are_refused(
    capsys, monkeypatch, tmp_path, compared, images
):
    import forgrad_viz.sweep

    out = tmp_path / "out"
    shutil.copytree(compared, out)
    checkpoints = {p: p.read_bytes() for p in sorted((out / "checkpoints").rglob("*")) if p.is_file()}
    assert len(checkpoints) == len(MODELS)
    code, _, err = run_cli(capsys, *compare_args(images, out, "--backend", "torch", *REFERENCES))
    assert code == 0, err
    # every block came from the checkpoints: the engine's count of images through the model in this call
    # (probes of memory or speed, which score nothing, are not counted) is 0, and no checkpoint line was added
    firsts, agains = load(compared), load(out)
    for name in MODELS:
        assert firsts[name].params["forward_passes"] > 0, name
        assert agains[name].params["forward_passes"] == 0, name
        assert agains[name].params["forward_passes_by_stage"] == {}, name
    assert {p: p.read_bytes() for p in checkpoints} == checkpoints
    assert sorted(p for p in (out / "checkpoints").rglob("*") if p.is_file()) == sorted(checkpoints)
    for name in MODELS:
        path = Path("sweeps") / f"{name}_saliency.json"
        again, first = (_strip_timings(json.loads((root / path).read_text())) for root in (out, compared))
        assert again == first
    for name in ("comparison.md", "comparison.csv", "comparison.tex", "differences.md", "differences.csv"):
        assert (out / name).read_text() == (compared / name).read_text(), name
    columns = ("model", "reference", "metric", "difference", "low", "high", "excludes_zero")
    again, first = (
        [{k: r[k] for k in columns} for r in csv.DictReader((root / "versus_references.csv").open())]
        for root in (out, compared)
    )
    assert again == first
    # other settings into the same folder: refused before any work, naming --overwrite
    monkeypatch.setattr(forgrad_viz.sweep, "compare_architectures", None)
    for other in (("--steps", "5"), ("--precision", "bf16"), ("--padding", "reflect")):
        args = compare_args(images, out, "--backend", "torch", *REFERENCES, *other)
        line = one_line_error(*run_cli(capsys, *args)[::2])
        assert "--overwrite" in line and "maxpool_cnn_saliency.json" in line and "other settings" in line


def test_other_methods_into_the_same_folder_get_their_own_checkpoints(capsys, tmp_path, compared, images):
    # the study adds methods to a folder that holds other methods' results: each set of methods (and references)
    # of a model resumes from its own checkpoint, the earlier ones untouched
    out = tmp_path / "out"
    shutil.copytree(compared, out)
    before = {p: p.read_bytes() for p in (out / "checkpoints").rglob("*") if p.is_file()}
    code, _, err = run_cli(
        capsys, *compare_args(images, out, "--backend", "torch", "--methods", "gradient_input")
    )
    assert code == 0, err
    folders = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert folders == sorted(
        [f"{name}_saliency-rise-occlusion" for name in MODELS] + [f"{name}_gradient_input" for name in MODELS]
    )
    assert {p: p.read_bytes() for p in before} == before
    for name in MODELS:
        added = CutoffSweep.load(out / "sweeps" / f"{name}_gradient_input.json")
        assert added.method == "gradient_input" and added.params["forward_passes"] > 0
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    assert {(r["model"], r["method"]) for r in rows} == {
        (name, method) for name in MODELS for method in ("saliency", "gradient_input", "rise", "occlusion")
    }


def test_the_cost_in_forward_passes_survives_a_resume(capsys, tmp_path, compared, images):
    out = tmp_path / "out"
    shutil.copytree(compared, out)
    code, _, err = run_cli(capsys, *compare_args(images, out, "--backend", "torch", *REFERENCES))
    assert code == 0, err
    first, again = (list(csv.DictReader((root / "versus_references.csv").open())) for root in (compared, out))
    assert [float(r["passes_reference"]) for r in first] == [float(r["passes_reference"]) for r in again]
    assert [float(r["passes_forgrad"]) for r in first] == [float(r["passes_forgrad"]) for r in again]
    resumed = CutoffSweep.load(next((out / "sweeps").glob("*.json")))
    assert resumed.params["forward_passes"] == 0  # this call made none: every unit came from the checkpoint
    whole = CutoffSweep.load(next((compared / "sweeps").glob("*.json")))  # the uninterrupted run's own count
    assert resumed.params["job_forward_passes_by_stage"] == whole.params["forward_passes_by_stage"]
    assert resumed.params["job_forward_passes"] == whole.params["forward_passes"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--models", "maxpool_cnn", "maxpool_cnn"), ("--models", "twice")),
        (("--models", "maxpool_cnn", "no_such_model"), ("unknown model", "no_such_model")),
        (("--every", "2", "--offset", "2"), ("--offset", "--every")),
        (("--method-option", "saliency.n_steps"), ("--method-option", "METHOD.OPTION=VALUE")),
        (("--method-option", "integrated_gradients.n_steps=4"), ("--method-option", "integrated_gradients")),
        (("--precision", "fp16"), ("--precision fp16",)),
        (("--backend", "onnxruntime", "--precision", "bf16"), ("--precision bf16", "onnxruntime")),
        (("--max-images", "1"), ("at least 2 images",)),
    ],
    ids=["model-twice", "unknown-model", "offset", "option-malformed", "option-other-method", "fp16-cpu",
         "onnx-bf16", "one-image"],
)  # fmt: skip
def test_bad_input_is_one_line_before_any_work(capsys, monkeypatch, tmp_path, images, args, words):
    import forgrad_viz.sweep

    monkeypatch.setattr(forgrad_viz.sweep, "compare_architectures", None)  # any work would raise a TypeError
    out = tmp_path / "out"
    base = ["compare", "--images", images, "--out", out, *FAST]
    if "--models" not in args:
        base += ["--models", *MODELS]
    line = one_line_error(*run_cli(capsys, *base, *args)[::2])
    for word in words:
        assert word in line, line
    assert not (out / "sweeps").exists()


def test_fewer_images_than_folds_use_as_many_folds_as_images(capsys, tmp_path):
    images = write_pngs(tmp_path / "three", 3)
    out = tmp_path / "out"
    args = [
        "compare",
        "--models",
        "maxpool_cnn",
        "--images",
        images,
        "--out",
        out,
        *FAST,
        "--backend",
        "torch",
    ]
    code, _, err = run_cli(capsys, *args, "--folds", "5", "--metrics", "insertion")
    assert code == 0, err
    with open(out / "comparison.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["folds"] == "3" and row["n_images"] == "3"
    sweep = CutoffSweep.load(out / "sweeps" / "maxpool_cnn_saliency.json")
    assert float(row["held_out_gain"]) == pytest.approx(sweep.held_out("insertion", folds=3).gain, rel=1e-5)
    assert "held-out gains from 3 folds" in (out / "comparison.md").read_text()
    assert "2 of 3 folds" in (out / "comparison.tex").read_text()


def test_onnxruntime_scores_within_1e_4_of_torch(capsys, tmp_path, compared, images):
    require_modules("onnxruntime", "onnx")
    out = tmp_path / "out"
    args = ["compare", "--models", "maxpool_cnn", "--images", images, "--out", out, *FAST, "--folds", FOLDS]
    code, stdout, err = run_cli(capsys, *args, "--backend", "onnxruntime")
    assert code == 0, err
    assert "backend onnxruntime" in stdout.splitlines()[0]
    runtime = CutoffSweep.load(out / "sweeps" / "maxpool_cnn_saliency.json")
    reference = load(compared)["maxpool_cnn"]
    assert (
        runtime.params["backend"] == "onnxruntime" and runtime.params["signature"]["backend"] == "onnxruntime"
    )
    for metric in METRICS:
        np.testing.assert_allclose(runtime.scores[metric], reference.scores[metric], rtol=0, atol=1e-4)
        np.testing.assert_allclose(
            runtime.unfiltered[metric], reference.unfiltered[metric], rtol=0, atol=1e-4
        )


def test_padding_reaches_the_sweeps_and_the_signature(capsys, monkeypatch, tmp_path, images):
    import forgrad_viz.sweep

    out = tmp_path / "out"
    args = [
        "compare",
        "--models",
        "maxpool_cnn",
        "--images",
        images,
        "--out",
        out,
        *FAST,
        "--backend",
        "torch",
    ]
    args += ["--metrics", "insertion", "--max-images", "4"]
    seen = []
    real = forgrad_viz.sweep.compare_architectures
    monkeypatch.setattr(
        forgrad_viz.sweep,
        "compare_architectures",
        lambda *a, **k: seen.append(k["padding"]) or real(*a, **k),
    )
    code, stdout, err = run_cli(capsys, *args, "--padding", "reflect")
    assert code == 0, err
    assert seen == ["reflect"] and "padding reflect" in stdout.splitlines()[0]
    sweep = CutoffSweep.load(out / "sweeps" / "maxpool_cnn_saliency.json")
    assert sweep.params["padding"] == "reflect" and sweep.params["signature"]["padding"] == "reflect"
    # the periodic filter, the default, is padding=None (and another signature: refused in the same folder)
    line = one_line_error(*run_cli(capsys, *args)[::2])
    assert "--overwrite" in line and "padding" in line
    code, _, err = run_cli(capsys, *args, "--out", tmp_path / "periodic")
    assert code == 0, err
    assert seen == ["reflect", None]
    periodic = CutoffSweep.load(tmp_path / "periodic" / "sweeps" / "maxpool_cnn_saliency.json")
    assert periodic.params["padding"] is None and "padding" not in periodic.params["signature"]
    assert not np.allclose(periodic.scores["insertion"], sweep.scores["insertion"], rtol=0, atol=1e-9)
