"""Inputs beyond raw rgb8: compressed frames over DDS, start-up parameter errors, and a
backend that raises (the node logs it and keeps serving)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from tests.conftest import subprocess_env
from tests.helpers.ros_probe import RosProbe, running_node, synthetic_frame, wait_for_stamp
from vlm_grasp_msgs.msg import Grasp2DArray
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.predictors import registry
from vlm_grasp_ros.core.predictors.base import GraspPredictor, GraspQuery
from vlm_grasp_ros.core.predictors.registry import create_predictor
from vlm_grasp_ros.ros.grasp_node import GraspNode
from vlm_grasp_ros.ros.image_conversion import rgb_to_image
from vlm_grasp_ros.ros.node_process import GraspNodeProcess


def compressed(rgb: np.ndarray, header, extension: str = ".jpg") -> CompressedImage:
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return CompressedImage(
        header=header, format="rgb8; jpeg compressed bgr8" if extension == ".jpg" else "png", data=encoded.tobytes()
    )


@pytest.fixture(scope="module")
def compressed_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraspNodeProcess]:
    # The raw topic is remapped: the compressed one must follow it (image_transport's naming).
    parameters = {"backend": "min_area_rect", "image_transport": "compressed", "stats_period_s": 0.3}
    remappings = (("image", "/camera/color/image_raw"),)
    with running_node(
        tmp_path_factory.mktemp("compressed"), parameters, "compressed_grasps", remappings=remappings
    ) as process:
        yield process


def test_compressed_frames_are_decoded_and_corrupt_ones_skipped(compressed_node: GraspNodeProcess) -> None:
    probe = RosProbe("test_compressed_probe")
    try:
        publisher = probe.publisher(CompressedImage, "/camera/color/image_raw/compressed", qos_profile_sensor_data)
        grasps = probe.collect(Grasp2DArray, "grasps")
        probe.wait_matched(publisher)
        rgb = synthetic_frame(seed=31)
        answers = []
        for extension in (".png", ".jpg"):
            corrupt = compressed(rgb, probe.next_header(), extension)
            corrupt.data = corrupt.data[: len(corrupt.data) // 3]
            publisher.publish(corrupt)
            probe.spin_for(0.1)
            for _ in range(20):  # the first frames may go before the data path is up
                header = probe.next_header()
                publisher.publish(compressed(rgb, header, extension))
                if probe.spin_until(lambda header=header: any(g.header.stamp == header.stamp for g in grasps), 1.0):
                    break
            answers.append(wait_for_stamp(probe, grasps, header))
        lossless = create_predictor("min_area_rect").predict(rgb)
        assert answers[0].grasps[0].center_x == pytest.approx(lossless[0].cx, abs=1e-3)  # png: exact pixels
        assert answers[1].grasps[0].center_x == pytest.approx(lossless[0].cx, abs=3.0)  # jpeg: close
        probe.spin_until(lambda: "could not decode" in compressed_node.log(), 3.0)
        assert "could not decode" in compressed_node.log()
    finally:
        probe.close()


def test_a_bad_parameter_at_start_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vlm_grasp_ros.ros.grasp_node", "--ros-args", "-p", "backend:=yolo"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown backend 'yolo'; known backends:" in result.stderr and "min_area_rect" in result.stderr


class FlakyBackend(GraspPredictor):
    """Raises on every second frame, like a model that hits an edge case."""

    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    def _predict(self, image: np.ndarray, query: GraspQuery) -> list[Grasp]:
        self.calls += 1
        if self.calls % 2 == 0:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return [Grasp(cx=image.shape[1] / 2, cy=image.shape[0] / 2, theta=0.0, width=40.0, height=20.0, score=0.9)]


def test_a_backend_exception_is_logged_and_the_node_keeps_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass(frozen=True)
    class NoOptions:
        pass

    flaky = registry.Backend("flaky", "fails on every other frame", NoOptions, lambda options: FlakyBackend())
    monkeypatch.setitem(registry.BACKENDS, "flaky", flaky)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = GraspNode("flaky_grasps", context=context, parameter_overrides=[Parameter("backend", value="flaky")])
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    probe = RosProbe("test_flaky_probe")
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        spinner.start()
        publisher = probe.publisher(Image, "image", qos_profile_sensor_data)
        grasps = probe.collect(Grasp2DArray, "grasps")
        probe.wait_matched(publisher)
        rgb = synthetic_frame(seed=32, width=200, height=100)
        answered = 0
        for _ in range(8):
            header = probe.next_header()
            publisher.publish(rgb_to_image(rgb, header))
            if probe.spin_until(lambda header=header: any(g.header.stamp == header.stamp for g in grasps), 1.5):
                answered += 1
        report = node.frame_report()
        assert report.failed >= 3 and answered >= 3  # failures did not stop later frames
        assert (
            report.received == report.processed + report.failed + report.superseded + report.rejected + report.pending
        )
        assert all(g.grasps[0].center_x == 100.0 for g in grasps)
    finally:
        probe.close()
        executor.shutdown()
        node._teardown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_the_diagnostics_period_applies_at_once_and_zero_stops_them() -> None:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = GraspNode(
        "diagnosed_grasps", context=context, parameter_overrides=[Parameter("diagnostics_period_s", value=2.0)]
    )
    try:
        assert node._diagnostics_timer.timer_period_ns == 2_000_000_000  # the start-up value
        assert node.set_parameters([Parameter("diagnostics_period_s", value=0.25)])[0].successful
        assert node._diagnostics_timer.timer_period_ns == 250_000_000
        assert node.set_parameters([Parameter("diagnostics_period_s", value=0.0)])[0].successful
        assert node._diagnostics_timer is None
        assert not node.set_parameters([Parameter("diagnostics_period_s", value=-1.0)])[0].successful
        assert node._diagnostics_timer is None  # a refused value changes nothing
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
