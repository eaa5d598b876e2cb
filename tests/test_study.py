"""The committed real-model study (docs/study): its sweep JSON files load, record their protocol and precision, and
agree with its comparison table, recomputed from them."""

from __future__ import annotations

import csv
import importlib.util
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from forgrad_viz.cli.compare_report import load_sweeps
from forgrad_viz.results import ArchitectureComparison

STUDY = Path(__file__).resolve().parents[1] / "docs" / "study"
FOLDS = 5  # run_study.sh's --folds


def _sweeps() -> dict:
    if not (STUDY / "sweeps").is_dir() or not list((STUDY / "sweeps").glob("*.json")):
        pytest.fail("docs/study/sweeps holds no sweep: the study's results are part of the repository")
    return load_sweeps(STUDY / "sweeps")


def test_every_sweep_loads_with_its_protocol() -> None:
    for model, by_method in _sweeps().items():
        for method, sweep in by_method.items():
            assert sweep.params["model"] == model and sweep.method == method
            assert sweep.params["precision"] == "fp32" and sweep.params["backend"] in ("onnxruntime", "torch")
            assert sweep.params["weights"]["sha256"], "the weights' SHA-256 is recorded"
            assert sweep.n_images >= 400, (
                f"{model} {method}: the issue asks for at least 400 photographs per cell"
            )
            for metric in sweep.metrics:
                assert np.isfinite(sweep.scores[metric]).all() and np.isfinite(sweep.unfiltered[metric]).all()
            assert len(np.unique(sweep.image_ids)) == sweep.n_images


def test_the_comparison_table_agrees_with_the_sweeps() -> None:
    sweeps = _sweeps()
    rows = ArchitectureComparison(sweeps).rows(folds=FOLDS)
    with (STUDY / "comparison.csv").open() as handle:
        table = list(csv.DictReader(handle))
    written = {(r["model"], r["method"], r["metric"]): r for r in table}
    assert len(written) == len(rows)
    for row in rows:
        line = written[(row["model"], row["method"], row["metric"])]
        assert int(line["n_images"]) == row["n_images"]
        for field in ("sigma_star", "unfiltered", "held_out_gain", "held_out_low", "held_out_high"):
            value = float(line[field])
            assert math.isclose(value, row[field], rel_tol=1e-5, abs_tol=1e-6), (row["model"], field)
        assert line["held_out_excludes_zero"] == str(row["held_out_excludes_zero"])


def test_the_sigma_star_differences_agree_with_the_sweeps() -> None:
    from forgrad_viz.results import compare_best_cutoffs

    sweeps = _sweeps()
    with (STUDY / "differences.csv").open() as handle:
        table = list(csv.DictReader(handle))
    pairs = {(r["method"], r["metric"], r["model_a"], r["model_b"]): r for r in table}
    expected = [
        (method, metric, a, b)
        for a, b in itertools.combinations(sweeps, 2)
        for method in sweeps[a]
        if method in sweeps[b]
        for metric in sweeps[a][method].metrics
    ]
    assert expected, "the study compares at least two models on one method"
    assert sorted(pairs) == sorted(expected)
    for method, metric, a, b in expected:
        found = compare_best_cutoffs(sweeps[a][method], sweeps[b][method], metric)
        line = pairs[(method, metric, a, b)]
        assert line["ratio_unit"] == found.unit == "fraction of Nyquist"
        for field, value in (("ratio", found.ratio), ("ratio_low", found.low), ("ratio_high", found.high)):
            assert math.isclose(float(line[field]), value, rel_tol=1e-5), (method, metric, a, b, field)
        assert line["differs"] == str(found.differs)


def test_the_architecture_table_is_the_one_its_script_writes() -> None:
    spec = importlib.util.spec_from_file_location("study_architectures", STUDY / "architectures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = (STUDY / "architectures.md").read_text()
    assert written == module.architecture_markdown()
