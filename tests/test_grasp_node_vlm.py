"""grasp_node with ``backend: vlm`` (a tiny Qwen3-VL built from a config) over real DDS: the
service's per-request prompt reaches the model, and the answers are the core predictor's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.ros_probe import RosProbe, running_node, synthetic_frame
from vlm_grasp_msgs.srv import PredictGrasps
from vlm_grasp_ros.core.predictors.vlm import VlmPredictor, VlmSettings
from vlm_grasp_ros.core.vlm.model import VlmLoadOptions
from vlm_grasp_ros.core.vlm.tiny import save_tiny_model
from vlm_grasp_ros.ros.image_conversion import rgb_to_image
from vlm_grasp_ros.ros.node_process import GraspNodeProcess


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_vlm_node"), seed=5)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, tiny_folder: Path) -> Iterator[GraspNodeProcess]:
    parameters = {
        "backend": "vlm",
        "vlm.model_path": tiny_folder,
        "vlm.device": "cpu",
        "vlm.ensemble_size": 2,
        "vlm.num_grasps": 2,
        "prompt": "the blue box",
    }
    with running_node(tmp_path_factory.mktemp("grasp_node_vlm"), parameters) as process:
        yield process


def test_service_prompt_reaches_the_model(probe: RosProbe, node: GraspNodeProcess, tiny_folder: Path) -> None:
    local = VlmPredictor.load(
        VlmLoadOptions(str(tiny_folder), device="cpu"), VlmSettings(ensemble_size=2, num_grasps=2)
    )
    rgb = synthetic_frame(seed=21)
    for prompt, expected_prompt in (("grasp the red mug", "grasp the red mug"), ("", "the blue box")):
        request = PredictGrasps.Request(image=rgb_to_image(rgb, probe.next_header()), prompt=prompt, max_grasps=0)
        response = probe.call(PredictGrasps, "predict_grasps", request, timeout_s=60.0)
        assert response.success, response.message + node.log()
        assert response.result.backend == "vlm" and response.result.prompt == expected_prompt
        expected = local.predict(rgb, prompt=expected_prompt)
        assert 1 <= len(response.result.grasps) <= 2
        assert [round(g.center_x, 2) for g in response.result.grasps] == [round(g.cx, 2) for g in expected]
        assert [round(g.score, 4) for g in response.result.grasps] == pytest.approx(
            [round(g.score, 4) for g in expected], abs=2e-4
        )
