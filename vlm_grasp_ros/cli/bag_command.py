"""`vlm-grasp bag --dataset NAME --root DIR --out BAG`: a dataset as a rosbag2 for replay."""

from __future__ import annotations

import argparse
from pathlib import Path

from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.output_folder import check_output_folder, staged_output


def run(args: argparse.Namespace) -> int:
    from vlm_grasp_ros.ros.dataset_bag import write_dataset_bag  # rclpy only for this command

    check_output_folder(Path(args.out), args.overwrite)  # before the dataset is read
    dataset = open_dataset(args.dataset, args.root, allow_pickle=args.allow_pickle)
    out = Path(args.out)
    with staged_output(out, args.overwrite, create=False) as bag:  # rosbag2 makes its own folder
        count = write_dataset_bag(
            dataset,
            bag,
            storage=args.storage,
            rate_hz=args.rate,
            limit=args.limit,
            image_format=args.image_format,
            with_depth=not args.no_depth,
            depth_format=args.depth_format,
        )
    print(f"wrote {count} frames at {args.rate:g} Hz ({args.storage}, {args.image_format} images) to {out}")
    return 0
