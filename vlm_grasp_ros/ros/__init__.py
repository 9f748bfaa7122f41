"""The thin ROS 2 layer: message conversions, the grasp node, markers and bag replay.

Everything here may import rclpy and message packages; the algorithms live in
:mod:`vlm_grasp_ros.core` and are only called from here.
"""
