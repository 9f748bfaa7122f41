"""Jacquard layout: ``<i>_<id>_RGB.png``, ``_mask.png``, ``_grasps.txt`` and depth TIFFs.

Each grasps line is ``x;y;theta;opening;jaw`` in pixels and degrees. Jacquard's angle runs
the other way round from this package's convention (see ``core/grasp.py``), so it is negated
on reading and on writing. The synthetic generator writes this layout too, with two files
beside that Jacquard lacks: ``_objects.txt`` (line k names what mask label k is: "pen", "mug")
and, for camera views, ``_camera.txt`` (one line ``fx fy cx cy``, the image's intrinsics in
pixels, the principal point in ROS's convention: pixel centres at integers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from vlm_grasp_ros.core.datasets.base import GraspDataset, parse_float_fields
from vlm_grasp_ros.core.datasets.sample import (
    DatasetFormatError,
    GraspSample,
    read_depth_metres,
    read_label_mask,
    read_rgb,
    text_lines,
)
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.projection import PinholeCamera

RGB_SUFFIX = "_RGB.png"
DEPTH_SUFFIXES = ("_perfect_depth.tiff", "_stereo_depth.tiff")
OBJECTS_SUFFIX = "_objects.txt"
CAMERA_SUFFIX = "_camera.txt"


class JacquardDataset(GraspDataset[Path]):
    name = "jacquard"
    expected_layout = "<i>_<id>_RGB.png images with <i>_<id>_grasps.txt beside them (any folder depth)"

    def _index(self) -> list[Path]:
        return sorted(p for p in self.root.rglob(f"*{RGB_SUFFIX}") if _sibling(p, "_grasps.txt").exists())

    def _load(self, image_path: Path) -> GraspSample:
        mask_path = _sibling(image_path, "_mask.png")
        depth_path = next((p for p in (_sibling(image_path, s) for s in DEPTH_SUFFIXES) if p.exists()), None)
        kinds_path = _sibling(image_path, OBJECTS_SUFFIX)
        camera_path = _sibling(image_path, CAMERA_SUFFIX)
        image = read_rgb(image_path)
        return GraspSample(
            image=image,
            grasps=read_jacquard_grasps(_sibling(image_path, "_grasps.txt")),
            name=self.relative(image_path),
            mask=read_label_mask(mask_path) if mask_path.exists() else None,
            depth=read_depth_metres(depth_path, 1.0) if depth_path else None,
            object_kinds=read_object_kinds(kinds_path) if kinds_path.exists() else None,
            camera=read_camera(camera_path, image.shape[1], image.shape[0]) if camera_path.exists() else None,
        )


def _sibling(image_path: Path, suffix: str) -> Path:
    return image_path.with_name(image_path.name[: -len(RGB_SUFFIX)] + suffix)


def read_jacquard_grasps(path: Path) -> list[Grasp]:
    grasps = []
    for line_number, line in text_lines(path):
        if not line.strip():
            continue
        x, y, theta_deg, opening, jaw = parse_float_fields(path, line, line_number, 5, ";")
        if opening < 0 or jaw < 0:
            raise DatasetFormatError(
                path, f"opening and jaw size must be >= 0, got {opening:g} and {jaw:g}", line_number
            )
        grasps.append(Grasp(cx=x, cy=y, theta=math.radians(-theta_deg), width=opening, height=jaw))
    return grasps


def format_jacquard_grasps(grasps: Iterable[Grasp]) -> str:
    """The inverse of :func:`read_jacquard_grasps` (angle negated back to Jacquard's sense)."""
    return "".join(f"{g.cx:.3f};{g.cy:.3f};{-g.theta_deg:.3f};{g.width:.3f};{g.height:.3f}\n" for g in grasps)


def read_object_kinds(path: Path) -> tuple[str, ...]:
    """One name per line, line k for mask label k; a name is one word of letters, digits and ``_``."""
    kinds = []
    for line_number, line in text_lines(path):
        kind = line.strip()
        if not kind.replace("_", "").isalnum():
            raise DatasetFormatError(path, f"expected one object name (letters, digits, _), got {line!r}", line_number)
        kinds.append(kind)
    return tuple(kinds)


def format_object_kinds(kinds: Iterable[str]) -> str:
    return "".join(f"{kind}\n" for kind in kinds)


def read_camera(path: Path, width: int, height: int) -> PinholeCamera:
    """``fx fy cx cy`` on one line: the intrinsics of a ``width`` x ``height`` image."""
    lines = [(number, line) for number, line in text_lines(path) if line.strip()]
    if len(lines) != 1:
        raise DatasetFormatError(path, f"expected one line 'fx fy cx cy', got {len(lines)} lines")
    number, line = lines[0]
    fx, fy, cx, cy = parse_float_fields(path, line, number, 4, None)
    try:
        return PinholeCamera(fx, fy, cx, cy, width, height)
    except ValueError as error:
        raise DatasetFormatError(path, str(error), number) from None


def format_camera(camera: PinholeCamera) -> str:
    return f"{camera.fx:.6f} {camera.fy:.6f} {camera.cx:.6f} {camera.cy:.6f}\n"
