"""Play a bag into a live grasp node over DDS and record what it answers.

The node runs as its own process, started from the bringup spec (as `ros2 launch` and
`vlm-grasp bringup` start it). Messages go out with their recorded CDR bytes, paced one of two ways:

* paced (the default, for scoring): each frame, with the depth and camera_info recorded up to
  the next frame, goes out once the node has answered the previous one (or after
  ``answer_timeout_s``, or once the node reports it rejected or failed on it), so every frame
  is scored however slow the backend or busy the machine;
* realtime: at the recorded timing (scaled by ``rate``), as a camera would send them; a frame
  the node skipped to stay current shows up as dropped.

Answers are matched to frames by header stamp. The node's outputs (grasps and markers) are
written to an output bag as received, and its frame counters are read from /diagnostics.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import GetState
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from tqdm import tqdm
from visualization_msgs.msg import MarkerArray

from vlm_grasp_msgs.msg import Grasp2DArray, GraspLabels
from vlm_grasp_ros.bags.bag_reader import GRASP_LABELS, BagLayout, bag_messages
from vlm_grasp_ros.bags.mcap_integrity import add_crcs, mcap_files
from vlm_grasp_ros.bags.typestore import BAG_VERSION, grasp_typestore, message_type_name
from vlm_grasp_ros.bringup import installed_params_file, node_launch
from vlm_grasp_ros.ros.frame_stats import COUNTERS
from vlm_grasp_ros.ros.image_conversion import ImageConversionError, frame_to_rgb
from vlm_grasp_ros.ros.node_process import GraspNodeProcess, frame_counters

NAMESPACE = "replay"
NODE_NAME = f"/{NAMESPACE}/grasp_node"
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
    ground_truth: dict[int, GraspLabels | Grasp2DArray]  # by stamp (Grasp2DArray: older bags)
    wall_s: float  # first frame sent -> last answer received
    node_log: str
    #: The node's exit code if it ended before the replay did (a crash), else None.
    node_exit_code: int | None = None
    #: The node's own frame counters over the replay (from /diagnostics; see frame_stats).
    node_counters: dict[str, float] | None = None
    realtime: bool = False


def _message_class(msgtype: str) -> type:
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def _stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def start_node(layout: BagLayout, backend: str | None, log_path: Path, params_file: str | None) -> GraspNodeProcess:
    """The grasp node for this bag, from the bringup spec, under the replay namespace."""
    values = {
        "namespace": NAMESPACE,
        "image_topic": layout.raw_image_topic,
        "image_transport": "compressed" if layout.compressed else "raw",
        "use_depth": "true" if layout.depth_topic else "false",
        "backend": backend or "",
        "params_file": params_file or "",
    }
    if layout.depth_topic:
        values.update(
            depth_topic=layout.raw_depth_topic or "",
            depth_transport="compressedDepth" if layout.compressed_depth else "raw",
            camera_info_topic=layout.camera_info_topic or "",
        )
    return GraspNodeProcess(node_launch(values, installed_params_file()), log_path)


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
        self.counters: dict[str, float] | None = None  # the node's, from its latest /diagnostics
        self._publishers: dict[str, Any] = {}
        self.out_bag = out_bag
        self._writer = Writer(out_bag, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        store = grasp_typestore()
        self._out = {
            topic: self._writer.add_connection(topic, message_type_name(kind), typestore=store)
            for topic, kind in ((f"/{NAMESPACE}/grasps", Grasp2DArray), (f"/{NAMESPACE}/grasp_markers", MarkerArray))
        }
        reliable = QoSProfile(depth=50)
        self.grasps_sub = self.node.create_subscription(
            Grasp2DArray, f"/{NAMESPACE}/grasps", self._on_grasps, reliable, raw=True
        )
        self.node.create_subscription(
            MarkerArray,
            f"/{NAMESPACE}/grasp_markers",
            lambda raw: self._record(f"/{NAMESPACE}/grasp_markers", raw),
            reliable,
            raw=True,
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, QoSProfile(depth=10))

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

    def _on_diagnostics(self, array: DiagnosticArray) -> None:
        counters = frame_counters(array, NODE_NAME)
        if counters is not None:
            self.counters = counters

    def fresh_counters(self, timeout_s: float = 5.0) -> dict[str, float] | None:
        """The node's counters from a /diagnostics message sent after now (None if none comes)."""
        self.counters = None
        self.spin_until(time.monotonic() + timeout_s, lambda: self.counters is not None)
        return self.counters

    def given_up_on(self) -> float:
        """Frames the node has so far rejected or failed on (it answers those with nothing)."""
        return (self.counters or {}).get("rejected", 0.0) + (self.counters or {}).get("failed", 0.0)

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
        client: Any = self.node.create_client(GetState, f"/{NAMESPACE}/grasp_node/get_state")
        try:
            if not client.service_is_ready():
                return None
            future = client.call_async(GetState.Request())
            self.spin_until(time.monotonic() + 2.0, future.done)
            result = future.result() if future.done() else None
            return None if result is None else result.current_state.label
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self._writer.close()
        for path in mcap_files(self.out_bag):
            add_crcs(path)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def wait_until_serving(player: BagPlayer, node: GraspNodeProcess, timeout_s: float) -> None:
    """Until the node is active and every data path (frames, depth, camera_info in; grasps out)
    is matched."""
    layout = player.layout
    publishers = [
        player.publisher_for(topic, layout.image_type if topic == layout.image_topic else _topic_type(layout, topic))
        for topic in layout.playback_topics
    ]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not node.alive():
            raise RuntimeError(f"the grasp node exited with code {node.process.returncode}:\n{node.log()[-3000:]}")
        if (
            all(p.get_subscription_count() > 0 for p in publishers)
            and player.grasps_matched()
            and player.node_state() == "active"
        ):
            player.spin_until(time.monotonic() + 0.3)  # let the last discovery messages settle
            return
        player.spin_until(time.monotonic() + 0.2)
    raise RuntimeError(f"the grasp node was not serving after {timeout_s:.0f} s; its log:\n{node.log()[-3000:]}")


