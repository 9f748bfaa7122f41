"""`vlm-grasp bringup`: the launch file's start of grasp_node, for machines without the
launch packages. Same arguments, same parameter file, same remappings (vlm_grasp_ros.bringup)."""

from __future__ import annotations

import argparse
import shlex

from vlm_grasp_ros.bringup import LAUNCH_ARGUMENTS, installed_params_file, node_launch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for argument in LAUNCH_ARGUMENTS:
        default = f" (default: {argument.default})" if argument.default else ""
        parser.add_argument(
            f"--{argument.name.replace('_', '-')}",
            dest=argument.name,
            default=None,
            help=argument.description + default,
        )
    parser.add_argument("--dry-run", action="store_true", help="print the node's command line and exit")


def run(args: argparse.Namespace) -> int:
    values = {a.name: getattr(args, a.name) for a in LAUNCH_ARGUMENTS if getattr(args, a.name) is not None}
    ros_arguments = node_launch(values, installed_params_file()).ros_arguments()
    print("bringup: grasp_node " + shlex.join(ros_arguments), flush=True)
    if args.dry_run:
        return 0
    from vlm_grasp_ros.ros import grasp_node  # rclpy only when the node really starts

    return grasp_node.main(["grasp_node", *ros_arguments])
