"""The notebooks: committed without outputs, and each runs end to end (quick settings) without a cell error.

Each notebook runs in a fresh ``python3`` kernel whose working directory is a temporary folder (so the files it
exports land there), with ``FORGRAD_VIZ_QUICK=1`` (the notebooks shrink their settings) and the repository root on
``PYTHONPATH`` (the package need not be installed).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = (
    "01_quickstart.ipynb",
    "02_choose_a_cutoff.ipynb",
    "03_compare_architectures.ipynb",
    "04_paper_figures.ipynb",
    "05_torchvision_models.ipynb",
)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
OFFLINE_LINE = "No pretrained weights available offline"


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
    nb = _execute(path, tmp_path, monkeypatch)
    assert not [out for out in _outputs(nb) if out.output_type == "error"]
    assert _has(nb, "image/png") >= 1, "the notebook displayed no figure"
    assert "quick settings: True" in _stdout(nb)
    name = path.name
    if name in ("01_quickstart.ipynb", "02_choose_a_cutoff.ipynb", "03_compare_architectures.ipynb"):
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
    if name == "05_torchvision_models.ipynb":
        stdout = _stdout(nb)
        offline = [line for line in stdout.splitlines() if OFFLINE_LINE in line]
        assert len(offline) <= 1, "the offline message must be one line"
        if offline:
            assert "randomly initialised weights" in offline[0]
            assert "random weights" in stdout.replace(offline[0], "")
        assert "Downloading" not in stdout
        assert "same outputs: True" in stdout
    assert not any(Path(ROOT / "notebooks").glob("*.pdf")), "a notebook wrote into the repository"
