"""OCID-Grasp: per scene ``rgb/*.png``, ``seg_mask_labeled_combi/*.png`` and ``Annotations/*.txt``.

Annotations are Cornell-style 4-corner rectangles (Ainetter & Fraundorfer, ICRA 2021). The
labelled mask is what the per-object metric needs: a grasp belongs to the object under its
centre.
"""

from __future__ import annotations

from pathlib import Path

from vlm_grasp_ros.core.datasets.base import GraspDataset, parse_corner_file
from vlm_grasp_ros.core.datasets.sample import GraspSample, read_label_mask, read_rgb


class OcidGraspDataset(GraspDataset[Path]):
    name = "ocid"
    expected_layout = "<scene>/rgb/<name>.png with <scene>/Annotations/<name>.txt (and seg_mask_labeled_combi/)"

    def _index(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("rgb/*.png") if _annotation_path(p).exists())

    def _load(self, image_path: Path) -> GraspSample:
        mask_path = image_path.parent.parent / "seg_mask_labeled_combi" / image_path.name
        return GraspSample(
            image=read_rgb(image_path),
            grasps=parse_corner_file(_annotation_path(image_path)),
            name=self.relative(image_path),
            mask=read_label_mask(mask_path) if mask_path.exists() else None,
        )


def _annotation_path(image_path: Path) -> Path:
    return image_path.parent.parent / "Annotations" / (image_path.stem + ".txt")
