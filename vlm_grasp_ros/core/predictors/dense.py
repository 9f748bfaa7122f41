"""The ``dense`` backend: a frozen encoder + FPN decoder checkpoint (see ``core/dense``).

With no ``model_path`` it loads the embedded default that ships in the package
(``vlm_grasp_ros/models/dense_lite0_synthetic``): EfficientNet-Lite0 + a decoder trained on
synthetic scenes by ``training/configs/dense_lite0_synthetic.yaml``.

``runtime`` picks what runs the network: ``torch``, or ``onnxruntime`` (CPU only; the graph is
exported from the loaded model and checked against it). ``auto`` takes ONNX Runtime for the
EfficientNet encoder on a CPU (falling back to torch if a graph cannot be built), torch otherwise.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlm_grasp_ros.core.dense.checkpoint import load_checkpoint
from vlm_grasp_ros.core.dense.grasp_maps import GraspMaps
from vlm_grasp_ros.core.dense.model import ArrayForward, DenseGraspModel, FrameGeometry
from vlm_grasp_ros.core.dense.onnx_forward import OnnxForward, onnxruntime_available
from vlm_grasp_ros.core.device import resolve_device
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.predictors.base import GraspPredictor, GraspQuery
from vlm_grasp_ros.core.predictors.dense_options import RUNTIMES, DenseOptions

EMBEDDED_MODEL = Path(__file__).resolve().parents[2] / "models" / "dense_lite0_synthetic"
#: The default's cap on CPU threads: a model this small gains little from more (not measured past 2 cores).
DEFAULT_MAX_THREADS = 4


def inference_threads(requested: int) -> int:
    """CPU threads for inference: ``requested``, or by default every core up to four. On the
    2-core test machine two ONNX Runtime threads (which sleep when idle) gave a 16.7 ms median
    end to end at 30 Hz (18.1 ms in a second 5-run measurement) against 20.5 ms with one, at the
    same p95 and with no frame lost (benchmarks/node_latency.py, 5 runs each)."""
    return requested or min(DEFAULT_MAX_THREADS, os.cpu_count() or 1)


class DensePredictor(GraspPredictor):
    name = "dense"

    def __init__(self, model: DenseGraspModel, model_id: str, forward: ArrayForward | None = None) -> None:
        self.model = model.eval()
        self._model_id = model_id
        self._forward = forward

    @classmethod
    def from_options(cls, options: DenseOptions) -> DensePredictor:
        """The backend as the registry builds it: CPU threads resolved (0 = every core up to 4)
        and torch's own capped to the same number."""
        threads = inference_threads(options.cpu_threads)
        predictor = cls.from_path(options.model_path, options.device, options.runtime, threads)
        torch.set_num_threads(threads)
        # Overrides of the checkpoint's own choices (-1 / "model" keep them); the network is untouched.
        config = predictor.model.config
        thresholds: dict[str, Any] = {
            "mask_threshold": options.mask_threshold,
            "min_relative_quality": options.min_relative_quality,
            "fallback_mask_threshold": options.fallback_mask_threshold,
        }
        config.postprocess = replace(config.postprocess, **{k: v for k, v in thresholds.items() if v >= 0.0})
        if options.flip_average != "model":
            config.flip_average = options.flip_average == "on"
        return predictor

    @classmethod
    def from_path(
        cls, model_path: str = "", device: str = "auto", runtime: str = "auto", threads: int = 0
    ) -> DensePredictor:
        """``threads``: CPU threads for ONNX Runtime (0 = as many as torch uses)."""
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        folder = Path(model_path) if model_path else EMBEDDED_MODEL
        resolved = resolve_device(device)
        if runtime == "onnxruntime" and resolved.type != "cpu":
            raise ValueError(f"runtime onnxruntime runs on the CPU only; device {device!r} resolved to {resolved}")
        model = load_checkpoint(folder, resolved)
        # auto: ONNX Runtime where it was measured faster (the convolutional encoder on a CPU).
        auto_onnx = (
            runtime == "auto"
            and resolved.type == "cpu"
            and model.config.encoder.name == "efficientnet_lite0"
            and onnxruntime_available()
        )
        forward = (
            OnnxForward(model, threads or torch.get_num_threads(), fall_back_to_torch=auto_onnx)
            if runtime == "onnxruntime" or auto_onnx
            else None
        )
        return cls(model, model_id=str(folder) if model_path else f"embedded:{folder.name}", forward=forward)

    @property
    def runtime(self) -> str:
        return "onnxruntime" if self._forward is not None else "torch"

    @property
    def model_id(self) -> str:
        return self._model_id

    def _predict(self, image: np.ndarray, query: GraspQuery) -> list[Grasp]:
        # No language: the prompt is ignored; the mask too: the model segments for itself.
        return self.model.predict(image, query.max_grasps, self._forward)

    def predict_maps(self, image: np.ndarray) -> tuple[GraspMaps, FrameGeometry]:
        """The network's half of a prediction (the model's maps), through this predictor's runtime."""
        return self.model.predict_maps(image, self._forward)

    def release(self) -> None:
        self._forward = None
        self.model.to("cpu")
        del self.model
