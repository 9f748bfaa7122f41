"""Publishes one known Grasp2DArray on `grasps` until killed, and prints what it sends."""

from __future__ import annotations

import math
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import Header

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.projection import GraspPose3D
from vlm_grasp_ros.ros.conversions import grasps_to_array_msg


def known_message():
    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 1_700_000_000, 123_456_789
    grasps = [
        Grasp(cx=320.5, cy=240.25, theta=math.radians(33.0), width=60.0, height=20.0, score=0.875),
        Grasp(cx=10.0, cy=470.0, theta=math.radians(-89.5), width=15.5, height=7.25, score=0.25),
    ]
    pose = GraspPose3D((0.01, -0.02, 0.55), (0.0, 0.0, 0.28, 0.96), 0.052, 0.017)
    return grasps_to_array_msg(
        grasps,
        header,
        640,
        480,
        backend="pca",
        model="",
        prompt="grasp the red mug",
        inference_time_ms=4.5,
        poses=[pose, None],
    )


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("test_grasp_publisher")
    publisher = node.create_publisher(type(known_message()), sys.argv[1] if len(sys.argv) > 1 else "grasps", 10)
    message = known_message()
    print(repr(message), flush=True)
    node.create_timer(0.1, lambda: publisher.publish(message))
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # terminated by the test or the demo: a normal end


if __name__ == "__main__":
    main()
