"""The dense model's forward pass in ONNX Runtime, for CPUs.

On a 2-core CPU, one thread, the embedded model's whole predict takes 23.0 ms with eager torch
and 16.8 ms with ONNX Runtime (``benchmarks/dense_inference.py --threads 1 --runtime torch|
onnxruntime``): at these sizes eager torch pays per operator in Python, and the runtime fuses
and plans the whole graph once.

The graph is exported from the loaded torch model in memory (no file to keep in step with the
checkpoint) and checked against torch on the same input before it is used. One graph is built
per input size, because the EfficientNet encoder's "same" padding is computed from the size
when traced; a camera sends one size, so this costs one export (about 1 s) at the first frame.
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

LOG = logging.getLogger(__name__)
#: Largest difference from torch's outputs (logits and regressions) accepted for a graph.
TOLERANCE = 1e-3


class OnnxRuntimeUnavailable(RuntimeError):
    """onnxruntime (or onnx, which the exporter needs) is not installed."""


def onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401 (the exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxForward:
    """``forward(images)``: (B, H, W, 3) uint8 model-frame pixels -> (B, 5, H, W) float32 raw maps,
    exactly what ``model(images)`` returns, run by ONNX Runtime with ``threads`` threads.

    With ``fall_back_to_torch``, a size whose graph cannot be built or does not match torch is
    run by torch instead (logged once); without it that is an error.
    """

    def __init__(self, model: nn.Module, threads: int, max_sizes: int = 4, fall_back_to_torch: bool = False) -> None:
        if not onnxruntime_available():
            raise OnnxRuntimeUnavailable(
                "runtime onnxruntime needs the packages onnxruntime and onnx (requirements/core.txt)"
            )
        self._model = model
        self._threads = max(1, threads)
        self._max_sizes = max_sizes
        self._fall_back = fall_back_to_torch
        self._sessions: OrderedDict[tuple[int, ...], object | None] = OrderedDict()  # None: torch runs this size

    @property
    def threads(self) -> int:
        return self._threads

    def __call__(self, images: np.ndarray) -> np.ndarray:
        key = tuple(images.shape)
        if key in self._sessions:
            self._sessions.move_to_end(key)
            session = self._sessions[key]
        else:
            session = self._build_or_fall_back(images)
            self._sessions[key] = session
            if len(self._sessions) > self._max_sizes:
                self._sessions.popitem(last=False)
        if session is None:
            with torch.inference_mode():
                return self._model(torch.from_numpy(images)).numpy()
        return session.run(None, {"images": images})[0]  # type: ignore[attr-defined]

    def _build_or_fall_back(self, images: np.ndarray) -> object | None:
        try:
            return self._build(images)
        except Exception as error:  # export and runtime errors have many types
            if not self._fall_back:
                raise
            LOG.warning(
                "ONNX Runtime unusable for input %s (%s: %s); torch runs it",
                tuple(images.shape),
                type(error).__name__,
                error,
            )
            return None

    def _build(self, images: np.ndarray) -> object:
        import onnxruntime

        start = time.perf_counter()
        example = torch.from_numpy(np.ascontiguousarray(images))
        buffer = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            # The tracer warns that the encoder's padding is fixed to this size: that is why there is
            # one graph per size.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                self._model,
                (example,),
                buffer,  # type: ignore[arg-type]  # torch writes to any binary file object
                input_names=["images"],
                output_names=["maps"],
                dynamo=False,
                opset_version=17,
            )
            expected = self._model(example).numpy()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads sleep instead of spinning: on a robot the cores are shared with DDS and
        # other nodes, and a spinning pool takes their time between frames.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        got = session.run(None, {"images": images})[0]
        difference = float(np.abs(got - expected).max())
        if not np.isfinite(difference) or difference > TOLERANCE:
            raise RuntimeError(
                f"the ONNX Runtime graph differs from torch by {difference:.2e} "
                f"(> {TOLERANCE}) for input {tuple(images.shape)}"
            )
        LOG.info(
            "ONNX Runtime graph for input %s built in %.0f ms (max difference from torch %.1e)",
            tuple(images.shape),
            (time.perf_counter() - start) * 1000.0,
            difference,
        )
        return session
