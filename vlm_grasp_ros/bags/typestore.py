"""A rosbags typestore that knows the standard ROS 2 messages and vlm_grasp_msgs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

INTERFACE_PACKAGE = "vlm_grasp_msgs"
#: Bags are written with rosbag2 metadata version 8: read by `ros2 bag` on Iron and later.
BAG_VERSION: Literal[8] = 8


def interface_msg_dir() -> Path:
    """The .msg files: installed (share/vlm_grasp_msgs/msg) or in this source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory(INTERFACE_PACKAGE)) / "msg"
        if installed.is_dir():
            return installed
    except (ImportError, LookupError, OSError):
        pass
    return Path(__file__).resolve().parents[2] / INTERFACE_PACKAGE / "msg"


@lru_cache(maxsize=1)
def grasp_typestore() -> Typestore:
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for path in sorted(interface_msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{INTERFACE_PACKAGE}/msg/{path.stem}"))
    if not types:
        raise FileNotFoundError(f"no .msg files for {INTERFACE_PACKAGE} in {interface_msg_dir()}")
    store.register(types)
    return store


def message_type_name(msg_class: type) -> str:
    """`sensor_msgs/msg/Image` for an rclpy message class."""
    module = msg_class.__module__.split(".")
    return f"{module[0]}/msg/{msg_class.__name__}"
