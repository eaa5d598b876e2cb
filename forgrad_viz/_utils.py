"""Shared input validation, model-state guards and batching helpers (internal).

Every public function of forgrad_viz validates its inputs with these helpers so that bad input gives the same
clear ``TypeError``/``ValueError`` everywhere, naming the argument and what was expected.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

T = TypeVar("T")

_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
)

#: Default number of model inputs per pass on the CPU where no better size is known (attribution passes).
CPU_BATCH_SIZE = 64
#: Default number of images per forward pass on CUDA before any out-of-memory back-off.
CUDA_BATCH_SIZE = 512
#: Most inputs per automatic CPU forward pass (:func:`cpu_batch_size`). Measured on 2 cores, fastest of 4
#: interleaved rounds: the demo CNNs at 64 x 64 run fastest at 16 (1.1 to 3.3 ms per input; 1.0 to 1.3 times that
#: at 32, 1.4 to 1.5 at 64); EfficientNet-Lite0 at 224 x 224 ran fastest at 16 on a busy machine (2 times faster
#: than 8) and at 8 on a quieter one (1.5 times faster than 16).
CPU_FORWARD_BATCH = 16
#: The most input values in one automatic CPU batch (:func:`cpu_batch_size`): 16 images of 3 x 224 x 224.
CPU_BATCH_ELEMENTS = 16 * 3 * 224 * 224


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ``ValueError`` naming ``name``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {list(choices)}; got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")
    return value


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return value


def check_model(model: Any, name: str = "model") -> nn.Module:
    """Return ``model`` if it is a ``torch.nn.Module``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module; got {type(model).__name__}")
    return model


#: How far outside [0, 1] image values may stray (float rounding of resizing or blending) without a warning.
_RANGE_SLACK = 1e-3
#: A maximum above this means 0-255 pixel values, refused: no [0, 1] image comes near it.
_EIGHT_BIT_MAX = 16.0


def check_images(images: Any, name: str = "images") -> torch.Tensor:
    """Validate a batch of images: a finite, floating-point tensor of shape (N, C, H, W) with N >= 1, in [0, 1].

    Values in 0-255 are refused (ValueError); other values outside [0, 1] warn, since the metrics themselves are
    defined for any input space (a model normalising elsewhere, a hand-computed test case).

    Returns the tensor itself (never a modified copy): callers must not write into it.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W); got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W); got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (float RGB in [0, 1]); got {images.dtype}")
    if images.numel() == 0:
        raise ValueError(f"{name} must not be empty; got shape {tuple(images.shape)}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if high > _EIGHT_BIT_MAX:
        raise ValueError(
            f"{name} must be float RGB in [0, 1]; got values in [{low:.4g}, {high:.4g}]: divide 0-255 images by 255"
        )
    if low < -_RANGE_SLACK or high > 1 + _RANGE_SLACK:
        warnings.warn(
            f"{name} hold values in [{low:.4g}, {high:.4g}], outside the pixel space [0, 1] that baselines, "
            "blurs and figures assume (normalisation belongs inside the model)",
            UserWarning,
            stacklevel=3,
        )
    return images


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without any)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def default_batch_size(device: torch.device) -> int:
    """A good starting batch size for forward passes on ``device``."""
    return CUDA_BATCH_SIZE if device.type == "cuda" else CPU_BATCH_SIZE


@contextlib.contextmanager
def preserved_model(model: nn.Module, train: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` in eval (or train) mode for the block, then restore it exactly.

    On exit, whatever happens in the block, every submodule gets back its own ``training`` flag and any hook
    that was added to any submodule during the block is removed.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout()).train()
    >>> with preserved_model(net):
    ...     assert not net.training
    >>> net.training
    True
    """
    modules = list(model.modules())
    modes = [m.training for m in modules]
    hook_keys = [{attr: set(getattr(m, attr, {}).keys()) for attr in _HOOK_DICTS} for m in modules]
    model.train(train)
    try:
        yield model
    finally:
        for module, mode, keys in zip(modules, modes, hook_keys, strict=True):
            module.training = mode
            for attr, before in keys.items():
                hooks = getattr(module, attr, None)
                if hooks is None:
                    continue
                for key in [k for k in hooks if k not in before]:
                    del hooks[key]


