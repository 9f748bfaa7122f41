"""The test side of DDS tests: an rclpy node in its own context, plus the grasp node as a
separate process. Both stay on this machine (see tests/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile
from std_msgs.msg import Header

from vlm_grasp_ros.bringup import NodeLaunch
from vlm_grasp_ros.ros.node_process import GraspNodeProcess

SHIPPED_PARAMETERS = Path(__file__).resolve().parents[2] / "config" / "grasp_node.yaml"


class RosProbe:
    """Publishes inputs, collects outputs and calls services from the test process."""

    def __init__(self, name: str) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stamp_counter = 0

    def spin_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def collect(self, msg_type: type, topic: str, qos: QoSProfile | int = 10) -> list[Any]:
        received: list[Any] = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def publisher(self, msg_type: type, topic: str, qos: QoSProfile | int = 10) -> Any:
        return self.node.create_publisher(msg_type, topic, qos)

    def wait_matched(self, publisher: Any, timeout_s: float = 20.0) -> None:
        assert self.spin_until(lambda: publisher.get_subscription_count() > 0, timeout_s), (
            f"nobody subscribed to {publisher.topic_name} within {timeout_s} s"
        )

    def call(self, srv_type: type, name: str, request: Any, timeout_s: float = 30.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            assert self.spin_until(client.service_is_ready, timeout_s), f"service {name} not available"
            future = client.call_async(request)
            assert self.spin_until(future.done, timeout_s), f"service {name} did not answer in {timeout_s} s"
            return future.result()
        finally:
            self.node.destroy_client(client)

    def next_header(self, frame_id: str = "camera_color_optical_frame") -> Header:
        """A header with a stamp no other frame of this probe used."""
        self._stamp_counter += 1
        header = Header(frame_id=frame_id)
        header.stamp.sec, header.stamp.nanosec = 1_700_000_000 + self._stamp_counter, 250_000_000
        return header

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> RosProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def same_stamp(a: Header, b: Header) -> bool:
    return (a.stamp.sec, a.stamp.nanosec) == (b.stamp.sec, b.stamp.nanosec)


def wait_for_stamp(probe: RosProbe, received: list[Any], header: Header, timeout_s: float = 20.0) -> Any:
    """The first collected message whose header has ``header``'s stamp (AssertionError if none)."""

    def find() -> Any:
        return next((m for m in received if same_stamp(m.header, header)), None)

    assert probe.spin_until(lambda: find() is not None, timeout_s), (
        f"no message with stamp {header.stamp.sec}.{header.stamp.nanosec} within {timeout_s} s"
    )
    return find()


def warm_up(probe: RosProbe, image_publisher: Any, grasps: list[Any], timeout_s: float = 30.0) -> None:
    """Send frames until the node answers one: from then on its outputs reach this probe
    (a graph-level match can precede the data path by a few hundred ms)."""
    deadline = time.monotonic() + timeout_s
    image = synthetic_frame(seed=1, width=160, height=120)
    from vlm_grasp_ros.ros.image_conversion import rgb_to_image

    while time.monotonic() < deadline:
        image_publisher.publish(rgb_to_image(image, probe.next_header()))
        if probe.spin_until(lambda: bool(grasps), 1.0):
            grasps.clear()
            return
    raise AssertionError(f"the grasp node did not answer within {timeout_s} s")


class CameraLink:
    """A camera's side of the node: raw frames out on ``image_topic``, the node's grasps back,
    matched and warmed up (the node has answered once) when built."""

    def __init__(self, probe: RosProbe, image_topic: str = "image", grasps_topic: str = "grasps") -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        from vlm_grasp_msgs.msg import Grasp2DArray

        self.probe = probe
        self.images = probe.publisher(Image, image_topic, qos_profile_sensor_data)
        self.grasps: list[Any] = probe.collect(Grasp2DArray, grasps_topic)
        probe.wait_matched(self.images)
        warm_up(probe, self.images, self.grasps)

    def ask(self, rgb: np.ndarray) -> Any:
        """Publish one frame; the node's Grasp2DArray for it."""
        from vlm_grasp_ros.ros.image_conversion import rgb_to_image

        header = self.probe.next_header()
        self.images.publish(rgb_to_image(rgb, header))
        return wait_for_stamp(self.probe, self.grasps, header)


@contextmanager
def running_node(
    log_dir: Path,
    parameters: dict[str, object],
    node_name: str = "",
    namespace: str = "",
    remappings: tuple[tuple[str, str], ...] = (),
    clean_exit: bool = True,
) -> Iterator[GraspNodeProcess]:
    """The grasp node in its own process, started as bringup starts it (the shipped parameters
    file, then ``parameters``), stopped with SIGINT on exit; with ``clean_exit`` it must end with 0."""
    from tests.conftest import subprocess_env

    if node_name:
        remappings = (("__node", node_name), *remappings)
    launch = NodeLaunch(str(SHIPPED_PARAMETERS), dict(parameters), remappings, namespace)
    process = GraspNodeProcess(launch, log_dir / "node.log", subprocess_env())
    try:
        yield process
    finally:
        code = process.stop()
    assert code == 0 or not clean_exit, process.log()


def synthetic_frame(seed: int = 11, index: int = 0, width: int = 640, height: int = 480) -> np.ndarray:
    from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene

    return render_scene(seed, index, SceneConfig(width=width, height=height)).image
