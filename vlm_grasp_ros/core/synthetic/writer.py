"""Write synthetic scenes in the Jacquard layout, so the Jacquard loader reads them back."""

from __future__ import annotations

from pathlib import Path

import cv2
from tqdm import tqdm

from vlm_grasp_ros.core.datasets.jacquard import (
    CAMERA_SUFFIX,
    OBJECTS_SUFFIX,
    format_camera,
    format_jacquard_grasps,
    format_object_kinds,
)
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene


def write_synthetic_dataset(
    out_dir: Path, count: int, seed: int, config: SceneConfig = SceneConfig(), progress: bool = True
) -> list[Path]:
    """Render ``count`` scenes to ``out_dir``; returns the RGB image paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in tqdm(range(count), desc="synthetic scenes", unit="scene", disable=not progress):
        sample = render_scene(seed, index, config)
        stem = out_dir / f"{index:05d}_s{seed}"
        assert sample.mask is not None and sample.depth is not None  # rendered scenes have both
        rgb_path = Path(f"{stem}_RGB.png")
        cv2.imwrite(str(rgb_path), cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(f"{stem}_mask.png", sample.mask.astype("uint8"))
        cv2.imwrite(f"{stem}_perfect_depth.tiff", sample.depth)
        Path(f"{stem}_grasps.txt").write_text(format_jacquard_grasps(sample.grasps), encoding="utf-8")
        if sample.object_kinds is not None:
            Path(f"{stem}{OBJECTS_SUFFIX}").write_text(format_object_kinds(sample.object_kinds), encoding="utf-8")
        if sample.camera is not None:
            Path(f"{stem}{CAMERA_SUFFIX}").write_text(format_camera(sample.camera), encoding="utf-8")
        paths.append(rgb_path)
    return paths
