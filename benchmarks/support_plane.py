"""Per-frame cost of the node's support-plane check (``support_plane: true``) on robot views.

    python benchmarks/support_plane.py --frames 60 --out FILE

Each frame: the support plane fitted in the depth of a 640x480 synthetic robot view (drawn and
PyBullet, alternately) with its own intrinsics, then ten grasps checked against it, as
``keep_grasps_on_support`` does in the node. Prints median and p95 in ms; ``--out FILE`` also
writes the table with the machine's description.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from arguments import benchmark_parser, parse_benchmark_arguments  # benchmarks/ is the script's folder
from machine import cpu_name  # benchmarks/ is the script's folder

from vlm_grasp_ros.core.pipeline import DEFAULT_SUPPORT_HEIGHT_M, GraspRequest, keep_grasps_on_support
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--frames", type=int, default=60)
    args = parse_benchmark_arguments(parser)
    scenes = [render_scene(7, index, SceneConfig(view=("robot", "bullet")[index % 2])) for index in range(8)]
    request = GraspRequest(support_height_m=DEFAULT_SUPPORT_HEIGHT_M)
    times_ms = []
    for frame in range(args.frames + 3):  # the first three warm numpy up and are not counted
        scene = scenes[frame % len(scenes)]
        assert scene.depth is not None and scene.camera is not None  # camera views carry both
        grasps = (scene.grasps * 10)[:10]
        start = time.perf_counter()
        keep_grasps_on_support(grasps, scene.depth, scene.camera, (scene.width, scene.height), request)
        if frame >= 3:
            times_ms.append((time.perf_counter() - start) * 1000.0)
    table = "\n".join(
        [
            "| stage | median ms | p95 ms |",
            "|---|---|---|",
            f"| support plane + 10 grasps checked | {np.median(times_ms):.2f} | {np.percentile(times_ms, 95):.2f} |",
        ]
    )
    print(table)
    if args.out:
        header = (
            f"# Support-plane check, 640x480 robot views\n\n{cpu_name()}, {args.frames} frames: "
            f"`python benchmarks/support_plane.py --frames {args.frames}`\n\n"
        )
        Path(args.out).write_text(header + table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
