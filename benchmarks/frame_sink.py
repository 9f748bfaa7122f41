"""Receives camera frames and prints their stamp-to-callback latencies as JSON (benchmark helper)."""

from __future__ import annotations

import json
import sys
import time

import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image


def main() -> None:
    topic, expected, timeout_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rclpy.init()
    node = rclpy.create_node("benchmark_frame_sink")
    latencies: list[float] = []

    def on_frame(msg: Image) -> None:
        now = time.time_ns()
        latencies.append((now - (msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)) / 1e6)

    node.create_subscription(Image, topic, on_frame, qos_profile_sensor_data)
    print("ready", flush=True)
    deadline = time.monotonic() + timeout_s
    while len(latencies) < expected and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps(latencies), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
