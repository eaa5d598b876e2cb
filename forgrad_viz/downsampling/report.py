"""The result of :func:`forgrad_viz.downsampling.aliasing`: per-layer interventions and gradient spectra."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from forgrad_viz.downsampling.gradients import LayerSpectrum

__all__ = ["AliasingReport", "AliasingRow"]


@dataclass
class AliasingRow:
    """One intervention: a downsampling layer anti-aliased alone (or all of them at once, ``name="all"``).

    The anti-aliased copy of the model is compared with the original on the same images: the high-frequency
    energy of its maps, its predictions and its probabilities.

    Attributes
    ----------
    name : str
        The layer's dotted name in the model, or ``"all"``.
    kind : str
        Kind of layer (see :data:`forgrad_viz.downsampling.KINDS`), ``"all"`` for the all-layers row.
    module_type : str
        The layer's class name (empty for ``"all"``).
    stride : tuple of int or None
        ``(sy, sx)``; None for ``"all"``.
    in_size, out_size : tuple of int or None
        ``(H, W)`` of the layer's input and output; None for ``"all"``.
    hf_energy : float
        Mean over images of the high-frequency energy of the anti-aliased model's maps.
    hf_change : float
        ``hf_energy`` minus the original model's (negative: the intervention removed high frequencies).
    agreement : float
        Fraction of images whose predicted class is the original model's.
    prob_change : float
        Mean absolute change of the target class's softmax probability.
    hf_energy_images : torch.Tensor
        ``(N,)`` per-image high-frequency energy (on the device).
    """

    name: str
    kind: str
    module_type: str
    stride: tuple[int, int] | None
    in_size: tuple[int, int] | None
    out_size: tuple[int, int] | None
    hf_energy: float
    hf_change: float
    agreement: float
    prob_change: float
    hf_energy_images: torch.Tensor = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary."""
        data = {key: getattr(self, key) for key in self.__dataclass_fields__ if key != "hf_energy_images"}
        for key in ("stride", "in_size", "out_size"):
            data[key] = list(data[key]) if data[key] is not None else None
        data["hf_energy_images"] = self.hf_energy_images.detach().cpu().double().tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AliasingRow:
        """The inverse of :meth:`to_dict`."""
        values = dict(data)
        for key in ("stride", "in_size", "out_size"):
            values[key] = tuple(values[key]) if values[key] is not None else None
        values["hf_energy_images"] = torch.tensor(values["hf_energy_images"], dtype=torch.float64)
        return cls(**values)


def _size(value: tuple[int, int] | None) -> str:
    return "" if value is None else f"{value[0]}x{value[1]}"


