"""Core grasps <-> vlm_grasp_msgs messages."""

from __future__ import annotations

import math

import pytest
from geometry_msgs.msg import Point, Pose, Quaternion
from std_msgs.msg import Header

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.ros.conversions import GraspPose3D, array_msg_to_grasps, grasp_to_msg, grasps_to_array_msg, msg_to_grasp


def test_grasp_message_round_trip_keeps_every_field() -> None:
    grasp = Grasp(cx=12.5, cy=300.25, theta=math.radians(-37.0), width=41.0, height=17.5, score=0.75)
    msg = grasp_to_msg(grasp)
    assert not msg.has_pose
    assert msg_to_grasp(msg) == grasp


def test_array_is_sorted_best_first_and_poses_follow_their_grasps() -> None:
    grasps = [Grasp(10 * i, 0, 0, 5, 5, score=s) for i, s in enumerate([0.1, 0.9, 0.5])]
    poses = [None, GraspPose3D(Pose(position=Point(x=1.0, y=2.0, z=3.0), orientation=Quaternion(w=1.0)), 0.05, 0.02), None]
    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = grasps_to_array_msg(grasps, header, 640, 480, backend="pca", prompt="mug", inference_time_ms=3.5, poses=poses)
    assert [g.score for g in msg.grasps] == pytest.approx([0.9, 0.5, 0.1])
    assert [g.has_pose for g in msg.grasps] == [True, False, False]
    assert msg.grasps[0].center_x == 10 and msg.grasps[0].pose.position.z == 3.0 and msg.grasps[0].width_m == 0.05
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ("camera_color_optical_frame", 12, 345)
    assert (msg.image_width, msg.image_height, msg.backend, msg.prompt) == (640, 480, "pca", "mug")
    assert array_msg_to_grasps(msg)[0] == grasps[1]


def test_pose_count_must_match() -> None:
    with pytest.raises(ValueError, match="2 poses for 1 grasps"):
        grasps_to_array_msg([Grasp(0, 0, 0, 1, 1)], Header(), 10, 10, "pca", poses=[None, None])
