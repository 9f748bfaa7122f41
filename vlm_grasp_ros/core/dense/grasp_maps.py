"""The five per-pixel maps a dense grasp model predicts, and training targets from rectangles.

At each pixel: ``quality`` (is this a good grasp centre, 0..1), ``cos2``/``sin2`` (cos 2theta,
sin 2theta: the angle doubled so that theta and theta + 180 deg, the same grasp, agree),
``width`` (opening in pixels divided by ``width_scale``, so about 0..1) and ``mask`` (object
or not). Targets follow GG-CNN / GR-ConvNet: each labelled rectangle marks its centre third
(a third of the opening, the full jaw size) with quality 1 and its angle and width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vlm_grasp_ros.core.grasp import Grasp

MAP_NAMES = ("quality", "cos2", "sin2", "width", "mask")


@dataclass
class GraspMaps:
    """(H, W) float32 maps, in the image's pixels."""

    quality: np.ndarray
    cos2: np.ndarray
    sin2: np.ndarray
    width: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        shapes = {name: getattr(self, name).shape for name in MAP_NAMES}
        if len(set(shapes.values())) != 1 or len(self.quality.shape) != 2:
            raise ValueError(f"grasp maps must share one (H, W) shape, got {shapes}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.quality.shape

    def mirrored(self) -> GraspMaps:
        """The maps of the left-right mirrored image: columns reversed, and each angle theta becomes
        -theta (cos 2theta stays, sin 2theta changes sign)."""
        flip = (slice(None), slice(None, None, -1))
        return GraspMaps(
            self.quality[flip], self.cos2[flip], -self.sin2[flip], self.width[flip], self.mask[flip]
        ).contiguous()

    def averaged_with(self, other: GraspMaps) -> GraspMaps:
        """The mean of two predictions of one image, map by map (probabilities, not logits)."""
        return GraspMaps(*((getattr(self, name) + getattr(other, name)) * np.float32(0.5) for name in MAP_NAMES))

    def contiguous(self) -> GraspMaps:
        return GraspMaps(*(np.ascontiguousarray(getattr(self, name)) for name in MAP_NAMES))

    def stacked(self) -> np.ndarray:
        """(5, H, W) in MAP_NAMES order: the model's output layout."""
        return np.stack([getattr(self, name) for name in MAP_NAMES]).astype(np.float32)

    @classmethod
    def from_stacked(cls, maps: np.ndarray) -> GraspMaps:
        if maps.ndim != 3 or maps.shape[0] != len(MAP_NAMES):
            raise ValueError(f"expected ({len(MAP_NAMES)}, H, W) maps, got shape {maps.shape}")
        return cls(*(np.asarray(m, np.float32) for m in maps))


def _centre_third_polygon(grasp: Grasp) -> np.ndarray:
    third = Grasp(grasp.cx, grasp.cy, grasp.theta, grasp.width / 3.0, grasp.height, grasp.score)
    return np.asarray(third.corners(), np.float64)


def rasterize_grasps(
    grasps: Sequence[Grasp], shape: tuple[int, int], width_scale: float, object_mask: np.ndarray | None = None
) -> GraspMaps:
    """Training targets for one image; the object mask is the dataset's when given, else the
    union of the rectangles.

    Where rectangles overlap, the narrowest opening wins (ties: the later one). GG-CNN lets
    the later label win, but label order is arbitrary: at a box's centre the end-to-end and
    the across labels would then give the same pixel either angle from scene to scene, and the
    model learns their average, which is neither. The narrower grasp is the surer one."""
    height, width = shape
    quality = np.zeros(shape, np.float32)
    cos2 = np.ones(shape, np.float32)  # angle 0 where nothing is labelled: a defined, harmless target
    sin2 = np.zeros(shape, np.float32)
    opening = np.zeros(shape, np.float32)
    union = np.zeros(shape, np.uint8)
    region = np.zeros(shape, np.uint8)
    for grasp in sorted(grasps, key=lambda g: -g.width):  # stable: equal widths keep their order
        region[:] = 0
        # Sub-pixel corners: fillPoly with 4 fractional bits, so centres land where they should.
        cv2.fillPoly(region, [np.round(_centre_third_polygon(grasp) * 16).astype(np.int32)], 1, shift=4)
        inside = region.astype(bool)
        quality[inside] = 1.0
        cos2[inside] = math.cos(2.0 * grasp.theta)
        sin2[inside] = math.sin(2.0 * grasp.theta)
        opening[inside] = grasp.width / width_scale
        cv2.fillPoly(union, [np.round(np.asarray(grasp.corners()) * 16).astype(np.int32)], 1, shift=4)
    mask = (np.asarray(object_mask) > 0) if object_mask is not None else union.astype(bool)
    if mask.shape != (height, width):
        raise ValueError(f"object mask shape {mask.shape} does not match the image {(height, width)}")
    return GraspMaps(quality, cos2, sin2, opening, mask.astype(np.float32))
