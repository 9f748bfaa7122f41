"""`vlm-grasp`: predict, eval, compare, synth, inspect, bringup, bag, replay and recover.

Errors end in one clear line, exit code 2."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

from vlm_grasp_ros.cli import (
    bag_command,
    bringup_command,
    compare_command,
    eval_command,
    inspect_command,
    predict_command,
    recover_command,
    replay_command,
    synth_command,
)
from vlm_grasp_ros.cli.model_arguments import add_model_arguments
from vlm_grasp_ros.core.datasets import DATASET_NAMES, DatasetFormatError
from vlm_grasp_ros.core.pipeline import DEFAULT_SUPPORT_HEIGHT_M
from vlm_grasp_ros.core.predictors.registry import backend_names
from vlm_grasp_ros.core.synthetic.scene import SCENE_VIEWS, SceneConfig

VIEW_HELP = (
    "top_down: a table top filling the frame from above; robot: a tilted camera over a finite table or a "
    "sheet of paper, with unlabelled floor, walls and clutter around it; bullet: robot views of mesh objects "
    "settled and rendered by PyBullet (a second generator); mixed: each scene from one of the three, by "
    "--robot-share and --bullet-share"
)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a bad value is one line and exit 2, not a traceback later)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse prints the usage block before a bad argument's error; here the error is one
    line (with where to read the usage), like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="vlm-grasp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    backends_help = f"one of: {', '.join(backend_names())}"

    predict = commands.add_parser("predict", help="grasps for image files: JSON and overlay per image")
    predict.add_argument("images", nargs="+", help="image files (png, jpg, ...) or folders of them")
    predict.add_argument("--backend", default="dense", help=backends_help)
    add_model_arguments(predict)
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--prompt", default=None, help="what to grasp, for backends that take language")
    predict.add_argument("--max-grasps", type=positive_int, default=10)
    predict.set_defaults(run=predict_command.run)

    evaluate = commands.add_parser("eval", help="score backends on a dataset: metrics.json, predictions, report")
    evaluate.add_argument("--dataset", required=True, choices=DATASET_NAMES)
    evaluate.add_argument("--root", required=True, help="the dataset's root folder")
    evaluate.add_argument("--backend", nargs="+", default=["dense"], help=backends_help)
    add_model_arguments(evaluate)
    add_output_arguments(evaluate, "the results folder (metrics.json, predictions.jsonl, report.md)")
    evaluate.add_argument("--limit", type=positive_int, default=None, help="only the first N images")
    evaluate.add_argument("--max-grasps", type=positive_int, default=10)
    evaluate.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        help="images per call for backends that batch (vlm); others run one by one",
    )
    evaluate.add_argument(
        "--oracle-mask",
        action="store_true",
        help="give backends the dataset's object mask instead of their own segmentation",
    )
    evaluate.add_argument(
        "--support-plane",
        action="store_true",
        help="with depth and intrinsics (synthetic camera views): drop grasps not standing on the support "
        "plane (the table), as the node's support_plane does",
    )
    evaluate.add_argument(
        "--support-height-m",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=list(DEFAULT_SUPPORT_HEIGHT_M),
        help="with --support-plane: the heights above the plane a grasp centre may have (the node's defaults)",
    )
    evaluate.add_argument("--allow-pickle", action="store_true", help="allow pickle annotations (can run code)")
    evaluate.add_argument(
        "--skip-bad-samples",
        action="store_true",
        help="score the samples that can be read and list the others in metrics.json and the report "
        "(without it, any unreadable sample stops the run before a model runs, with all of them named)",
    )
    evaluate.set_defaults(run=eval_command.run)

    compare = commands.add_parser(
        "compare", help="two evaluations of the same images, image by image: which top-1 grasps only one gets right"
    )
    compare.add_argument("first", help="an eval output folder (or its predictions.jsonl)")
    compare.add_argument("second", help="another, on the same images")
    compare.set_defaults(run=compare_command.run)

    synth = commands.add_parser("synth", help="write synthetic tabletop scenes in the Jacquard layout")
    add_output_arguments(synth, "the dataset folder to write")
    synth.add_argument("--n", type=positive_int, required=True, help="number of scenes")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--view", choices=SCENE_VIEWS, default="top_down", help=VIEW_HELP)
    synth.add_argument(
        "--robot-share", type=float, default=SceneConfig.robot_share, help="mixed: share of drawn robot views"
    )
    synth.add_argument(
        "--bullet-share", type=float, default=SceneConfig.bullet_share, help="mixed: share of PyBullet views"
    )
    synth.add_argument(
        "--empty-share",
        type=float,
        default=SceneConfig.empty_share,
        help="share of scenes with no objects (surroundings only, no labels), any view",
    )
    synth.add_argument("--width", type=positive_int, default=640)
    synth.add_argument("--height", type=positive_int, default=480)
    synth.set_defaults(run=synth_command.run)

    inspect = commands.add_parser("inspect", help="dataset statistics and a sample grid")
    inspect.add_argument("--dataset", required=True, choices=DATASET_NAMES)
    inspect.add_argument("--root", required=True)
    inspect.add_argument("--out", required=True)
    inspect.add_argument("--limit", type=positive_int, default=None)
    inspect.add_argument("--allow-pickle", action="store_true")
    inspect.set_defaults(run=inspect_command.run)

    bringup = commands.add_parser("bringup", help="start grasp_node as `ros2 launch vlm_grasp bringup.launch.py` would")
    bringup_command.add_arguments(bringup)
    bringup.set_defaults(run=bringup_command.run)

    bag = commands.add_parser("bag", help="write a dataset as a rosbag2 of camera frames with labels on /grasps_gt")
    bag.add_argument("--dataset", required=True, choices=DATASET_NAMES)
    bag.add_argument("--root", required=True)
    add_output_arguments(bag, "the rosbag2 folder to write")
    bag.add_argument("--storage", default="mcap", choices=["mcap", "sqlite3"], help="mcap (.mcap) or sqlite3 (.db3)")
    bag.add_argument("--rate", type=positive_float, default=5.0, help="frames per second of recorded time")
    bag.add_argument("--limit", type=positive_int, default=None)
    bag.add_argument(
        "--image-format",
        default="raw",
        choices=["raw", "jpeg", "png"],
        help="raw: sensor_msgs/Image; jpeg/png: CompressedImage on <image topic>/compressed",
    )
    bag.add_argument("--no-depth", action="store_true", help="leave out depth and camera_info")
    bag.add_argument(
        "--depth-format",
        default="raw",
        choices=["raw", "compressedDepth"],
        help="raw: 32FC1 metres; compressedDepth: 16UC1 mm as png on <depth>/compressedDepth (image_transport's)",
    )
    bag.add_argument("--allow-pickle", action="store_true")
    bag.set_defaults(run=bag_command.run)

    recover = commands.add_parser(
        "recover", help="a playable rosbag2 from a recording that was cut off (no footer, no metadata.yaml)"
    )
    recover.add_argument("bag", help="the rosbag2 folder (or one .mcap file) of the interrupted recording")
    add_output_arguments(recover, "the rosbag2 folder to write")
    recover.set_defaults(run=recover_command.run)

    replay = commands.add_parser("replay", help="play a bag through a live grasp_node and score what it answers")
    replay.add_argument("bag", help="a rosbag2 folder (from vlm-grasp bag or ros2 bag record)")
    replay.add_argument("--backend", default=None, help=backends_help + " (default: the one in the params file)")
    add_output_arguments(replay, "the results folder (metrics, report, node.log, node_output_bag)")
    replay.add_argument(
        "--realtime",
        action="store_true",
        help="play at the recorded timing (times --rate), as a camera would, and report the frames "
        "the node skipped; default: each frame once the last one is answered, so all are scored",
    )
    replay.add_argument(
        "--rate", type=positive_float, default=1.0, help="with --realtime: playback speed, 1 = as recorded"
    )
    replay.add_argument(
        "--answer-timeout",
        type=positive_float,
        default=10.0,
        help="paced: seconds to wait for a frame's answer before sending the next",
    )
    replay.add_argument("--image-topic", default=None, help="the camera topic when the bag has several")
    replay.add_argument("--depth-topic", default=None)
    replay.add_argument("--camera-info-topic", default=None)
    replay.add_argument(
        "--ground-truth-topic", default=None, help="GraspLabels (or older Grasp2DArray) labels; found by type if unset"
    )
    replay.add_argument("--no-depth", action="store_true", help="ignore depth even if the bag has it")
    replay.add_argument("--params-file", default=None, help="node parameters (default: the installed grasp_node.yaml)")
    replay.add_argument(
        "--drain", type=positive_float, default=5.0, help="seconds to wait for answers after the last frame"
    )
    replay.add_argument(
        "--startup-timeout", type=positive_float, default=300.0, help="seconds allowed for the model to load"
    )
    replay.set_defaults(run=replay_command.run)
    return parser


def add_output_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--out", required=True, help=f"{what}; written in full or not at all")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists and is not empty")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, OSError, RuntimeError, DatasetFormatError) as error:  # OSError's text names the path
        print(f"vlm-grasp {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
