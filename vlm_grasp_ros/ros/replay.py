"""Play a bag into a live grasp node over DDS and record what it answers.

The node runs as its own process, started exactly as `vlm-grasp bringup` starts it. Frames
go out at the recorded rate (scaled by ``rate``) with their recorded CDR bytes; answers are
matched to frames by header stamp, so a frame the node skipped to stay current shows up as
dropped. The node's outputs (grasps and markers) are written to an output bag as received.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from lifecycle_msgs.srv import GetState
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from tqdm import tqdm
from visualization_msgs.msg import MarkerArray
from vlm_grasp_msgs.msg import Grasp2DArray

from vlm_grasp_ros.bags.bag_reader import BagLayout, bag_messages
from vlm_grasp_ros.bags.typestore import BAG_VERSION, grasp_typestore, message_type_name
from vlm_grasp_ros.ros.image_conversion import ImageConversionError
from vlm_grasp_ros.ros.grasp_pipeline import frame_to_rgb

NAMESPACE = "replay"
KEPT_IMAGES = 8  # frames kept in memory for the report's overlays


@dataclass
class FrameRecord:
    """One played frame and what came back for it."""

    index: int
    stamp_ns: int
    sent_at: float  # time.monotonic()
    answer: Grasp2DArray | None = None
    answered_at: float | None = None
    image: np.ndarray | None = None  # RGB, for the first KEPT_IMAGES frames only

    @property
    def latency_ms(self) -> float | None:
        return None if self.answered_at is None else (self.answered_at - self.sent_at) * 1000.0


@dataclass
class ReplayOutcome:
    frames: list[FrameRecord]
    ground_truth: dict[int, Grasp2DArray]  # by stamp
    wall_s: float  # first frame sent -> last answer received
    node_log: str
    #: The node's exit code if it ended before the replay did (a crash), else None.
    node_exit_code: int | None = None


def _message_class(msgtype: str) -> type:
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def _stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class NodeUnderTest:
    """The grasp node as a child process, started through `vlm-grasp bringup`."""

    def __init__(self, layout: BagLayout, backend: str | None, log_path: Path, params_file: str | None) -> None:
        command = [sys.executable, "-m", "vlm_grasp_ros.cli.main", "bringup", *(["--backend", backend] if backend else []),
                   "--namespace", NAMESPACE, "--image-topic", layout.raw_image_topic,
                   "--image-transport", "compressed" if layout.compressed else "raw",
                   "--use-depth", "true" if layout.depth_topic else "false"]
        if layout.depth_topic:
            command += ["--depth-topic", layout.depth_topic, "--camera-info-topic", layout.camera_info_topic]
        if params_file:
            command += ["--params-file", params_file]
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=dict(os.environ))

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class BagPlayer:
    """This process's side: publishers for the bag's topics, recorders for the node's outputs."""

    def __init__(self, layout: BagLayout, out_bag: Path) -> None:
        self.layout = layout
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("vlm_grasp_bag_player", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.answers: dict[int, tuple[Grasp2DArray, float]] = {}
        self._publishers: dict[str, Any] = {}
        self._writer = Writer(out_bag, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        store = grasp_typestore()
        self._out = {
            topic: self._writer.add_connection(topic, message_type_name(kind), typestore=store)
            for topic, kind in ((f"/{NAMESPACE}/grasps", Grasp2DArray), (f"/{NAMESPACE}/grasp_markers", MarkerArray))
        }
        reliable = QoSProfile(depth=50)
        self.grasps_sub = self.node.create_subscription(Grasp2DArray, f"/{NAMESPACE}/grasps", self._on_grasps,
                                                        reliable, raw=True)
        self.node.create_subscription(MarkerArray, f"/{NAMESPACE}/grasp_markers",
                                      lambda raw: self._record(f"/{NAMESPACE}/grasp_markers", raw), reliable, raw=True)

    def publisher_for(self, topic: str, msgtype: str) -> Any:
        if topic not in self._publishers:
            qos = qos_profile_sensor_data if topic == self.layout.image_topic else QoSProfile(depth=10)
            self._publishers[topic] = self.node.create_publisher(_message_class(msgtype), topic, qos)
        return self._publishers[topic]

    def _record(self, topic: str, raw: bytes) -> None:
        self._writer.write(self._out[topic], time.time_ns(), raw)

    def _on_grasps(self, raw: bytes) -> None:
        received = time.monotonic()
        self._record(f"/{NAMESPACE}/grasps", raw)
        message = deserialize_message(raw, Grasp2DArray)
        self.answers.setdefault(_stamp_ns(message), (message, received))

    def spin_until(self, deadline: float, done: Any = lambda: False) -> bool:
        while time.monotonic() < deadline:
            if done():
                return True
            self.executor.spin_once(timeout_sec=min(0.005, max(0.0, deadline - time.monotonic())))
        return done()

    def grasps_matched(self) -> bool:
        """The node's grasps publisher is matched with our subscription (graph count on Humble,
        whose Subscription has no get_publisher_count)."""
        count = getattr(self.grasps_sub, "get_publisher_count", None)
        return (count() if count else self.node.count_publishers(self.grasps_sub.topic_name)) > 0

    def node_state(self) -> str | None:
        client = self.node.create_client(GetState, f"/{NAMESPACE}/grasp_node/get_state")
        try:
            if not client.service_is_ready():
                return None
            future = client.call_async(GetState.Request())
            self.spin_until(time.monotonic() + 2.0, future.done)
            return future.result().current_state.label if future.done() else None
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self._writer.close()
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def wait_until_serving(player: BagPlayer, node: NodeUnderTest, timeout_s: float) -> None:
    """Until the node is active and both data paths (frames in, grasps out) are matched."""
    image_publisher = player.publisher_for(player.layout.image_topic, player.layout.image_type)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not node.alive():
            raise RuntimeError(f"the grasp node exited with code {node.process.returncode}:\n{node.log()[-3000:]}")
        if (image_publisher.get_subscription_count() > 0 and player.grasps_matched()
                and player.node_state() == "active"):
            player.spin_until(time.monotonic() + 0.3)  # let the last discovery messages settle
            return
        player.spin_until(time.monotonic() + 0.2)
    raise RuntimeError(f"the grasp node was not serving after {timeout_s:.0f} s; its log:\n{node.log()[-3000:]}")


def replay_bag(bag: Path, layout: BagLayout, backend: str | None, out_dir: Path, rate: float = 1.0,
               drain_s: float = 5.0, startup_timeout_s: float = 300.0, params_file: str | None = None,
               progress: bool = True) -> ReplayOutcome:
    """Play ``bag`` into a fresh node (``backend`` None: the params file's); the node's log and
    output bag land in ``out_dir``."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    out_dir.mkdir(parents=True, exist_ok=True)
    ground_truth = {}
    if layout.ground_truth_topic:
        for _, _, raw in bag_messages(bag, [layout.ground_truth_topic]):
            message = deserialize_message(raw, Grasp2DArray)
            ground_truth[_stamp_ns(message)] = message
    output_bag = out_dir / "node_output_bag"
    if output_bag.exists():
        raise FileExistsError(f"{output_bag} exists; choose another --out or remove it")
    node = NodeUnderTest(layout, backend, out_dir / "node.log", params_file)
    player = BagPlayer(layout, output_bag)
    frames: list[FrameRecord] = []
    try:
        wait_until_serving(player, node, startup_timeout_s)
        image_class = _message_class(layout.image_type)
        first_log_ns, start = None, time.monotonic()
        bar = tqdm(total=layout.frame_count, desc=f"replay {backend or 'default backend'}", unit="frame", disable=not progress)
        for topic, log_ns, raw in bag_messages(bag, layout.playback_topics):
            first_log_ns = log_ns if first_log_ns is None else first_log_ns
            player.spin_until(start + (log_ns - first_log_ns) / 1e9 / rate)
            kind = layout.image_type if topic == layout.image_topic else None
            publisher = player.publisher_for(topic, kind or _topic_type(layout, topic))
            if topic == layout.image_topic:
                frame = deserialize_message(raw, image_class)
                record = FrameRecord(len(frames), _stamp_ns(frame), time.monotonic())
                if len(frames) < KEPT_IMAGES:
                    try:
                        record.image = frame_to_rgb(frame)
                    except ImageConversionError:
                        record.image = None  # the node will reject it too; the report shows no overlay
                frames.append(record)
                bar.update()
            publisher.publish(raw)
        bar.close()
        player.spin_until(time.monotonic() + drain_s, lambda: all(f.stamp_ns in player.answers for f in frames))
        exit_code = node.process.poll()  # before stop(): only an early end counts
    finally:
        player.close()
        node.stop()
    for frame in frames:
        if frame.stamp_ns in player.answers:
            frame.answer, frame.answered_at = player.answers[frame.stamp_ns]
    answered = [f.answered_at for f in frames if f.answered_at is not None]
    wall = (max(answered) - frames[0].sent_at) if answered else 0.0
    return ReplayOutcome(frames, ground_truth, wall, node.log(), exit_code)


def _topic_type(layout: BagLayout, topic: str) -> str:
    return "sensor_msgs/msg/CameraInfo" if topic == layout.camera_info_topic else "sensor_msgs/msg/Image"
