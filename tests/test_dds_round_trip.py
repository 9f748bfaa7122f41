"""Two separate processes over real DDS: a Grasp2DArray arrives intact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HELPERS = Path(__file__).parent / "helpers"


def test_grasp_array_crosses_processes_intact(ros_subprocess_env: dict[str, str]) -> None:
    topic = "dds_round_trip_grasps"
    publisher = subprocess.Popen(
        [sys.executable, str(HELPERS / "grasp_publisher.py"), topic],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ros_subprocess_env,
    )
    try:
        sent = publisher.stdout.readline().strip()
        listener = subprocess.run(
            [sys.executable, str(HELPERS / "grasp_listener.py"), topic, "30"],
            capture_output=True,
            text=True,
            env=ros_subprocess_env,
            timeout=60,
        )
    finally:
        publisher.terminate()
        publisher.wait(timeout=10)
    assert listener.returncode == 0, listener.stderr
    received = listener.stdout.strip().splitlines()[-1]
    assert "grasp the red mug" in sent and "has_pose=True" in sent
    assert received == sent
