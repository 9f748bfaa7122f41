"""`vlm-grasp bag`: a dataset as a rosbag2 of camera frames, with the labels on `grasps_gt`.

Each frame's labels are a vlm_grasp_msgs/GraspLabels with the frame's header: the sample's
name, its rectangles and, when the dataset has them, its object masks (so a replay reports
the same per-object accuracy as `vlm-grasp eval`). Datasets with depth also get aligned 32FC1
depth and a nominal CameraInfo, so replays can exercise the node's 3D grasps.

Messages are built with the same conversions the node uses and serialized by rclpy, so a
replayed frame is byte for byte what a camera driver would publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from tqdm import tqdm

from vlm_grasp_ros.bags.mcap_integrity import add_crcs, mcap_files
from vlm_grasp_ros.bags.typestore import BAG_VERSION, grasp_typestore, message_type_name
from vlm_grasp_ros.bringup import DEFAULTS
from vlm_grasp_ros.core.datasets import GraspDataset
from vlm_grasp_ros.core.projection import PinholeCamera
from vlm_grasp_ros.ros.conversions import ImageLabels, camera_to_camera_info, labels_to_msg
from vlm_grasp_ros.ros.image_conversion import array_to_image, metres_to_compressed_depth, rgb_to_image

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
FIRST_STAMP_S = 1_700_000_000  # fixed, so the same dataset gives the same bag
GROUND_TRUTH_TOPIC = "/grasps_gt"


@dataclass(frozen=True)
class BagTopics:
    """Topic names; the defaults are bringup's, so a replay needs no remapping flags."""

    image: str = DEFAULTS["image_topic"]
    depth: str = DEFAULTS["depth_topic"]
    camera_info: str = DEFAULTS["camera_info_topic"]
    ground_truth: str = GROUND_TRUTH_TOPIC


def nominal_camera(width: int, height: int) -> PinholeCamera:
    """For datasets without intrinsics: a 60 degree-ish pinhole (fx = 600 px at 640 wide), centred."""
    focal = 600.0 * width / 640.0
    return PinholeCamera(focal, focal, width / 2.0, height / 2.0, width, height)


def _compressed(rgb: np.ndarray, header: Header, image_format: str) -> CompressedImage:
    ok, encoded = cv2.imencode(f".{image_format}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError(f"could not encode a frame as {image_format}")
    label = "rgb8; jpeg compressed bgr8" if image_format == "jpeg" else "rgb8; png compressed bgr8"
    return CompressedImage(header=header, format=label, data=encoded.tobytes())


def write_dataset_bag(
    dataset: GraspDataset,
    out: Path,
    storage: str = "mcap",
    rate_hz: float = 5.0,
    limit: int | None = None,
    image_format: str = "raw",
    with_depth: bool = True,
    depth_format: str = "raw",
    topics: BagTopics = BagTopics(),
    frame_id: str = "camera_color_optical_frame",
) -> int:
    """Write up to ``limit`` samples as frames ``1 / rate_hz`` apart; returns the frame count.

    ``image_format`` raw writes sensor_msgs/Image (rgb8) on ``topics.image``; jpeg or png write
    CompressedImage on ``topics.image + '/compressed'`` (image_transport's naming). ``depth_format``
    raw writes 32FC1 metres on ``topics.depth``; compressedDepth writes 16UC1 millimetres as a png
    CompressedImage on ``topics.depth + '/compressedDepth'``.
    """
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    if image_format not in ("raw", "jpeg", "png"):
        raise ValueError(f"image format must be raw, jpeg or png, got {image_format!r}")
    if depth_format not in ("raw", "compressedDepth"):
        raise ValueError(f"depth format must be raw or compressedDepth, got {depth_format!r}")
    if rate_hz <= 0:
        raise ValueError(f"rate must be positive, got {rate_hz}")
    if out.exists():
        raise FileExistsError(f"{out} exists; rosbag2 writes a new folder, so choose another path or remove it")
    count = min(len(dataset), limit) if limit else len(dataset)
    store = grasp_typestore()
    image_type, image_topic = (
        (Image, topics.image) if image_format == "raw" else (CompressedImage, topics.image + "/compressed")
    )
    with Writer(out, version=BAG_VERSION, storage_plugin=STORAGES[storage]) as writer:
        connections = {}

        def write(topic: str, message: object, stamp_ns: int) -> None:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, message_type_name(type(message)), typestore=store)
            writer.write(connections[topic], stamp_ns, serialize_message(message))

        for index in tqdm(range(count), desc="bag", unit="frame", disable=count < 10):
            sample = dataset[index]
            stamp_ns = FIRST_STAMP_S * 1_000_000_000 + round(index * 1e9 / rate_hz)
            header = Header(frame_id=frame_id)
            header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
            height, width = sample.image.shape[:2]
            if with_depth and sample.depth is not None:
                camera = sample.camera or nominal_camera(width, height)  # synthetic camera views carry theirs
                write(topics.camera_info, camera_to_camera_info(camera, header), stamp_ns)
                if depth_format == "raw":
                    write(topics.depth, array_to_image(sample.depth.astype(np.float32), "32FC1", header), stamp_ns)
                else:
                    write(topics.depth + "/compressedDepth", metres_to_compressed_depth(sample.depth, header), stamp_ns)
            ground_truth = labels_to_msg(ImageLabels(sample.name, sample.grasps, sample.mask), header, width, height)
            write(topics.ground_truth, ground_truth, stamp_ns)
            frame = (
                rgb_to_image(sample.image, header)
                if image_type is Image
                else _compressed(sample.image, header, image_format)
            )
            write(image_topic, frame, stamp_ns)
    for path in mcap_files(out):
        add_crcs(path)
    return count
