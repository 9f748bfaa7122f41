"""The one planar grasp type and its geometry.

Conventions (shared by every dataset loader, model, metric and ROS message):

* Image pixels, x to the right, y down, origin at the top-left corner of the image.
* ``theta`` (radians) is the angle of the jaw-opening axis, positive anti-clockwise *as
  displayed*, i.e. turning from the +x axis toward the top of the image. In pixel
  coordinates the opening axis is therefore ``(cos theta, -sin theta)``.
* A rectangle turned by 180 degrees is the same grasp, so angles live modulo pi and are
  normalised to ``[-pi/2, pi/2)``.
* ``width`` is the jaw opening measured along the opening axis, ``height`` the jaw (finger)
  size across it, both in pixels.
* The 4-corner polygon follows Cornell's order: the first edge (corner 0 -> 1) runs along
  the jaw-opening axis, the second (1 -> 2) across it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from shapely.geometry import Polygon

#: The rectangle metric's thresholds (Cornell/Jacquard, GG-CNN and GR-ConvNet code).
HIT_IOU_THRESHOLD = 0.25
HIT_ANGLE_THRESHOLD_DEG = 30.0


def normalize_angle(theta: float) -> float:
    """Map an angle in radians to ``[-pi/2, pi/2)`` modulo pi."""
    wrapped = (theta + math.pi / 2) % math.pi - math.pi / 2
    # Floating point can land exactly on +pi/2 for inputs just below -pi/2.
    return -math.pi / 2 if wrapped >= math.pi / 2 else wrapped


def angle_difference(a: float, b: float) -> float:
    """Absolute difference of two grasp angles in radians, modulo pi, in ``[0, pi/2]``."""
    return abs((a - b + math.pi / 2) % math.pi - math.pi / 2)


@dataclass(frozen=True)
class Grasp:
    """An oriented grasp rectangle in image pixels (see the module docstring for axes)."""

    cx: float
    cy: float
    theta: float
    width: float
    height: float
    score: float = 1.0

    def __post_init__(self) -> None:
        values = (self.cx, self.cy, self.theta, self.width, self.height, self.score)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"grasp values must be finite, got {self}")
        if self.width < 0 or self.height < 0:
            raise ValueError(f"grasp width and height must be >= 0, got {self}")
        object.__setattr__(self, "theta", normalize_angle(self.theta))

    @property
    def theta_deg(self) -> float:
        """The angle in degrees, in ``[-90, 90)``."""
        return math.degrees(self.theta)

    @property
    def opening_axis(self) -> np.ndarray:
        """Unit vector of the jaw-opening axis in pixel coordinates (x right, y down)."""
        return np.array([math.cos(self.theta), -math.sin(self.theta)])

    def with_score(self, score: float) -> Grasp:
        return replace(self, score=score)

    def corners(self) -> np.ndarray:
        """The rectangle's corners as a (4, 2) array of (x, y), in Cornell order."""
        along = self.opening_axis * (self.width / 2)
        # The across-axis: the opening axis turned by 90 degrees in the image plane.
        across = np.array([math.sin(self.theta), math.cos(self.theta)]) * (self.height / 2)
        center = np.array([self.cx, self.cy])
        return np.stack(
            [center - along - across, center + along - across, center + along + across, center - along + across]
        )

    @classmethod
    def from_corners(cls, corners: Sequence[Sequence[float]] | np.ndarray, score: float = 1.0) -> Grasp:
        """Build a grasp from four (x, y) corners in Cornell order.

        The first edge gives the angle and the opening width, the second the jaw height; the
        centre is the mean of the corners. Raises ``ValueError`` for anything but 4 finite points.
        """
        points = np.asarray(corners, dtype=float)
        if points.shape != (4, 2):
            raise ValueError(f"a grasp rectangle needs 4 (x, y) corners, got shape {points.shape}")
        if not np.all(np.isfinite(points)):
            raise ValueError("grasp rectangle corners must be finite")
        dx, dy = points[1] - points[0]
        center = points.mean(axis=0)
        return cls(
            cx=float(center[0]),
            cy=float(center[1]),
            theta=math.atan2(-dy, dx),
            width=float(math.hypot(dx, dy)),
            height=float(np.linalg.norm(points[2] - points[1])),
            score=score,
        )

    def polygon(self) -> Polygon:
        return Polygon(self.corners())

    def iou(self, other: Grasp) -> float:
        """Exact intersection over union of the two rectangles (shapely polygons)."""
        a, b = self.polygon(), other.polygon()
        union = a.union(b).area
        return 0.0 if union <= 0 else float(a.intersection(b).area / union)

    def angle_difference(self, other: Grasp) -> float:
        return angle_difference(self.theta, other.theta)

    def is_hit(
        self,
        ground_truth: Iterable[Grasp],
        iou_threshold: float = HIT_IOU_THRESHOLD,
        angle_threshold_deg: float = HIT_ANGLE_THRESHOLD_DEG,
    ) -> bool:
        """The rectangle metric: IoU > 0.25 and angle difference < 30 degrees with *any* label."""
        max_angle = math.radians(angle_threshold_deg)
        return any(self.angle_difference(gt) < max_angle and self.iou(gt) > iou_threshold for gt in ground_truth)


def sort_by_score(grasps: Iterable[Grasp]) -> list[Grasp]:
    """Grasps ordered best first (the order every message and file uses)."""
    return sorted(grasps, key=lambda g: g.score, reverse=True)
