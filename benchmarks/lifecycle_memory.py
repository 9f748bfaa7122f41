"""The grasp node's memory over configure/cleanup cycles (loopback only: source scripts/ros_env.sh).

    python benchmarks/lifecycle_memory.py                 # dense, 20 cycles
    python benchmarks/lifecycle_memory.py --cycles 40 --backend min_area_rect

Each cycle configures the node (the model loads), activates it, sends frames of two sizes and
waits for their grasps, deactivates and cleans up (the model is dropped); the node's resident
memory is read from ``/proc/<pid>/status`` after every cleanup. A model that is not given back,
or one left in per-thread heaps, shows as growth from the first cycle to the last. Prints one
line per cycle and a last JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from node_latency import Observer  # benchmarks/ is the script's folder
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from soak import resident_mb
from std_msgs.msg import Header

from vlm_grasp_ros.bringup import NodeLaunch, installed_params_file
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene
from vlm_grasp_ros.ros.image_conversion import rgb_to_image
from vlm_grasp_ros.ros.node_process import GraspNodeProcess

NODE = "cycled_grasps"


class Client(Observer):
    """The benchmark's observer, plus lifecycle transitions and frames out from this process."""

    def __init__(self) -> None:
        super().__init__()
        self.change_state: Any = self.node.create_client(ChangeState, f"/{NODE}/change_state")
        self.images = self.node.create_publisher(Image, "/image", qos_profile_sensor_data)
        self.stamp = 0

    def spin_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        self.spin_while(lambda: not done(), timeout_s)
        return bool(done())

    def transition(self, transition_id: int) -> None:
        if not self.spin_until(self.change_state.service_is_ready, 60.0):
            raise RuntimeError("the node's change_state service did not come up")
        future = self.change_state.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        result: Any = future.result() if self.spin_until(future.done, 120.0) else None
        if result is None or not result.success:
            raise RuntimeError(f"transition {transition_id} failed")

    def ask(self, rgb: np.ndarray, timeout_s: float = 30.0) -> None:
        """Publish the frame until its grasps come back (the first frames may precede matching)."""
        self.stamp += 1
        header = Header(frame_id="camera")
        header.stamp.sec = self.stamp
        image = rgb_to_image(rgb, header)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.images.publish(image)
            if self.spin_until(lambda: self.stamp * 1_000_000_000 in self.arrivals, 0.5):
                return
        raise RuntimeError(f"no grasps for frame {self.stamp} within {timeout_s} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="dense")
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST":
        print("source scripts/ros_env.sh first (keeps DDS on loopback)", file=sys.stderr)
        return 2
    if args.cycles < 2:
        parser.error("--cycles must be at least 2")
    overrides = {"backend": args.backend, "autostart": False, "diagnostics_period_s": 0.0, "stats_period_s": 0.0}
    launch = NodeLaunch(installed_params_file(), overrides, (("__node", NODE),))
    resident: list[float] = []
    with tempfile.TemporaryDirectory() as work:
        node = GraspNodeProcess(launch, Path(work) / "node.log")
        client = Client()
        try:
            for cycle in range(args.cycles):
                client.transition(Transition.TRANSITION_CONFIGURE)
                client.transition(Transition.TRANSITION_ACTIVATE)
                for width, height in ((640, 480), (320 + 16 * cycle, 240)):  # a new input size every cycle
                    client.ask(render_scene(cycle, 0, SceneConfig(width=width, height=height)).image)
                client.transition(Transition.TRANSITION_DEACTIVATE)
                client.transition(Transition.TRANSITION_CLEANUP)
                resident.append(resident_mb(node.process.pid))
                print(f"cycle {cycle + 1}: {resident[-1]:.1f} MB after cleanup", flush=True)
        except RuntimeError as error:
            raise RuntimeError(f"{error}; the node's log:\n{node.log()[-3000:]}") from None
        finally:
            client.close()
            node.stop()
    figures = {
        "backend": args.backend,
        "cycles": args.cycles,
        "first_mb": resident[0],
        "last_mb": resident[-1],
        "max_mb": max(resident),
        "growth_percent": 100.0 * (resident[-1] - resident[0]) / resident[0],
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