def replay_bag(
    bag: Path,
    layout: BagLayout,
    backend: str | None,
    out_dir: Path,
    rate: float = 1.0,
    drain_s: float = 5.0,
    startup_timeout_s: float = 300.0,
    params_file: str | None = None,
    progress: bool = True,
    realtime: bool = False,
    answer_timeout_s: float = 10.0,
) -> ReplayOutcome:
    """Play ``bag`` into a fresh node (``backend`` None: the params file's), paced on its answers
    or, with ``realtime``, at the recorded timing times ``rate``; the node's log and output bag
    land in ``out_dir``."""
    if rate <= 0 or answer_timeout_s <= 0:
        raise ValueError(f"rate and answer timeout must be positive, got {rate} and {answer_timeout_s}")
    out_dir.mkdir(parents=True, exist_ok=True)
    ground_truth: dict[int, GraspLabels | Grasp2DArray] = {}
    if layout.ground_truth_topic:
        label_type = GraspLabels if layout.ground_truth_type == GRASP_LABELS else Grasp2DArray
        for _, _, raw in bag_messages(bag, [layout.ground_truth_topic]):
            message = deserialize_message(raw, label_type)
            ground_truth[_stamp_ns(message)] = message
    output_bag = out_dir / "node_output_bag"
    if output_bag.exists():
        raise FileExistsError(f"{output_bag} exists; choose another --out or remove it")
    node = start_node(layout, backend, out_dir / "node.log", params_file)
    player = BagPlayer(layout, output_bag)
    bar = tqdm(
        total=layout.frame_count, desc=f"replay {backend or 'default backend'}", unit="frame", disable=not progress
    )
    playback = _Playback(bag, player, bar, rate, answer_timeout_s)
    frames = playback.frames
    counters_before = counters_after = None
    try:
        wait_until_serving(player, node, startup_timeout_s)
        counters_before = player.fresh_counters()
        (_play_realtime if realtime else _play_paced)(playback)
        player.spin_until(time.monotonic() + drain_s, lambda: all(f.stamp_ns in player.answers for f in frames))
        exit_code = node.process.poll()  # before stop(): only an early end counts
        if exit_code is None:
            counters_after = player.fresh_counters()
    finally:
        bar.close()
        player.close()
        node.stop()
    for frame in frames:
        if frame.stamp_ns in player.answers:
            frame.answer, frame.answered_at = player.answers[frame.stamp_ns]
    answered = [f.answered_at for f in frames if f.answered_at is not None]
    wall = (max(answered) - frames[0].sent_at) if answered else 0.0
    counters = None
    if counters_before is not None and counters_after is not None:
        counters = {
            key: value - counters_before.get(key, 0.0)
            for key, value in counters_after.items()
            if key in ("sent", *COUNTERS)
        }
    return ReplayOutcome(frames, ground_truth, wall, node.log(), exit_code, counters, realtime)


