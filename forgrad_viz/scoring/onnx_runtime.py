"""Scoring with ONNX Runtime: the model exported once per input shape, run by the CPU provider.

Measured on the CI machine kind (2 AVX2 cores), EfficientNet-Lite0 at 224x224: logits within 2.1e-5 of PyTorch
fp32's, each row's logits the same bits whatever the batch it is in, and 2-7x faster than PyTorch fp32 per image
(see the README's performance section). The session uses torch's thread count, and its threads sleep rather than
spin while they wait (``session.intra_op.allow_spinning = 0``), so work that other processes start mid-run costs a
fair share, not a stall.
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from forgrad_viz.scoring.base import ScoringModel


class OnnxRuntimeModel(ScoringModel):
    """``model`` exported to ONNX (dynamic batch, one export per image shape) and run by ONNX Runtime.

    Forward hooks on ``model`` do not see these passes (``calls_model`` is False); hooks on this wrapper do.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> runtime = OnnxRuntimeModel(net)
    >>> x = torch.rand(2, 3, 2, 2)
    >>> bool(torch.allclose(runtime(x), net(x), atol=1e-5))
    True
    """

    calls_model = False
    follows_torch_threads = False

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model, "fp32", "onnxruntime")
        self._sessions: dict[tuple[int, ...], object] = {}

    def _session(self, shape: tuple[int, ...]) -> object:
        session = self._sessions.get(shape)
        if session is None:
            session = self._sessions[shape] = _export(self.model, shape)
        return session

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.device.type != "cpu":
            raise ValueError(f"backend='onnxruntime' runs on the CPU; got inputs on {inputs.device}")
        session = self._session(tuple(inputs.shape[1:]))
        array = inputs.detach().to(torch.float32).contiguous().numpy()
        (logits,) = session.run(None, {"images": array})  # type: ignore[attr-defined]
        return torch.from_numpy(logits)


def _export(model: nn.Module, shape: tuple[int, ...]) -> object:
    """An ONNX Runtime session of ``model`` for inputs (batch, *shape); a clear error if it cannot be exported."""
    import onnxruntime

    from forgrad_viz._threads import thread_check
    from forgrad_viz._utils import preserved_model

    buffer = io.BytesIO()
    name = type(model).__name__
    try:
        with (
            torch.inference_mode(False),
            torch.no_grad(),
            preserved_model(model),
            thread_check(),  # the tracing pass is not a scoring pass: forward counters leave it out
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
            torch.onnx.export(
                model,
                (torch.zeros(2, *shape),),
                buffer,
                input_names=["images"],
                output_names=["logits"],
                dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                dynamo=False,
            )
    except Exception as error:  # the exporter raises many types; all mean "cannot export"
        raise ValueError(
            f"model {name} cannot be exported to ONNX for inputs of shape {shape} "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
            "score it with backend='torch'"
        ) from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.use_deterministic_compute = True
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
