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
    last_frame = [0.0]
    node.create_timer(0.5, lambda: None)  # wakes spin_once so the idle check below runs
    while len(latencies) < expected and time.monotonic() < deadline:
        count = len(latencies)
        rclpy.spin_once(node, timeout_sec=0.05)
        if len(latencies) > count:
            last_frame[0] = time.monotonic()
        elif latencies and time.monotonic() - last_frame[0] > 2.0:
            break  # the stream ended with frames lost: stop waiting for them
    print(json.dumps(latencies), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
