"""Waits for one Grasp2DArray on a topic, prints its repr and exits (1 on time-out)."""

from __future__ import annotations

import sys
import time

import rclpy

from vlm_grasp_msgs.msg import Grasp2DArray


def main() -> int:
    topic, timeout_s = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    node = rclpy.create_node("test_grasp_listener")
    received: list[Grasp2DArray] = []
    node.create_subscription(Grasp2DArray, topic, received.append, 10)
    deadline = time.monotonic() + timeout_s
    while not received and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    if not received:
        print(f"no message on {topic} within {timeout_s} s", file=sys.stderr)
        return 1
    print(repr(received[0]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
