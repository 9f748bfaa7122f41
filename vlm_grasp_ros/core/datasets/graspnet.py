"""GraspNet-1Billion rectangle labels: ``scenes/scene_XXXX/<camera>/rect/NNNN.npy``.

Each row is ``[center_x, center_y, open_x, open_y, height, score, object_id]`` (graspnetAPI's
RectGrasp): the open point is one end of the jaw-opening axis, so the opening is twice its
distance from the centre. Images are ``rgb/NNNN.png``, object labels ``label/NNNN.png`` and
depth ``depth/NNNN.png`` (uint16 millimetres) beside ``rect/``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vlm_grasp_ros.core.datasets.base import GraspDataset
from vlm_grasp_ros.core.datasets.sample import (
    DatasetFormatError,
    GraspSample,
    read_depth_metres,
    read_label_mask,
    read_rgb,
)
from vlm_grasp_ros.core.grasp import Grasp


class GraspNetRectDataset(GraspDataset[Path]):
    name = "graspnet"
    expected_layout = "scenes/scene_XXXX/<camera>/rect/NNNN.npy with rgb/NNNN.png beside rect/"

    def __init__(self, root: str | Path, camera: str | None = None, min_score: float = 0.0) -> None:
        self.camera = camera
        self.min_score = min_score
        super().__init__(root)

    def _index(self) -> list[Path]:
        pattern = f"{self.camera}/rect/*.npy" if self.camera else "rect/*.npy"
        return sorted(p for p in self.root.rglob(pattern) if _image_path(p).exists())

    def _load(self, rect_path: Path) -> GraspSample:
        camera_dir = rect_path.parent.parent
        label_path = camera_dir / "label" / (rect_path.stem + ".png")
        depth_path = camera_dir / "depth" / (rect_path.stem + ".png")
        image_path = _image_path(rect_path)
        return GraspSample(
            image=read_rgb(image_path),
            grasps=read_rect_grasps(rect_path, self.min_score),
            name=self.relative(image_path),
            mask=read_label_mask(label_path) if label_path.exists() else None,
            depth=read_depth_metres(depth_path, 0.001) if depth_path.exists() else None,
        )


def _image_path(rect_path: Path) -> Path:
    return rect_path.parent.parent / "rgb" / (rect_path.stem + ".png")


def read_rect_grasps(path: Path, min_score: float = 0.0) -> list[Grasp]:
    try:
        rows = np.load(path, allow_pickle=False)  # never unpickle a label file
    except ValueError as error:
        raise DatasetFormatError(path, f"not a plain numeric .npy array ({error})") from None
    if rows.ndim != 2 or rows.shape[1] != 7:
        raise DatasetFormatError(path, f"expected rows of 7 values, got an array of shape {rows.shape}")
    grasps = []
    for index, (cx, cy, open_x, open_y, height, score, _object_id) in enumerate(rows.astype(float)):
        if not np.all(np.isfinite(rows[index])):
            raise DatasetFormatError(path, f"row {index} has a non-finite value", index + 1)
        if score < min_score:
            continue
        dx, dy = open_x - cx, open_y - cy
        grasps.append(
            Grasp(cx=cx, cy=cy, theta=math.atan2(-dy, dx), width=2 * math.hypot(dx, dy), height=height, score=score)
        )
    return grasps
