"""Start vlm_grasp's grasp node on a camera stream.

    ros2 launch vlm_grasp bringup.launch.py image_topic:=/camera/color/image_raw backend:=dense
    ros2 launch vlm_grasp bringup.launch.py --show-args

The arguments and how they map onto the node live in vlm_grasp_ros/bringup.py, shared with
`vlm-grasp bringup` (the same start without the launch packages). Only launch APIs present
since Humble are used: DeclareLaunchArgument, OpaqueFunction, launch_ros Node.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from vlm_grasp_ros.bringup import EXECUTABLE, LAUNCH_ARGUMENTS, PACKAGE, PARAMS_FILE_NAME, node_launch


def _grasp_node(context, *args, **kwargs):
    values = {argument.name: LaunchConfiguration(argument.name).perform(context) for argument in LAUNCH_ARGUMENTS}
    default_params = os.path.join(get_package_share_directory(PACKAGE), "config", PARAMS_FILE_NAME)
    spec = node_launch(values, default_params)
    return [
        Node(
            package=PACKAGE,
            executable=EXECUTABLE,
            name="grasp_node",
            namespace=spec.namespace,
            parameters=[spec.params_file, spec.overrides],
            remappings=list(spec.remappings),
            arguments=["--ros-args", "--log-level", spec.log_level],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description():
    declared = [
        DeclareLaunchArgument(argument.name, default_value=argument.default, description=argument.description)
        for argument in LAUNCH_ARGUMENTS
    ]
    return LaunchDescription(declared + [OpaqueFunction(function=_grasp_node)])
