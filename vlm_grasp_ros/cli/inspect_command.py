"""`vlm-grasp inspect`: label statistics (stats.json, histograms) and a grid of samples."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.overlay import GROUND_TRUTH_COLOUR, draw_grasps


def run(args: argparse.Namespace) -> int:
    dataset = open_dataset(args.dataset, args.root, allow_pickle=args.allow_pickle)
    count = min(len(dataset), args.limit) if args.limit else len(dataset)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_image, angles, widths, heights, sizes = [], [], [], [], set()
    tiles: list[np.ndarray] = []
    for index in tqdm(range(count), desc="inspect", unit="img"):
        sample = dataset[index]
        per_image.append(len(sample.grasps))
        angles += [g.theta_deg for g in sample.grasps]
        widths += [g.width for g in sample.grasps]
        heights += [g.height for g in sample.grasps]
        sizes.add(f"{sample.width}x{sample.height}")
        if len(tiles) < 12:
            tile = draw_grasps(sample.image, sample.grasps, GROUND_TRUTH_COLOUR)
            tiles.append(cv2.resize(tile, (320, 240), interpolation=cv2.INTER_AREA))
    stats = {
        "dataset": args.dataset,
        "root": str(args.root),
        "n_images": count,
        "n_grasps": int(sum(per_image)),
        "grasps_per_image": {"min": int(min(per_image)), "mean": float(np.mean(per_image)), "max": int(max(per_image))},
        "width_px": {"median": float(np.median(widths)) if widths else None},
        "height_px": {"median": float(np.median(heights)) if heights else None},
        "image_sizes": sorted(sizes),
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].hist(angles, bins=36, range=(-90, 90))
    axes[0].set(title="grasp angle", xlabel="degrees")
    axes[1].hist(widths, bins=30)
    axes[1].set(title="opening width", xlabel="pixels")
    axes[2].hist(per_image, bins=range(0, max(per_image) + 2))
    axes[2].set(title="grasps per image", xlabel="count")
    figure.tight_layout()
    figure.savefig(out_dir / "label_histograms.png", dpi=110)
    plt.close(figure)
    while len(tiles) % 4:
        tiles.append(np.full_like(tiles[0], 255))
    grid = np.vstack([np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles), 4)])
    cv2.imwrite(str(out_dir / "samples.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(json.dumps(stats, indent=2))
    print(f"wrote stats.json, label_histograms.png and samples.png to {out_dir}")
    return 0
