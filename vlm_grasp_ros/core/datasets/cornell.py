"""Cornell grasping dataset: ``pcdNNNNr.png`` with ``pcdNNNNcpos.txt`` (positive rectangles)."""

from __future__ import annotations

from pathlib import Path

from vlm_grasp_ros.core.datasets.base import GraspDataset, parse_corner_file
from vlm_grasp_ros.core.datasets.sample import GraspSample, read_depth_metres, read_rgb


class CornellDataset(GraspDataset[Path]):
    name = "cornell"
    expected_layout = "pcdNNNNr.png images with pcdNNNNcpos.txt beside them (any folder depth)"

    def _index(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("pcd*r.png") if _labels_path(p).exists())

    def _load(self, image_path: Path) -> GraspSample:
        depth_path = image_path.with_name(image_path.name[:-5] + "d.tiff")
        return GraspSample(
            image=read_rgb(image_path),
            grasps=parse_corner_file(_labels_path(image_path)),
            name=self.relative(image_path),
            depth=read_depth_metres(depth_path, 1.0) if depth_path.exists() else None,
        )


def _labels_path(image_path: Path) -> Path:
    return image_path.with_name(image_path.name[:-5] + "cpos.txt")  # pcd0100r.png -> pcd0100cpos.txt
