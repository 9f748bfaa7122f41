"""`vlm-grasp compare A B`: two evaluations of the same images, image by image (core.paired)."""

from __future__ import annotations

import argparse

from vlm_grasp_ros.core.paired import compare_top1, read_top1_hits


def run(args: argparse.Namespace) -> int:
    counts = compare_top1(read_top1_hits(args.first), read_top1_hits(args.second))
    n = counts.images
    print(
        f"top-1 on {n} labelled images: {args.first} {(counts.both + counts.only_first) / n:.1%}, "
        f"{args.second} {(counts.both + counts.only_second) / n:.1%}"
    )
    print("| both hit | only the first | only the second | neither | McNemar p (two-sided, exact) |")
    print("|---|---|---|---|---|")
    print(f"| {counts.both} | {counts.only_first} | {counts.only_second} | {counts.neither} | {counts.p_value:.3f} |")
    return 0
