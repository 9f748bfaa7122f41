"""Core grasps <-> vlm_grasp_msgs messages."""

from __future__ import annotations

import math

import pytest
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.projection import GraspPose3D
from vlm_grasp_ros.ros.conversions import (
    array_msg_to_grasps,
    camera_info_to_camera,
    grasp_to_msg,
    grasps_to_array_msg,
    msg_to_grasp,
    msg_to_pose,
)


def test_grasp_message_round_trip_keeps_every_field() -> None:
    grasp = Grasp(cx=12.5, cy=300.25, theta=math.radians(-37.0), width=41.0, height=17.5, score=0.75)
    msg = grasp_to_msg(grasp)
    assert not msg.has_pose
    assert msg_to_grasp(msg) == grasp


def test_the_array_keeps_the_predictors_ranking_and_each_grasps_pose() -> None:
    # Ranked once, by the predictor: the message keeps that order (here one a score sort would change).
    grasps = [Grasp(10 * i, 0, 0, 5, 5, score=s) for i, s in enumerate([0.5, 0.9, 0.1])]
    poses = [None, GraspPose3D((1.0, 2.0, 3.0), (0.0, 0.0, 0.6, 0.8), 0.05, 0.02), None]
    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = grasps_to_array_msg(grasps, header, 640, 480, backend="pca", prompt="mug", inference_time_ms=3.5, poses=poses)
    assert [g.score for g in msg.grasps] == pytest.approx([0.5, 0.9, 0.1])
    assert [g.has_pose for g in msg.grasps] == [False, True, False]
    assert msg.grasps[1].center_x == 10 and msg.grasps[1].pose.position.z == 3.0 and msg.grasps[1].width_m == 0.05
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == (
        "camera_color_optical_frame",
        12,
        345,
    )
    assert (msg.image_width, msg.image_height, msg.backend, msg.prompt) == (640, 480, "pca", "mug")
    assert array_msg_to_grasps(msg) == grasps
    assert [msg_to_pose(g) for g in msg.grasps] == poses


def test_camera_info_prefers_the_rectified_projection_matrix() -> None:
    info = CameraInfo(width=640, height=480)
    info.k = [600.0, 0.0, 320.0, 0.0, 601.0, 240.0, 0.0, 0.0, 1.0]
    camera = camera_info_to_camera(info)
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (600.0, 601.0, 320.0, 240.0)
    info.p = [590.0, 0.0, 318.0, 0.0, 0.0, 591.0, 242.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    camera = camera_info_to_camera(info)
    assert (camera.fx, camera.fy, camera.cx, camera.cy, camera.width) == (590.0, 591.0, 318.0, 242.0, 640)
    with pytest.raises(ValueError, match="invalid intrinsics"):
        camera_info_to_camera(CameraInfo(width=640, height=480))


def test_pose_count_must_match() -> None:
    with pytest.raises(ValueError, match="2 poses for 1 grasps"):
        grasps_to_array_msg([Grasp(0, 0, 0, 1, 1)], Header(), 10, 10, "pca", poses=[None, None])
