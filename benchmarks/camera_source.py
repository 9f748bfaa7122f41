"""A camera stand-in in its own process: 640x480 rgb8 frames at a fixed rate, best-effort,
the way a RealSense driver publishes (benchmark helper; loopback only: source scripts/ros_env.sh).

    python benchmarks/camera_source.py --topic /camera/color/image_raw --rate 30 --duration 20

Waits until ``--subscribers`` readers have matched, then publishes for ``--duration`` seconds
on a fixed schedule and prints one JSON line: frames sent, the stamps of the first and last,
and how late the publish calls were. Frames are a few synthetic scenes, rendered before the
clock starts and serialized once; each publish only writes the stamp (wall clock, so another
process on this machine can compute latency from it) into the CDR bytes, as a C++ driver
costs next to nothing per frame.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene
from vlm_grasp_ros.ros.image_conversion import rgb_to_image

#: The stamp's place in a serialized message with a Header first: after the 4-byte CDR encapsulation.
STAMP_OFFSET = 4


def serialized_frames(count: int, width: int, height: int, frame_id: str) -> list[bytearray]:
    config = SceneConfig(width=width, height=height)
    return [
        bytearray(serialize_message(rgb_to_image(render_scene(7, index, config).image, Header(frame_id=frame_id))))
        for index in range(count)
    ]


def stamp_now(frame: bytearray) -> int:
    now_ns = time.time_ns()
    struct.pack_into("<iI", frame, STAMP_OFFSET, *divmod(now_ns, 1_000_000_000))
    return now_ns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topic", default="/camera/color/image_raw")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of publishing")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--scenes", type=int, default=8, help="distinct frames, cycled")
    parser.add_argument("--subscribers", type=int, default=1, help="matched readers to wait for before starting")
    parser.add_argument("--match-timeout", type=float, default=60.0)
    args = parser.parse_args()
    if args.rate <= 0 or args.duration <= 0 or args.width < 1 or args.height < 1 or args.scenes < 1:
        parser.error("--rate, --duration, --width, --height and --scenes must be positive")

    frames = serialized_frames(args.scenes, args.width, args.height, "camera_color_optical_frame")
    rclpy.init()
    node = rclpy.create_node("camera_source")
    publisher = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
    deadline = time.monotonic() + args.match_timeout
    while publisher.get_subscription_count() < args.subscribers:
        if time.monotonic() > deadline:
            print(json.dumps({"error": f"fewer than {args.subscribers} subscribers on {args.topic}"}), flush=True)
            return 1
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(1.0)  # matched in the graph a little before the data path is
    print("started", file=sys.stderr, flush=True)

    total = int(round(args.rate * args.duration))
    lateness_ms: list[float] = []
    first_ns = last_ns = 0
    start = time.monotonic()
    for index in range(total):
        due = start + index / args.rate
        time.sleep(max(0.0, due - time.monotonic()))
        lateness_ms.append((time.monotonic() - due) * 1000.0)
        frame = frames[index % len(frames)]
        last_ns = stamp_now(frame)
        first_ns = first_ns or last_ns
        publisher.publish(bytes(frame))
    elapsed = time.monotonic() - start
    print(
        json.dumps(
            {
                "sent": total,
                "first_stamp_ns": first_ns,
                "last_stamp_ns": last_ns,
                "elapsed_s": elapsed,
                "publish_late_ms_p95": float(np.percentile(lateness_ms, 95)),
            }
        ),
        flush=True,
    )
    time.sleep(0.5)  # let the last best-effort frame leave before the participant goes away
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
