"""What bringup means, in one place: the launch arguments and how they become the node's
parameters file, overrides, remappings and namespace.

`launch/bringup.launch.py` (for `ros2 launch` on a full ROS 2 install) and `vlm-grasp
bringup` (where the launch packages are not installable) both build the node from
:func:`node_launch`, so they cannot drift apart. No ROS imports here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from vlm_grasp_ros.core.predictors.registry import backend_names

PACKAGE = "vlm_grasp"
EXECUTABLE = "grasp_node"
FASTDDS_PROFILE_NAME = "fastdds_loopback.xml"
PARAMS_FILE_NAME = "grasp_node.yaml"


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument(
        "backend",
        "",
        f"grasp backend ({', '.join(backend_names())}); empty keeps the one in "
        "params_file; its options are the <backend>.<option> parameters",
    ),
    LaunchArgument("params_file", "", f"node parameters (YAML); empty uses the installed config/{PARAMS_FILE_NAME}"),
    LaunchArgument("namespace", "", "namespace of the node and of its relative topics (e.g. a robot name)"),
    LaunchArgument(
        "image_topic",
        "/camera/color/image_raw",
        "colour image topic; with image_transport:=compressed in the params file, its /compressed sibling is used",
    ),
    LaunchArgument(
        "image_transport",
        "",
        "raw or compressed (subscribe image_topic + /compressed); empty keeps the one in params_file",
    ),
    LaunchArgument("use_depth", "false", "also subscribe depth and camera_info to give each grasp a 3D pose"),
    LaunchArgument(
        "depth_topic",
        "/camera/aligned_depth_to_color/image_raw",
        "depth registered to the colour image (16UC1 mm or 32FC1 m)",
    ),
    LaunchArgument(
        "depth_transport",
        "",
        "raw or compressedDepth (subscribe depth_topic + /compressedDepth); empty keeps the one in params_file",
    ),
    LaunchArgument("camera_info_topic", "/camera/color/camera_info", "intrinsics of the colour image"),
    LaunchArgument("log_level", "info", "debug, info, warn, error or fatal"),
)
ARGUMENT_NAMES = tuple(argument.name for argument in LAUNCH_ARGUMENTS)
DEFAULTS = {argument.name: argument.default for argument in LAUNCH_ARGUMENTS}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class NodeLaunch:
    """Everything needed to start the node, whatever starts it."""

    params_file: str
    overrides: dict[str, object] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    namespace: str = ""
    log_level: str = "info"

    def ros_arguments(self) -> list[str]:
        """The same start as a `--ros-args` command line (what `vlm-grasp bringup` runs)."""
        arguments = ["--ros-args", "--params-file", self.params_file, "--log-level", self.log_level]
        for name, value in self.overrides.items():
            arguments += ["-p", f"{name}:={str(value).lower() if isinstance(value, bool) else value}"]
        for source, target in self.remappings:
            arguments += ["-r", f"{source}:={target}"]
        if self.namespace:
            arguments += ["-r", f"__ns:={self.namespace}"]
        return arguments


def _parse_bool(name: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"launch argument {name} must be true or false, got {text!r}")


def node_launch(values: dict[str, str], default_params_file: str) -> NodeLaunch:
    """Launch argument values (strings, as launch gives them) -> how to start the node."""
    unknown = set(values) - set(ARGUMENT_NAMES)
    if unknown:
        raise ValueError(f"unknown launch arguments: {', '.join(sorted(unknown))}; known: {', '.join(ARGUMENT_NAMES)}")
    merged = DEFAULTS | values
    params_file = merged["params_file"] or default_params_file
    if not Path(params_file).is_file():
        raise ValueError(f"parameters file not found: {params_file}")
    use_depth = _parse_bool("use_depth", merged["use_depth"])
    overrides: dict[str, object] = {"use_depth": use_depth}
    for name in ("backend", "image_transport", "depth_transport"):  # empty: the params file decides
        if merged[name]:
            overrides[name] = merged[name]
    remappings = [("image", merged["image_topic"])]
    if use_depth:
        remappings += [("depth", merged["depth_topic"]), ("camera_info", merged["camera_info_topic"])]
    namespace = merged["namespace"].strip("/")
    return NodeLaunch(
        params_file, overrides, tuple(remappings), f"/{namespace}" if namespace else "", merged["log_level"]
    )


def installed_config_file(name: str) -> str:
    """config/<name> from the ament index (a colcon install or this venv), else from the source
    tree (an editable install)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return os.path.join(get_package_share_directory(PACKAGE), "config", name)
        except (PackageNotFoundError, OSError):  # not installed, or no AMENT_PREFIX_PATH at all
            pass
    except ImportError:
        pass
    return str(Path(__file__).resolve().parents[1] / "config" / name)


def installed_params_file() -> str:
    return installed_config_file(PARAMS_FILE_NAME)


#: Fast DDS's default shared-memory segment is 0.5 MB: larger frames go over fragmented UDP, where
#: a best-effort subscriber loses most of them (README, *Large images over DDS*).
FASTDDS_DEFAULT_SEGMENT_BYTES = 512 * 1024


def large_frame_loss_hint(environ: Mapping[str, str], frame_bytes: int) -> str | None:
    """What to tell a user whose node loses frames of ``frame_bytes``, when the likely cause is
    Fast DDS's default segment (Fast DDS, no profile chosen, frames over the segment), else None."""
    rmw = environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    profile = environ.get("FASTDDS_DEFAULT_PROFILES_FILE") or environ.get("FASTRTPS_DEFAULT_PROFILES_FILE")
    if not rmw.startswith("rmw_fastrtps") or profile or frame_bytes <= FASTDDS_DEFAULT_SEGMENT_BYTES:
        return None
    return (
        f"frames of {frame_bytes / 1e6:.1f} MB are being lost before this node sees them; Fast DDS's default "
        "shared-memory segment (0.5 MB) is too small for them and no profile is set: start the camera and "
        f"this node with FASTDDS_DEFAULT_PROFILES_FILE={installed_config_file(FASTDDS_PROFILE_NAME)} "
        "(a 16 MB segment; README, Large images over DDS)"
    )


def default_to_loopback_dds(environ: MutableMapping[str, str]) -> list[str]:
    """For a process that starts its own node and talks only to it (``vlm-grasp replay``): where
    the user has not chosen, keep discovery on this machine and give Fast DDS the large-image
    profile, without which a best-effort subscriber loses most 640x480 frames (README, *Large
    images over DDS*). Must run before the process's first DDS participant; returns what it set."""
    chosen: list[str] = []
    rmw = environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    profile_set = environ.get("FASTDDS_DEFAULT_PROFILES_FILE") or environ.get("FASTRTPS_DEFAULT_PROFILES_FILE")
    if rmw.startswith("rmw_fastrtps") and not profile_set:
        environ["FASTDDS_DEFAULT_PROFILES_FILE"] = installed_config_file(FASTDDS_PROFILE_NAME)
        chosen.append(f"FASTDDS_DEFAULT_PROFILES_FILE={environ['FASTDDS_DEFAULT_PROFILES_FILE']}")
    if "ROS_AUTOMATIC_DISCOVERY_RANGE" not in environ and "ROS_LOCALHOST_ONLY" not in environ:
        environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        chosen.append("ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST")
    return chosen
