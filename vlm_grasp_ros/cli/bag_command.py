"""`vlm-grasp bag --dataset NAME --root DIR --out BAG`: a dataset as a rosbag2 for replay."""

from __future__ import annotations

import argparse
from pathlib import Path

from vlm_grasp_ros.core.datasets import open_dataset


def run(args: argparse.Namespace) -> int:
    from vlm_grasp_ros.ros.dataset_bag import write_dataset_bag  # rclpy only for this command

    dataset = open_dataset(args.dataset, args.root, allow_pickle=args.allow_pickle)
    out = Path(args.out)
    count = write_dataset_bag(
        dataset,
        out,
        storage=args.storage,
        rate_hz=args.rate,
        limit=args.limit,
        image_format=args.image_format,
        with_depth=not args.no_depth,
    )
    print(f"wrote {count} frames at {args.rate:g} Hz ({args.storage}, {args.image_format} images) to {out}")
    return 0