@dataclass
class _Playback:
    """One replay in progress: where frames come from, go to, and what was sent."""

    bag: Path
    player: BagPlayer
    bar: tqdm
    rate: float
    answer_timeout_s: float
    frames: list[FrameRecord] = field(default_factory=list)

    @property
    def layout(self) -> BagLayout:
        return self.player.layout

    def send_frame(self, raw: bytes) -> FrameRecord:
        frame: Any = deserialize_message(raw, _message_class(self.layout.image_type))
        record = FrameRecord(len(self.frames), _stamp_ns(frame), time.monotonic())
        if len(self.frames) < KEPT_IMAGES:
            try:
                record.image = frame_to_rgb(frame)
            except ImageConversionError:
                record.image = None  # the node will reject it too; the report shows no overlay
        self.frames.append(record)
        self.player.publisher_for(self.layout.image_topic, self.layout.image_type).publish(raw)
        self.bar.update()
        return record

    def send_other(self, topic: str, raw: bytes) -> None:
        self.player.publisher_for(topic, _topic_type(self.layout, topic)).publish(raw)


def _play_realtime(playback: _Playback) -> None:
    player, layout = playback.player, playback.layout
    first_log_ns, start = None, time.monotonic()
    for topic, log_ns, raw in bag_messages(playback.bag, layout.playback_topics):
        first_log_ns = log_ns if first_log_ns is None else first_log_ns
        player.spin_until(start + (log_ns - first_log_ns) / 1e9 / playback.rate)
        if topic != layout.image_topic:
            playback.send_other(topic, raw)
            continue
        record = playback.send_frame(raw)
        if len(playback.frames) == 1:
            # The clock starts at the first answer: the node's first frame from a publisher sets its
            # baseline for counting lost frames, and start-up jitter is not a camera's.
            deadline = time.monotonic() + playback.answer_timeout_s
            player.spin_until(deadline, lambda r=record: r.stamp_ns in player.answers)
            first_log_ns, start = log_ns, time.monotonic()


def _play_paced(playback: _Playback) -> None:
    """Each frame goes out with the depth and camera_info recorded before the next frame (the node
    matches them by stamp), after the previous frame was answered."""
    player = playback.player
    companions: list[tuple[str, bytes]] = []
    pending: bytes | None = None

    def send_pending() -> None:
        for topic, raw in companions:
            playback.send_other(topic, raw)
        companions.clear()
        if pending is None:
            return
        given_up = player.given_up_on()
        record = playback.send_frame(pending)
        # Answered, or the node said it rejected or failed on it (its /diagnostics), or timed out.
        player.spin_until(
            time.monotonic() + playback.answer_timeout_s,
            lambda: record.stamp_ns in player.answers or player.given_up_on() > given_up,
        )

    for topic, _, raw in bag_messages(playback.bag, playback.layout.playback_topics):
        if topic == playback.layout.image_topic:
            send_pending()
            pending = raw
        else:
            companions.append((topic, raw))
    send_pending()


def _topic_type(layout: BagLayout, topic: str) -> str:
    if topic == layout.camera_info_topic:
        return "sensor_msgs/msg/CameraInfo"
    if topic == layout.depth_topic and layout.depth_type:
        return layout.depth_type  # CompressedImage for a compressedDepth stream
    return "sensor_msgs/msg/Image"