@dataclass
class AliasingReport:
    """How much of an attribution method's high-frequency energy each downsampling layer causes.

    Attributes
    ----------
    method : str
        The attribution method.
    cutoff : float
        Cutoff (cycles per image) above which power counts as high-frequency.
    hf_energy : float
        Mean high-frequency energy of the original model's maps.
    hf_energy_images : torch.Tensor
        ``(N,)`` per image, for the original model.
    rows : list of AliasingRow
        One per downsampling layer, in the order they run.
    all_layers : AliasingRow
        Every layer of ``rows`` anti-aliased at once.
    spectra : list of LayerSpectrum
        Gradient spectrum at each layer's input in the original model (same order as ``rows``).
    spectra_antialiased : list of LayerSpectrum
        The same in the model with every layer anti-aliased (gradient at the anti-aliased layer's input, before
        its blur).
    skipped : list of str
        Size-reducing layers not analysed (global pools).
    params : dict
        Parameters of the analysis (cutoff source, method options, number of images, ...).

    Examples
    --------
    >>> from forgrad_viz.downsampling import aliasing
    >>> from forgrad_viz.models import build_demo_model
    >>> report = aliasing(build_demo_model("maxpool_cnn"), torch.rand(4, 3, 64, 64))
    >>> report.layers
    ['6', '13', '20']
    >>> print(report.to_markdown().splitlines()[2])
    | layer | type | stride | input | output | HF energy | change | agreement | mean abs. change of p |
    """

    method: str
    cutoff: float
    hf_energy: float
    hf_energy_images: torch.Tensor
    rows: list[AliasingRow]
    all_layers: AliasingRow
    spectra: list[LayerSpectrum]
    spectra_antialiased: list[LayerSpectrum]
    skipped: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> list[str]:
        """Dotted names of the downsampling layers analysed, in the order they run."""
        return [row.name for row in self.rows]

    def row(self, name: str) -> AliasingRow:
        """The row of layer ``name`` (``"all"`` for the all-layers row)."""
        for row in [*self.rows, self.all_layers]:
            if row.name == name:
                return row
        raise KeyError(f"no layer {name!r}; layers: {self.layers}")

    def spectrum(self, name: str, antialiased: bool = False) -> LayerSpectrum:
        """The gradient spectrum at the input of layer ``name`` (of the all-layers anti-aliased model)."""
        for spectrum in self.spectra_antialiased if antialiased else self.spectra:
            if spectrum.name == name:
                return spectrum
        raise KeyError(f"no layer {name!r}; layers: {self.layers}")

    def to_markdown(self, digits: int = 3) -> str:
        """The table of interventions (one row per layer, then all layers at once) as Markdown.

        ``change`` is the high-frequency energy of the anti-aliased model's maps minus the original's.
        """
        lines = [
            f"High-frequency energy of {self.method} maps above {self.cutoff:g} cycles per image: "
            f"{self.hf_energy:.{digits}f} (original model)",
            "",
            "| layer | type | stride | input | output | HF energy | change | agreement | mean abs. change of p |",
            "|---|---|---|---|---|---:|---:|---:|---:|",
        ]
        for row in [*self.rows, self.all_layers]:
            stride = "" if row.stride is None else f"{row.stride[0]}x{row.stride[1]}"
            kind = row.kind if not row.module_type else f"{row.kind} ({row.module_type})"
            lines.append(
                f"| {row.name} | {kind} | {stride} | {_size(row.in_size)} | {_size(row.out_size)} | "
                f"{row.hf_energy:.{digits}f} | {row.hf_change:+.{digits}f} | {row.agreement:.{digits}f} | "
                f"{row.prob_change:.{digits}f} |"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary (see :meth:`from_dict`)."""
        return {
            "type": "AliasingReport",
            **{name: getattr(self, name) for name in ("method", "cutoff", "hf_energy")},
            "hf_energy_images": self.hf_energy_images.detach().cpu().double().tolist(),
            "rows": [row.to_dict() for row in self.rows],
            "all_layers": self.all_layers.to_dict(),
            "spectra": [spectrum.to_dict() for spectrum in self.spectra],
            "spectra_antialiased": [spectrum.to_dict() for spectrum in self.spectra_antialiased],
            "skipped": list(self.skipped),
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AliasingReport:
        """The inverse of :meth:`to_dict` (tensors on the CPU, float64)."""
        if data.get("type") != "AliasingReport":
            raise ValueError(f"data is not an AliasingReport dictionary (type {data.get('type')!r})")
        return cls(
            method=data["method"],
            cutoff=float(data["cutoff"]),
            hf_energy=float(data["hf_energy"]),
            hf_energy_images=torch.tensor(data["hf_energy_images"], dtype=torch.float64),
            rows=[AliasingRow.from_dict(row) for row in data["rows"]],
            all_layers=AliasingRow.from_dict(data["all_layers"]),
            spectra=[LayerSpectrum.from_dict(s) for s in data["spectra"]],
            spectra_antialiased=[LayerSpectrum.from_dict(s) for s in data["spectra_antialiased"]],
            skipped=list(data.get("skipped", [])),
            params=dict(data.get("params", {})),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` as JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.to_dict(), file)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AliasingReport:
        """Read a report written by :meth:`save`."""
        with open(path, encoding="utf-8") as file:
            return cls.from_dict(json.load(file))
