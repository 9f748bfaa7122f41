"""`vlm-grasp synth --out DIR --n N --seed S`: synthetic scenes in the Jacquard layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from vlm_grasp_ros.core.output_folder import staged_output
from vlm_grasp_ros.core.synthetic.scene import SceneConfig
from vlm_grasp_ros.core.synthetic.writer import write_synthetic_dataset


def run(args: argparse.Namespace) -> int:
    config = SceneConfig(
        width=args.width,
        height=args.height,
        view=args.view,
        robot_share=args.robot_share,
        bullet_share=args.bullet_share,
        empty_share=args.empty_share,
    )
    with staged_output(Path(args.out), args.overwrite) as folder:
        paths = write_synthetic_dataset(folder, args.n, args.seed, config)
    print(f"wrote {len(paths)} {args.view} scenes (seed {args.seed}) to {args.out}; read them with --dataset synthetic")
    return 0
