"""The core must import and run without ROS: no rclpy or message package may load with it."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import importlib, json, pkgutil, sys
import vlm_grasp_ros.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, core.__name__ + ".")]
for name in names:
    importlib.import_module(name)
ros = sorted(m for m in sys.modules if m == "rclpy" or m.startswith("rclpy.") or m.endswith("_msgs")
             or ".msg" in m and m.split(".")[0].endswith("_msgs"))
print(json.dumps({"modules": names, "ros": ros}))
"""


def test_core_modules_import_no_ros() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "vlm_grasp_ros.core.grasp" in report["modules"]
    assert report["ros"] == []
