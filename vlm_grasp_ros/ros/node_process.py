"""A grasp node in a process of its own, started from the bringup spec (what `ros2 launch` and
`vlm-grasp bringup` start), and its frame counters as it publishes them on /diagnostics.

Bag replay and the camera-rate benchmark both drive the node this way: from outside, as a
robot's camera driver would.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray

from vlm_grasp_ros.bringup import NodeLaunch


class GraspNodeProcess:
    """`python -m vlm_grasp_ros.ros.grasp_node` with ``launch``'s arguments, its output in ``log_path``."""

    def __init__(self, launch: NodeLaunch, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.command = [sys.executable, "-m", "vlm_grasp_ros.ros.grasp_node", *launch.ros_arguments()]
        self._log = open(log_path, "w", encoding="utf-8")
        self._log.write("started: " + shlex.join(self.command) + "\n")  # the log says how the node was started
        self._log.flush()
        self.process = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, env=dict(os.environ) if env is None else env
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGINT (a normal end, as Ctrl-C), then SIGKILL if it does not end in ``timeout_s``."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def frame_counters(array: DiagnosticArray, node_name: str) -> dict[str, float] | None:
    """The frame counters of the node whose fully qualified name is ``node_name`` (e.g.
    ``/replay/grasp_node``) in one /diagnostics message, or None if it is not in it."""
    for status in array.status:
        if status.hardware_id == node_name:
            return {pair.key: float(pair.value) for pair in status.values}
    return None