def iter_chunks(total: int, chunk: int) -> Iterator[slice]:
    """Slices ``[start, stop)`` covering ``range(total)`` in pieces of at most ``chunk``."""
    for start in range(0, total, chunk):
        yield slice(start, min(start + chunk, total))


def is_cuda_oom(error: BaseException) -> bool:
    """True for a CUDA out-of-memory error."""
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower()


def with_oom_backoff(work: Callable[[int], T], batch_size: int | None, device: torch.device) -> T:
    """Run ``work(size)``; with ``batch_size=None`` start at :func:`default_batch_size` and halve on CUDA OOM.

    An explicit ``batch_size`` is used as given and any error propagates.
    """
    size = batch_size if batch_size is not None else default_batch_size(device)
    while True:
        try:
            return work(size)
        except RuntimeError as error:
            if batch_size is not None or not is_cuda_oom(error) or size == 1:
                raise
            torch.cuda.empty_cache()
            size = max(1, size // 2)


def run_batched(
    function: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    batch_size: int | None,
    device: torch.device,
) -> torch.Tensor:
    """Apply ``function`` to ``inputs`` in chunks along dim 0 and concatenate the results.

    The chunk size follows :func:`with_oom_backoff`.
    """

    def work(size: int) -> torch.Tensor:
        return torch.cat([function(inputs[part]) for part in iter_chunks(inputs.shape[0], size)], dim=0)

    return with_oom_backoff(work, batch_size, device)


def forward_logits(model: nn.Module, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Logits of ``model`` on ``images`` (N, K) under ``torch.inference_mode()``, in eval mode, batched.

    ``batch_size=None`` uses :func:`cpu_batch_size` on the CPU, else :func:`default_batch_size`.
    """
    if batch_size is None and images.device.type == "cpu":
        batch_size = cpu_batch_size(input_key(images))
    with preserved_model(model), torch.inference_mode():
        return run_batched(model, images, batch_size, images.device)


def cpu_batch_size(key: tuple) -> int:
    """The automatic CPU batch size for inputs of ``key`` (see :func:`input_key`): a fixed function of one input's
    size, never of timings.

    The largest power of two up to ``CPU_FORWARD_BATCH`` whose batch holds at most ``CPU_BATCH_ELEMENTS`` input
    values (at least 1). Fixed so that every row goes through the model in a batch of the same size in every run
    and process: a row's outputs can depend on its batch's size (EfficientNet-Lite0's logits change in the last
    bits between a batch of 1 or 3 and one of 4 or 16), and a size chosen by timing differs between runs.

    Examples
    --------
    >>> cpu_batch_size(((3, 64, 64), torch.float32, 2)), cpu_batch_size(((3, 320, 320), torch.float32, 2))
    (16, 4)
    >>> cpu_batch_size(((3, 1024, 1024), torch.float32, 2))
    1
    """
    per_input = max(1, math.prod(key[0]))
    size = 1
    while size * 2 <= CPU_FORWARD_BATCH and size * 2 * per_input <= CPU_BATCH_ELEMENTS:
        size *= 2
    return size


def input_key(images: torch.Tensor) -> tuple:
    """What an automatic batch size may depend on besides the model: one input's shape, the dtype, the CPU
    threads."""
    return tuple(images.shape[1:]), images.dtype, torch.get_num_threads()


class BatchSizer:
    """Chunk sizes for a stream of forward passes of ``model`` on inputs like ``images[0]``.

    An explicit ``batch_size`` is used as given. ``None`` on the CPU uses :func:`cpu_batch_size` (fixed by the
    input's size: the same batches in every run and process, so the same bits). ``None`` on CUDA starts at
    :func:`default_batch_size` and halves on out-of-memory errors.

    Examples
    --------
    >>> sizer = BatchSizer(torch.nn.Linear(2, 2), 8, torch.device("cpu"), ((2,), torch.float32))
    >>> sizer.next_size()
    8
    >>> BatchSizer(torch.nn.Linear(2, 2), None, torch.device("cpu"), ((2,), torch.float32, 1)).next_size()
    16
    """

    def __init__(self, model: nn.Module, batch_size: int | None, device: torch.device, key: tuple) -> None:
        self.explicit = batch_size is not None
        if batch_size is not None:
            self.size = batch_size
        elif device.type == "cpu":
            self.size = cpu_batch_size(key)
        else:
            self.size = default_batch_size(device)

    def next_size(self, remaining: int | None = None) -> int:
        """The size of the next chunk (the same whatever the inputs ``remaining`` in the call)."""
        return self.size

    def record(self, n_inputs: int, seconds: float) -> None:
        """Account for a successful chunk: nothing to do (sizes never depend on timings; kept for callers)."""

    def back_off(self, error: RuntimeError) -> bool:
        """Halve the size after a CUDA out-of-memory error in automatic mode; False means re-raise."""
        if self.explicit or not is_cuda_oom(error) or self.size == 1:
            return False
        torch.cuda.empty_cache()
        self.size = max(1, self.size // 2)
        return True


def check_targets(targets: Any, n_images: int, n_classes: int, device: torch.device) -> torch.Tensor:
    """Validate explicit targets: ints, a sequence or a 1-D integer tensor of length N in [0, n_classes)."""
    if isinstance(targets, bool):
        raise TypeError("targets must be None, an int, or N integers")
    if isinstance(targets, int):
        tensor = torch.full((n_images,), targets, dtype=torch.long)
    else:
        try:
            tensor = torch.as_tensor(targets)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"targets must be None, an int, or N integers; got {type(targets).__name__}"
            ) from error
        if tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool:
            raise TypeError(f"targets must be integers; got dtype {tensor.dtype}")
        if tensor.dim() != 1 or tensor.shape[0] != n_images:
            raise ValueError(
                f"targets must have one class index per image ({n_images}); got shape {tuple(tensor.shape)}"
            )
        tensor = tensor.long()
    if n_images and (int(tensor.min()) < 0 or int(tensor.max()) >= n_classes):
        raise ValueError(
            f"targets must lie in [0, {n_classes - 1}] (the model has {n_classes} outputs); "
            f"got values in [{int(tensor.min())}, {int(tensor.max())}]"
        )
    return tensor.to(device)


def resolve_targets(
    model: nn.Module, images: torch.Tensor, targets: Any = None, batch_size: int | None = None
) -> torch.Tensor:
    """Target classes as a long tensor (N,) on the images' device; ``None`` means the predicted class."""
    logits = forward_logits(model, images[:1] if targets is not None else images, batch_size)
    if logits.dim() != 2:
        raise ValueError(f"model must return logits of shape (N, classes); got shape {tuple(logits.shape)}")
    if targets is None:
        return logits.argmax(dim=1)
    return check_targets(targets, images.shape[0], logits.shape[1], images.device)


def class_scores(logits: torch.Tensor, targets: torch.Tensor, score: str) -> torch.Tensor:
    """The target class's ``"probability"`` (softmax) or ``"logit"`` for each row of ``logits``."""
    check_choice(score, "score", ("probability", "logit"))
    values = logits.softmax(dim=-1) if score == "probability" else logits
    return values.gather(-1, targets.reshape(-1, 1)).squeeze(-1)


def torch_generator(seed: int, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer; got {type(seed).__name__}")
    return torch.Generator(device=device).manual_seed(seed)


def check_finite_number(value: Any, name: str, positive: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real number (and > 0 when ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0; got {value}")
    return value
