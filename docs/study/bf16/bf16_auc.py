"""bf16 scoring against fp32: per-photograph Deletion/Insertion AUCs of raw and FORGrad Saliency maps on Lite0.

Every 50th photograph of ../shared/imagenet_sample (16), its true class, three maps per photograph (the unfiltered
map and FORGrad at 2 and 16 cycles per image), 10 steps, PyTorch scoring in fp32 and in bf16 (autocast; emulated
on a CPU without AVX-512 BF16 or AMX). Run from the repository root; `output.txt` holds the run of 2026-12-06
(18 min on 2 cores shared with the study).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

import forgrad_viz as fv
from forgrad_viz.image_folder import ImageFolderDataset
from forgrad_viz.metrics import auc, perturbation_curves
from forgrad_viz.models.pretrained import load_pretrained

warnings.simplefilter("ignore")  # the emulated-bf16 warning, once per call
model, transform = load_pretrained("efficientnet_lite0")
data = ImageFolderDataset("../shared/imagenet_sample", transform=transform)
chosen = list(range(0, len(data), 50))
images = torch.stack([data[i][0] for i in chosen])
targets = torch.tensor([data[i][1] for i in chosen])
attributions = fv.attribution.explain(model, images, targets)
maps = torch.stack(
    [attributions.mean(1).abs(), *fv.filters.forgrad(attributions, [2.0, 16.0])]
)  # (3, N, H, W)
aucs = {}
for precision in ("fp32", "bf16"):
    for mode in ("deletion", "insertion"):
        x, curves = perturbation_curves(
            model, images, maps, targets, mode=mode, steps=10, precision=precision
        )
        aucs[precision, mode] = auc(x, curves).double().numpy()
for mode in ("deletion", "insertion"):
    change = aucs["bf16", mode] - aucs["fp32", mode]
    best = {p: (aucs[p, mode].mean(1).argmax() if mode == "insertion" else aucs[p, mode].mean(1).argmin())
            for p in ("fp32", "bf16")}  # fmt: skip
    print(
        f"{mode}: N={len(chosen)} maps raw/2/16 | mean AUC fp32 {aucs['fp32', mode].mean(1).round(4)} "
        f"bf16 {aucs['bf16', mode].mean(1).round(4)} | max |change| {np.abs(change).max():.4f}, "
        f"mean |change| {np.abs(change).mean():.4f}; best of the 3 maps per mean: fp32 {best['fp32']}, "
        f"bf16 {best['bf16']}"
    )
