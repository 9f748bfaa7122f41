"""Counting the grasps a dense model publishes on scenes with no objects (training/empty_scenes.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from training import empty_scenes
from vlm_grasp_ros.core.dense.checkpoint import save_checkpoint
from vlm_grasp_ros.core.dense.decoder import DecoderConfig
from vlm_grasp_ros.core.dense.encoders import EncoderConfig
from vlm_grasp_ros.core.dense.model import DenseGraspModel, DenseModelConfig
from vlm_grasp_ros.core.dense.postprocess import PostprocessConfig
from vlm_grasp_ros.core.predictors.dense import DensePredictor
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene

SIZE = (160, 120)


def test_empty_frames_are_counted_as_a_fresh_predictor_with_each_fallback_would_publish(tmp_path: Path) -> None:
    torch.manual_seed(3)
    config = DenseModelConfig(
        encoder=EncoderConfig("efficientnet_lite0", "", strides=(4, 8, 16)),
        decoder=DecoderConfig(channels=16, head_channels=8, context_blocks=1),
        input_long_side=96,
        postprocess=PostprocessConfig(min_quality=0.05, mask_threshold=0.999),  # nothing is sure
    )
    folder = save_checkpoint(DenseGraspModel(config).eval(), tmp_path / "model")
    predictor = DensePredictor.from_path(str(folder), "cpu", "torch")
    fallbacks = [1.0, 0.5, 0.0]
    found = empty_scenes.frames_with_a_grasp(predictor, ["robot"], 3, 77, fallbacks, SIZE)
    assert predictor.model.config.postprocess.fallback_mask_threshold == 1.0  # the model's own, restored
    scenes = [
        render_scene(77, i, SceneConfig(width=SIZE[0], height=SIZE[1], view="robot", max_objects=0, min_objects=0))
        for i in range(3)
    ]
    assert all(not scene.grasps for scene in scenes)
    for fallback in fallbacks:
        fresh = DensePredictor.from_path(str(folder), "cpu", "torch")
        postprocess = fresh.model.config.postprocess
        fresh.model.config.postprocess = dataclasses.replace(postprocess, fallback_mask_threshold=fallback)
        assert found["robot"][fallback] == sum(bool(fresh.predict(scene.image, max_grasps=10)) for scene in scenes)
    # No fallback publishes nothing at a mask threshold no peak reaches; any peak at fallback 0 counts.
    assert found["robot"][1.0] == 0 < found["robot"][0.0] and found["robot"][0.5] <= found["robot"][0.0]
