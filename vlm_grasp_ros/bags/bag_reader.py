"""Find the camera, depth, intrinsics and label topics of a rosbag2 and stream its messages.

Works on bags from `vlm-grasp bag` and from a real `ros2 bag record` (.mcap or .db3 inside a
rosbag2 folder); topics are found by type, or named explicitly when a bag is ambiguous.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rosbags.highlevel import AnyReader, AnyReaderError

from vlm_grasp_ros.bags.mcap_integrity import METADATA_NAME, cut_off_reason
from vlm_grasp_ros.bags.typestore import grasp_typestore

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
GRASP_ARRAY = "vlm_grasp_msgs/msg/Grasp2DArray"
GRASP_LABELS = "vlm_grasp_msgs/msg/GraspLabels"
COMPRESSED_DEPTH_SUFFIX = "/compressedDepth"


@dataclass(frozen=True)
class BagLayout:
    image_topic: str
    image_type: str  # IMAGE or COMPRESSED
    depth_topic: str | None
    camera_info_topic: str | None
    ground_truth_topic: str | None
    ground_truth_type: str | None  # GRASP_LABELS, or GRASP_ARRAY in older bags
    frame_count: int
    duration_s: float
    depth_type: str | None = None  # IMAGE, or COMPRESSED for a compressedDepth stream

    @property
    def compressed(self) -> bool:
        return self.image_type == COMPRESSED

    @property
    def compressed_depth(self) -> bool:
        return self.depth_type == COMPRESSED

    @property
    def raw_depth_topic(self) -> str | None:
        """The topic the node's `depth` maps to (compressedDepth lives under `<raw>/compressedDepth`)."""
        if self.depth_topic is None:
            return None
        return self.depth_topic.removesuffix(COMPRESSED_DEPTH_SUFFIX) if self.compressed_depth else self.depth_topic

    @property
    def raw_image_topic(self) -> str:
        """The topic the node's `image` maps to (compressed streams live under `<raw>/compressed`)."""
        return self.image_topic.removesuffix("/compressed") if self.compressed else self.image_topic

    @property
    def playback_topics(self) -> list[str]:
        return [t for t in (self.image_topic, self.depth_topic, self.camera_info_topic) if t]


def open_bag(path: Path) -> AnyReader:
    if not path.exists():
        raise FileNotFoundError(f"no such bag: {path}")
    return AnyReader([path], default_typestore=grasp_typestore())


def _pick(
    topics: dict[str, str],
    wanted_types: tuple[str, ...],
    given: str | None,
    role: str,
    exclude_word: str | None = None,
    include_word: str | None = None,
) -> str | None:
    if given is not None:
        if given not in topics:
            raise ValueError(f"bag has no topic {given!r} for the {role}; topics: {', '.join(sorted(topics))}")
        if topics[given] not in wanted_types:
            raise ValueError(f"{given} is {topics[given]}, not {' or '.join(wanted_types)} as the {role} must be")
        return given
    candidates = [
        t
        for t, kind in topics.items()
        if kind in wanted_types
        and (exclude_word is None or exclude_word not in t)
        and (include_word is None or include_word in t)
    ]
    if len(candidates) > 1:
        raise ValueError(
            f"the bag has several {role} topics ({', '.join(sorted(candidates))}); name one with "
            f"--{role.replace(' ', '-')}-topic"
        )
    return candidates[0] if candidates else None


def _pick_depth(topics: dict[str, str], given: str | None) -> str | None:
    """Raw depth (an Image topic named ...depth...), else a compressedDepth stream (a CompressedImage
    topic ending in /compressedDepth, as image_transport records it over a network)."""
    compressed = {t: k for t, k in topics.items() if t.endswith(COMPRESSED_DEPTH_SUFFIX)}
    if given is not None and given in compressed:
        return _pick(compressed, (COMPRESSED,), given, "depth")
    raw = _pick(topics, (IMAGE,), given, "depth", include_word="depth")
    return raw if raw is not None or given is not None else _pick(compressed, (COMPRESSED,), None, "depth")


def inspect_bag(
    path: Path,
    image_topic: str | None = None,
    depth_topic: str | None = None,
    camera_info_topic: str | None = None,
    ground_truth_topic: str | None = None,
    use_depth: bool = True,
) -> BagLayout:
    """The bag's layout; raises ValueError naming the bag when it has no usable camera topic."""
    try:
        with open_bag(path) as reader:
            topics = {c.topic: c.msgtype for c in reader.connections}
            image = _pick(topics, (IMAGE, COMPRESSED), image_topic, "image", exclude_word="depth")
            if image is None:
                raise ValueError(
                    f"{path}: no sensor_msgs/Image or CompressedImage topic; topics: "
                    f"{', '.join(f'{t} ({k})' for t, k in sorted(topics.items()))}"
                )
            depth = _pick_depth(topics, depth_topic) if use_depth else None
            info = _pick(topics, (CAMERA_INFO,), camera_info_topic, "camera info") if use_depth else None
            # Grasp2DArray: labels as bags from before GraspLabels carry them.
            truth = _pick(topics, (GRASP_LABELS, GRASP_ARRAY), ground_truth_topic, "ground truth")
            frames = sum(c.msgcount for c in reader.connections if c.topic == image)
            duration = (reader.end_time - reader.start_time) / 1e9
    except (AnyReaderError, FileNotFoundError) as error:
        if not path.exists():
            raise
        cut_off = cut_off_reason(path)
        if cut_off:
            raise ValueError(
                f"{path}: a recording that was cut off ({cut_off}); `vlm-grasp recover {path} --out FIXED` "
                "writes a playable copy of every complete message"
            ) from None
        if path.is_dir() and not (path / METADATA_NAME).exists() and any(path.glob("*.db3")):
            raise ValueError(
                f"{path}: a sqlite3 recording without {METADATA_NAME} (the recorder stopped before writing it); "
                f"`vlm-grasp recover {path} --out FIXED` (or `ros2 bag reindex {path}`) makes it playable"
            ) from None
        raise ValueError(f"{path}: not a readable rosbag2: {error}") from None
    both = depth is not None and info is not None
    return BagLayout(
        image,
        topics[image],
        depth if both else None,
        info if both else None,
        truth,
        topics[truth] if truth else None,
        frames,
        duration,
        topics[depth] if both and depth else None,
    )


def bag_messages(path: Path, topics: list[str]) -> Iterator[tuple[str, int, bytes]]:
    """(topic, log time in ns, CDR bytes) in log-time order for the given topics."""
    with open_bag(path) as reader:
        connections = [c for c in reader.connections if c.topic in topics]
        for connection, timestamp, rawdata in reader.messages(connections=connections):
            yield connection.topic, timestamp, bytes(rawdata)
