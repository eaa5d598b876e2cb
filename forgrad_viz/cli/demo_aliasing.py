"""The aliasing diagnosis of ``forgrad-viz demo``: :func:`forgrad_viz.aliasing` on each model, its table, JSON and
figure, and a summary to print."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from forgrad_viz.cli.outputs import export

__all__ = ["aliasing_outputs"]


def _images_for(images: torch.Tensor | Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
    if isinstance(images, torch.Tensor):
        return images
    if not isinstance(images, Mapping):
        raise TypeError(
            f"images must be a tensor or a dict of model name -> tensor; got {type(images).__name__}"
        )
    if name not in images:
        raise ValueError(f"images has no entry for model {name!r}; it has {list(images)}")
    return images[name]


def _summary(report: Any) -> dict[str, Any]:
    """Layers found, HF energy removed by each intervention and prediction agreement, as plain numbers."""
    rows = [*report.rows, report.all_layers]
    return {
        "layers": [{"name": r.name, "kind": r.kind, "stride": list(r.stride)} for r in report.rows],
        "cutoff": report.cutoff,
        "hf_energy": report.hf_energy,
        "removed": {r.name: -r.hf_change for r in rows},
        "agreement": {r.name: r.agreement for r in rows},
        "prob_change": {r.name: r.prob_change for r in rows},
        "n_images": int(report.hf_energy_images.numel()),
    }


def _text(name: str, summary: dict[str, Any]) -> str:
    parts = [
        f"{'all layers' if row == 'all' else row} {summary['removed'][row]:+.3f} "
        f"(agreement {summary['agreement'][row]:.2f})"
        for row in summary["removed"]
    ]
    kinds = ", ".join(f"{layer['name']} ({layer['kind']})" for layer in summary["layers"])
    return (
        f"  {name}: {len(summary['layers'])} downsampling layers [{kinds}]; HF energy above "
        f"{summary['cutoff']:g} cycles/image {summary['hf_energy']:.3f}; removed by anti-aliasing "
        + "; ".join(parts)
    )


def aliasing_outputs(
    models: Mapping[str, nn.Module],
    images: torch.Tensor | Mapping[str, torch.Tensor],
    out_dir: str | Path,
    formats: tuple[str, ...] = ("png",),
    progress: bool = True,
) -> dict[str, Any]:
    """Run :func:`forgrad_viz.aliasing` (saliency, default cutoff) on each model and write its outputs.

    For each model ``m``: ``aliasing_m.md`` (the table), ``aliasing_m.json`` (the report,
    :meth:`~forgrad_viz.AliasingReport.load` reads it back) and the figure ``aliasing_m.<fmt>``
    (:func:`forgrad_viz.plot.aliasing`) in ``out_dir``.

    Parameters
    ----------
    models : dict
        Model name -> classifier.
    images : Tensor or dict
        Images for every model, or model name -> images (a pretrained model takes its own size).
    out_dir : str or Path
        Output folder (created).
    formats : tuple of str
        Figure formats (``"pdf"``, ``"svg"``, ``"png"``).
    progress : bool
        Show a progress bar over the models.

    Returns
    -------
    dict
        ``{"models": {name: summary}, "files": [paths written], "text": lines to print}``; a summary holds the
        layers found (name, kind, stride), the cutoff, the original maps' HF energy, and per intervention (each
        layer, ``"all"``) the HF energy removed, the prediction agreement and the mean ``|Δp|``.

    Examples
    --------
    >>> from forgrad_viz.models import build_demo_model
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = aliasing_outputs({"m": build_demo_model("strided_cnn")}, torch.rand(2, 3, 64, 64), tmp,
    ...                            progress=False)
    >>> [layer["name"] for layer in out["models"]["m"]["layers"]]
    ['3', '9', '15']
    """
    from forgrad_viz.downsampling import aliasing
    from forgrad_viz.plot import aliasing as plot_aliasing

    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict of name -> nn.Module")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, dict[str, Any]] = {}
    written: list[Path] = []
    for name, model in tqdm(models.items(), desc="aliasing", disable=not progress):
        report = aliasing(model, _images_for(images, name))
        (out / f"aliasing_{name}.md").write_text(report.to_markdown() + "\n")
        report.save(out / f"aliasing_{name}.json")
        written += [out / f"aliasing_{name}.md", out / f"aliasing_{name}.json"]
        written += export(plot_aliasing(report), out / f"aliasing_{name}", formats)
        summaries[name] = _summary(report)
    lines = ["aliasing (saliency; HF energy removed by anti-aliasing each layer, then all at once):"]
    lines += [_text(name, summary) for name, summary in summaries.items()]
    return {"models": summaries, "files": written, "text": "\n".join(lines)}
