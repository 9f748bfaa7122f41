"""bringup: the launch file and `vlm-grasp bringup` start the same node the same way."""

from __future__ import annotations

import importlib.util
import shlex
import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tests.helpers.ros_probe import CameraLink, RosProbe, synthetic_frame
from vlm_grasp_ros.bringup import ARGUMENT_NAMES, default_to_loopback_dds, large_frame_loss_hint, node_launch

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "bringup.launch.py"

CLI = [sys.executable, "-m", "vlm_grasp_ros.cli.main"]


class Recorder:
    """Stands in for a launch class: keeps its arguments (launch is not installable here)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args, self.kwargs = args, kwargs


class FakeConfiguration(Recorder):
    def perform(self, context: dict[str, str]) -> str:
        return context[self.args[0]]


def run_launch_file(monkeypatch: pytest.MonkeyPatch, values: dict[str, str], share: Path) -> tuple[list, Recorder]:
    """Evaluate bringup.launch.py as `ros2 launch` would, with recording launch classes."""
    modules = {
        name: types.ModuleType(name)
        for name in ("launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions")
    }
    modules["launch"].LaunchDescription = Recorder
    modules["launch.actions"].DeclareLaunchArgument = Recorder
    modules["launch.actions"].OpaqueFunction = Recorder
    modules["launch.substitutions"].LaunchConfiguration = FakeConfiguration
    modules["launch_ros.actions"].Node = Recorder
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("bringup_launch", LAUNCH_FILE)
    launch_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_module)
    monkeypatch.setattr(launch_module, "get_package_share_directory", lambda package: str(share))
    description = launch_module.generate_launch_description()
    *declared, opaque = description.args[0]
    context = {d.args[0]: d.kwargs["default_value"] for d in declared} | values
    (node,) = opaque.kwargs["function"](context)
    return declared, node


def test_launch_file_declares_every_argument_with_a_description(monkeypatch: pytest.MonkeyPatch) -> None:
    declared, _ = run_launch_file(monkeypatch, {}, REPO)
    assert tuple(d.args[0] for d in declared) == ARGUMENT_NAMES
    assert all(len(d.kwargs["description"]) > 20 for d in declared)


def test_launch_file_and_cli_give_the_node_the_same_start(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"backend": "pca", "namespace": "robot1", "image_topic": "/cam/rgb", "use_depth": "true"}
    _, node = run_launch_file(monkeypatch, values, REPO)
    assert (node.kwargs["package"], node.kwargs["executable"], node.kwargs["name"]) == (
        "vlm_grasp",
        "grasp_node",
        "grasp_node",
    )
    assert node.kwargs["namespace"] == "/robot1"
    params_file, overrides = node.kwargs["parameters"]
    assert params_file == str(REPO / "config" / "grasp_node.yaml")  # the installed share/vlm_grasp/config file
    assert overrides == {"use_depth": True, "backend": "pca"}
    remaps = dict(node.kwargs["remappings"])
    assert remaps["image"] == "/cam/rgb" and remaps["depth"].endswith("aligned_depth_to_color/image_raw")

    cli = subprocess.run(
        [*CLI, *"bringup --backend pca --namespace robot1 --image-topic /cam/rgb --use-depth true --dry-run".split()],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
        check=True,
    )
    cli_arguments = shlex.split(cli.stdout.strip().removeprefix("bringup: grasp_node "))
    file_index = cli_arguments.index("--params-file") + 1
    # The CLI finds the file through the ament index (the venv's share/vlm_grasp): the same file.
    assert Path(cli_arguments[file_index]).resolve() == Path(params_file).resolve()
    cli_arguments[file_index] = params_file
    assert cli_arguments == node_launch(values, params_file).ros_arguments()
    assert cli_arguments[cli_arguments.index("backend:=pca") - 1] == "-p"
    assert "__ns:=/robot1" in cli_arguments and "image:=/cam/rgb" in cli_arguments


def test_bad_launch_values_are_named() -> None:
    with pytest.raises(ValueError, match="use_depth must be true or false, got 'maybe'"):
        node_launch({"use_depth": "maybe"}, str(REPO / "config" / "grasp_node.yaml"))
    with pytest.raises(ValueError, match="parameters file not found: /nowhere.yaml"):
        node_launch({"params_file": "/nowhere.yaml"}, "")
    with pytest.raises(ValueError, match="unknown launch arguments: camera"):
        node_launch({"camera": "x"}, "")


def test_vlm_grasp_bringup_serves_grasps_under_its_namespace_and_remap() -> None:
    process = subprocess.Popen(
        [*CLI, *"bringup --backend pca --image-topic /bringup_test/image_raw --namespace robot7".split()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
    )
    probe = RosProbe("test_bringup_probe")
    try:
        camera = CameraLink(probe, "/bringup_test/image_raw", "/robot7/grasps")
        assert camera.ask(synthetic_frame(seed=41, width=320, height=240)).backend == "pca"
    finally:
        probe.close()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "bringup: grasp_node --ros-args --params-file" in output


def test_replay_keeps_dds_on_loopback_with_the_large_image_profile_unless_the_user_chose() -> None:
    environ: dict[str, str] = {}
    chosen = default_to_loopback_dds(environ)
    profile = Path(environ["FASTDDS_DEFAULT_PROFILES_FILE"])
    assert profile.name == "fastdds_loopback.xml" and profile.is_file()
    assert "<segment_size>16777216</segment_size>" in profile.read_text()
    assert environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and len(chosen) == 2
    mine = {"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/robot/dds.xml", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    assert default_to_loopback_dds(mine) == [] and "FASTDDS_DEFAULT_PROFILES_FILE" not in mine
    cyclone = {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp", "ROS_LOCALHOST_ONLY": "1"}
    assert default_to_loopback_dds(cyclone) == [] and cyclone == {
        "RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp",
        "ROS_LOCALHOST_ONLY": "1",
    }


def test_lost_large_frames_under_fast_dds_defaults_get_the_profile_named() -> None:
    vga = 640 * 480 * 3
    hint = large_frame_loss_hint({}, vga)
    assert hint is not None and "0.9 MB" in hint and "fastdds_loopback.xml" in hint
    assert large_frame_loss_hint({}, 320 * 240 * 3) is None  # fits the default segment: another cause
    assert large_frame_loss_hint({"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/robot/dds.xml"}, vga) is None
    assert large_frame_loss_hint({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, vga) is None
