"""Dataset bags: written by `vlm-grasp bag`, read back exactly; topics found by type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Writer
from sensor_msgs.msg import CameraInfo, Image

from vlm_grasp_msgs.msg import GraspLabels
from vlm_grasp_ros.bags.bag_reader import bag_messages, inspect_bag
from vlm_grasp_ros.bags.typestore import grasp_typestore
from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.synthetic.scene import SceneConfig
from vlm_grasp_ros.core.synthetic.writer import write_synthetic_dataset
from vlm_grasp_ros.ros.conversions import camera_info_to_camera, labels_from_msg
from vlm_grasp_ros.ros.dataset_bag import BagTopics, write_dataset_bag
from vlm_grasp_ros.ros.image_conversion import depth_to_metres, image_to_rgb


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scenes")
    write_synthetic_dataset(root, 3, seed=5, config=SceneConfig(width=160, height=120))
    return root


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_dataset_bag_holds_the_frames_depth_and_labels_exactly(scenes: Path, tmp_path: Path, storage: str) -> None:
    dataset = open_dataset("synthetic", scenes)
    bag = tmp_path / "bag"
    assert write_dataset_bag(dataset, bag, storage=storage, rate_hz=4.0) == 3
    layout = inspect_bag(bag)
    topics = BagTopics()
    assert (layout.image_topic, layout.depth_topic, layout.camera_info_topic, layout.ground_truth_topic) == (
        topics.image,
        topics.depth,
        topics.camera_info,
        topics.ground_truth,
    )
    assert layout.frame_count == 3 and layout.duration_s == pytest.approx(0.5)
    messages = list(bag_messages(bag, [topics.image, topics.depth, topics.ground_truth, topics.camera_info]))
    images = [deserialize_message(raw, Image) for topic, _, raw in messages if topic == topics.image]
    labels = [deserialize_message(raw, GraspLabels) for topic, _, raw in messages if topic == topics.ground_truth]
    depths = [deserialize_message(raw, Image) for topic, _, raw in messages if topic == topics.depth]
    info = next(deserialize_message(raw, CameraInfo) for topic, _, raw in messages if topic == topics.camera_info)
    for index, (image, label, depth) in enumerate(zip(images, labels, depths)):
        sample = dataset[index]
        assert np.array_equal(image_to_rgb(image), sample.image)
        assert np.allclose(depth_to_metres(depth), sample.depth, equal_nan=True)
        assert image.header.stamp == label.header.stamp == depth.header.stamp
        truth = labels_from_msg(label)
        assert truth.image_name == sample.name and (label.image_width, label.image_height) == (160, 120)
        assert np.array_equal(truth.object_mask, sample.mask)  # per-object accuracy survives the bag
        assert len(truth.grasps) == len(sample.grasps)
        assert truth.grasps[0].cx == pytest.approx(sample.grasps[0].cx, abs=1e-3)
    assert info.k[0] == pytest.approx(150.0) and info.k[2] == 80.0  # nominal: 600 px at 640 wide, centred
    assert [t for t, _, _ in messages[:4]].count(topics.image) == 1  # frames interleave in time order


def test_camera_views_go_into_the_bag_with_their_own_intrinsics(tmp_path: Path) -> None:
    """A robot view's camera_info is the camera it was drawn with, so replayed depth gives true 3D."""
    write_synthetic_dataset(tmp_path / "scenes", 2, seed=5, config=SceneConfig(width=160, height=120, view="robot"))
    dataset = open_dataset("synthetic", tmp_path / "scenes")
    write_dataset_bag(dataset, tmp_path / "bag")
    infos = [
        deserialize_message(raw, CameraInfo) for _, _, raw in bag_messages(tmp_path / "bag", [BagTopics().camera_info])
    ]
    assert len(infos) == 2
    for info, sample in zip(infos, dataset):
        assert sample.camera is not None and camera_info_to_camera(info) == sample.camera
    assert infos[0].k[0] != pytest.approx(150.0)  # not the nominal camera


def test_an_existing_bag_is_not_overwritten(scenes: Path, tmp_path: Path) -> None:
    (tmp_path / "bag").mkdir()
    with pytest.raises(FileExistsError, match="exists"):
        write_dataset_bag(open_dataset("synthetic", scenes), tmp_path / "bag")


def _recorded_bag(path: Path, image_topics: list[str]) -> None:
    """A bag as `ros2 bag record` would leave it: camera topics of any name, no labels."""
    store = grasp_typestore()
    image_class = store.types["sensor_msgs/msg/Image"]
    header_class, time_class = store.types["std_msgs/msg/Header"], store.types["builtin_interfaces/msg/Time"]
    with Writer(path, version=8) as writer:
        for topic in image_topics:
            connection = writer.add_connection(topic, "sensor_msgs/msg/Image", typestore=store)
            message = image_class(
                header=header_class(stamp=time_class(sec=1, nanosec=0), frame_id="cam"),
                height=2,
                width=2,
                encoding="rgb8",
                is_bigendian=0,
                step=6,
                data=np.zeros(12, np.uint8),
            )
            writer.write(connection, 1_000_000_000, store.serialize_cdr(message, "sensor_msgs/msg/Image"))


def test_topics_of_a_recorded_bag_are_found_by_type_or_named(tmp_path: Path) -> None:
    _recorded_bag(tmp_path / "one", ["/head_camera/rgb/image_rect_color"])
    layout = inspect_bag(tmp_path / "one")
    assert layout.image_topic == "/head_camera/rgb/image_rect_color" and layout.ground_truth_topic is None
    assert layout.depth_topic is None and not layout.compressed

    _recorded_bag(tmp_path / "two", ["/left/image_raw", "/right/image_raw"])
    with pytest.raises(ValueError, match="several image topics .* --image-topic"):
        inspect_bag(tmp_path / "two")
    assert inspect_bag(tmp_path / "two", image_topic="/right/image_raw").image_topic == "/right/image_raw"
    with pytest.raises(ValueError, match="no topic '/middle' for the image"):
        inspect_bag(tmp_path / "two", image_topic="/middle")


def test_a_folder_that_is_not_a_bag_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes: not a readable rosbag2"):
        inspect_bag(tmp_path / "notes")
