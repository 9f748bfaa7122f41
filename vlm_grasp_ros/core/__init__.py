"""The ROS-free core: grasp geometry, quantizer, datasets, metrics and model backends.

Nothing under this package may import rclpy or any ROS message module.
"""
