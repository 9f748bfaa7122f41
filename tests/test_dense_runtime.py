"""The dense model under ONNX Runtime: the same outputs and grasps as torch, one checked graph
per input size, and a clear fallback or error when a graph cannot be used."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from vlm_grasp_ros.core.dense import onnx_forward
from vlm_grasp_ros.core.dense.decoder import DecoderConfig
from vlm_grasp_ros.core.dense.encoders import EncoderConfig
from vlm_grasp_ros.core.dense.model import DenseGraspModel, DenseModelConfig, resize_to_model
from vlm_grasp_ros.core.dense.onnx_forward import OnnxForward
from vlm_grasp_ros.core.predictors.dense import DensePredictor
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene


@pytest.fixture(scope="module")
def model() -> DenseGraspModel:
    torch.manual_seed(0)
    config = DenseModelConfig(
        encoder=EncoderConfig("efficientnet_lite0", strides=(4, 8, 16)),
        decoder=DecoderConfig(channels=16, head_channels=8, context_blocks=1),
        input_long_side=96,
    )
    return DenseGraspModel(config).eval()


def _model_frame(model: DenseGraspModel, height: int, width: int, seed: int = 0) -> np.ndarray:
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return resize_to_model(image, model.geometry((height, width)))[np.newaxis]


def test_onnx_graphs_give_torchs_outputs_for_each_input_size(model: DenseGraspModel) -> None:
    forward = OnnxForward(model, threads=1, max_sizes=2)
    for height, width in ((480, 640), (517, 333), (480, 640), (50, 300)):
        pixels = _model_frame(model, height, width)
        with torch.inference_mode():
            expected = model(torch.from_numpy(pixels)).numpy()
        got = forward(pixels)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4
    assert len(forward._sessions) == 2  # the least recently used size was let go


def test_the_embedded_model_finds_the_same_grasps_on_either_runtime() -> None:
    on_torch = DensePredictor.from_path("", "cpu", "torch")
    on_onnx = DensePredictor.from_path("", "cpu", "onnxruntime", threads=1)
    assert (on_torch.runtime, on_onnx.runtime, DensePredictor.from_path("", "cpu").runtime) == (
        "torch",
        "onnxruntime",
        "onnxruntime",
    )  # auto on a CPU: ONNX Runtime
    for seed, size in ((3, (640, 480)), (4, (333, 517))):
        image = render_scene(seed, 0, SceneConfig(width=size[0], height=size[1])).image
        expected, got = on_torch.predict(image, max_grasps=5), on_onnx.predict(image, max_grasps=5)
        assert len(got) == len(expected) > 0
        for a, b in zip(expected, got):
            assert (b.cx, b.cy, b.theta, b.width, b.score) == pytest.approx(
                (a.cx, a.cy, a.theta, a.width, a.score), abs=1e-3
            )


def test_a_graph_that_differs_from_torch_is_refused_or_replaced(
    model: DenseGraspModel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pixels = _model_frame(model, 64, 96)
    monkeypatch.setattr(onnx_forward, "TOLERANCE", -1.0)  # nothing passes the check now
    with pytest.raises(RuntimeError, match="differs from torch"):
        OnnxForward(model, threads=1)(pixels)
    with caplog.at_level(logging.WARNING, logger=onnx_forward.__name__):
        got = OnnxForward(model, threads=1, fall_back_to_torch=True)(pixels)
    with torch.inference_mode():
        assert np.array_equal(got, model(torch.from_numpy(pixels)).numpy())  # torch ran it
    assert "torch runs it" in caplog.text


def test_runtime_choices_are_checked() -> None:
    with pytest.raises(ValueError, match="runtime must be one of auto, torch, onnxruntime"):
        DensePredictor.from_path("", "cpu", "tensorrt")
