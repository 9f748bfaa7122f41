"""The README's colcon route: the nested interface package builds with explicit --paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import vlm_grasp_msgs.msg, vlm_grasp_ros
from ament_index_python.packages import get_package_share_directory as share
msg = vlm_grasp_msgs.msg.Grasp2DArray(grasps=[vlm_grasp_msgs.msg.Grasp2D(center_x=3.0)])
print(vlm_grasp_msgs.__file__); print(vlm_grasp_ros.__file__)
print(share("vlm_grasp")); print(share("vlm_grasp_msgs")); print(msg.grasps[0].center_x)
"""


@pytest.mark.timeout(600)
def test_colcon_builds_both_packages_with_explicit_paths(tmp_path: Path) -> None:
    colcon = Path(sys.executable).with_name("colcon")
    assert colcon.exists(), "colcon is part of requirements/dev.txt"
    source = tmp_path / "src" / "vlm_grasp"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(".venv", "build", "install", "log", ".git"))
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        CMAKE_PREFIX_PATH=sys.prefix,
        AMENT_PREFIX_PATH=os.environ.get("AMENT_PREFIX_PATH", sys.prefix),
    )
    build = subprocess.run(
        [
            str(colcon),
            "--log-base",
            "log",
            "build",
            "--paths",
            "src/vlm_grasp",
            "src/vlm_grasp/vlm_grasp_msgs",
            "--cmake-args",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DBUILD_TESTING=OFF",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "2 packages finished" in build.stdout
    check = subprocess.run(
        ["bash", "-c", f"source install/setup.bash && \"{sys.executable}\" -c '{CHECK}'"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    msgs_file, core_file, share_vlm, share_msgs, value = check.stdout.split()
    install = str(tmp_path / "install")
    assert msgs_file.startswith(install) and core_file.startswith(install)
    assert share_vlm == f"{install}/vlm_grasp/share/vlm_grasp" and share_msgs.startswith(install)
    assert Path(share_vlm, "config", "fastdds_loopback.xml").is_file()
    # What `ros2 launch vlm_grasp bringup.launch.py` and `ros2 run vlm_grasp grasp_node` look up.
    assert Path(share_vlm, "launch", "bringup.launch.py").is_file()
    assert Path(share_vlm, "config", "grasp_node.yaml").is_file()
    assert os.access(Path(install, "vlm_grasp", "lib", "vlm_grasp", "grasp_node"), os.X_OK)
    assert value == "3.0"
