#!/usr/bin/env bash
# The real-model study (docs/study/README.md): EfficientNet-Lite0/1/2 on ../shared/imagenet_sample (800 ImageNet
# photographs, never copied here). Run from the repository root. Every step is resumable: run the script again
# after an interruption and each `compare` resumes from its checkpoints (docs/study/**/checkpoints), losing at
# most one block of 32 images; finished steps are recomputed from their checkpoints in seconds.
set -euo pipefail
IMAGES=${IMAGES:-../shared/imagenet_sample}
# the same cutoffs, as fractions of Nyquist, at every resolution (1, 2, 3, 4, 6, 8, 12, 16 and 32 cycles per image
# at 224x224); 10 Deletion/Insertion steps; 64 MuFidelity subsets; scoring by ONNX Runtime (fp32 numbers)
COMMON=(--images "$IMAGES" --cutoff-unit nyquist --cutoffs 0.00893,0.0179,0.0268,0.0357,0.0536,0.0714,0.107,0.143,0.286
        --steps 10 --n-subsets 64 --backend onnxruntime --formats png --folds 5)
SG=(--method-option smoothgrad.n_samples=16)
IG=(--method-option integrated_gradients.n_steps=16)
step() { echo "== $(date -u +%H:%M:%S) $*"; python -m forgrad_viz compare "${COMMON[@]}" "$@" --no-progress; }
# a finished step is not rerun: its checkpoint's units depend on the chunks of cutoffs that the memory budget of the
# version that ran it chose, so a later version may not find them (and its rerun would record fewer forward passes)
done_or() { if [ -f "$1" ]; then echo "== done: $1"; else shift; step "$@"; fi; }

# 1. white-box methods on every 2nd photograph (400; the other 400 are the next pass, --offset 1)
done_or docs/study/sweeps/efficientnet_lite0_smoothgrad.json \
    --models efficientnet_lite0 --methods saliency smoothgrad "${SG[@]}" --every 2 --out docs/study
# 2. black-box references on every 4th photograph (200), with the same white-box methods on them
done_or docs/study/references/sweeps/efficientnet_lite0_smoothgrad.json \
    --models efficientnet_lite0 --methods saliency smoothgrad "${SG[@]}" --every 4 --references rise occlusion \
    --rise-masks 1000 --out docs/study/references
# 3. the map's borders: step 2's saliency with reflect padding before the filter (the paper's is periodic, none)
done_or docs/study/padding/sweeps/efficientnet_lite0_saliency.json \
    --models efficientnet_lite0 --methods saliency --every 4 --padding reflect --out docs/study/padding
# 4. step 2's saliency scored by PyTorch fp32 instead of ONNX Runtime: per-image AUC changes, sigma* and verdicts
done_or docs/study/backends/sweeps/efficientnet_lite0_saliency.json \
    --models efficientnet_lite0 --methods saliency --every 4 --backend torch --out docs/study/backends
# 5-8. the other models and methods
done_or docs/study/sweeps/efficientnet_lite1_smoothgrad.json \
    --models efficientnet_lite1 --methods saliency smoothgrad "${SG[@]}" --every 2 --out docs/study
done_or docs/study/sweeps/efficientnet_lite2_smoothgrad.json \
    --models efficientnet_lite2 --methods saliency smoothgrad "${SG[@]}" --every 2 --out docs/study
done_or docs/study/sweeps/efficientnet_lite0_integrated_gradients.json \
    --models efficientnet_lite0 --methods gradient_input integrated_gradients "${IG[@]}" --every 2 --out docs/study
# one model per step, so that each model's references and the folder's reports are written when it ends
for model in efficientnet_lite1 efficientnet_lite2; do
    done_or "docs/study/references/sweeps/${model}_smoothgrad.json" \
        --models "$model" --methods saliency smoothgrad "${SG[@]}" --every 4 \
        --references rise occlusion --rise-masks 1000 --out docs/study/references
done
