"""Antipodal grasps of an object from its silhouette in the image, for scenes whose objects are
meshes (``bullet_scene.py``) rather than shapes with known geometry.

A parallel-jaw grasp at angle theta closes along a line of the image: the object's cross-section
on that line (a run of object pixels) is what the jaws squeeze. It is a label when
- the gripper opens that far (``opening_for`` the run, as every synthetic label),
- the outline's normals at both ends of the run lie inside the friction cone of the closing
  direction (antipodal: the contacts do not slip),
- both fingers come down on free space: nothing of any object under either finger over the jaw's
  whole size, and both inside the image.

No library computes planar antipodal grasps from a mask (Cornell's and Jacquard's labels were made
by people and by simulated trials), so this is written here on OpenCV's remap: each angle
resamples the masks into a frame whose rows are closing lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.synthetic.shapes import FRICTION_DEG, LABEL_ANGLE_STEP_DEG, jaw_height, opening_for

#: Finger thickness along the closing direction that must land on free space (px at 640 wide).
FINGER_PX = 3.0


def outward_normals(solid: np.ndarray, sigma_px: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """(nx, ny) unit outward normals of a boolean silhouette, from its smoothed gradient (0 where flat)."""
    smooth = cv2.GaussianBlur(solid.astype(np.float32), (0, 0), sigma_px)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    norm = np.hypot(gx, gy)
    safe = np.where(norm > 1e-4, norm, np.inf)
    return -gx / safe, -gy / safe


def remove_holes(mask: np.ndarray, height_m: np.ndarray, low_fraction: float = 0.4) -> np.ndarray:
    """The object's pixels without the inside of a cup, tray or basket: regions lower than
    ``low_fraction`` of the object's height that the silhouette's outline does not touch (a lying
    bottle's low flanks touch its outline and stay; a mug's floor does not). ``height_m``: each
    pixel's height above the support."""
    if not mask.any():
        return mask
    top = float(np.percentile(height_m[mask], 95))
    low = (mask & (height_m < low_fraction * top)).astype(np.uint8)
    count, labels = cv2.connectedComponents(low, connectivity=8)
    if count <= 1:
        return mask
    outline = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    touching = np.unique(labels[outline])
    holes = (labels > 0) & ~np.isin(labels, touching)
    return mask & ~holes


@dataclass(frozen=True)
class _ClosingLines:
    """Closing lines at one angle: image point = centre + t * along + s * across, where ``along``
    is the opening axis (as ``Grasp`` defines it) and ``s`` picks the line."""

    centre: np.ndarray
    along: np.ndarray
    across: np.ndarray

    @classmethod
    def at(cls, centre: np.ndarray, theta: float) -> _ClosingLines:
        return cls(centre, np.array([math.cos(theta), -math.sin(theta)]), np.array([math.sin(theta), math.cos(theta)]))

    def maps(self, t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``cv2.remap`` maps (x, y) of the points (t, s), float32."""
        map_x = self.centre[0] + t * self.along[0] + s * self.across[0]
        map_y = self.centre[1] + t * self.along[1] + s * self.across[1]
        return map_x.astype(np.float32), map_y.astype(np.float32)


def silhouette_grasps(
    solid: np.ndarray,
    obstacles: np.ndarray,
    max_opening_px: float,
    *,
    angle_step_deg: float = LABEL_ANGLE_STEP_DEG,
    friction_deg: float = FRICTION_DEG,
    row_step_px: float = 4.0,
    finger_px: float = FINGER_PX,
) -> list[Grasp]:
    """Antipodal grasps on the boolean silhouette ``solid`` (H, W) that fingers can reach without
    touching ``obstacles`` (H, W bool: what a finger may not come down on, ``solid`` included).
    Closing lines are ``row_step_px`` apart at every ``angle_step_deg``."""
    if solid.shape != obstacles.shape:
        raise ValueError(f"solid {solid.shape} and obstacles {obstacles.shape} differ in shape")
    ys, xs = np.nonzero(solid)
    if len(xs) < 4:
        return []
    centre = np.array([(xs.min() + xs.max()) / 2.0, (ys.min() + ys.max()) / 2.0])
    reach = 0.5 * math.hypot(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) + max_opening_px / 2 + finger_px + 2
    steps_across = np.arange(-reach, reach + 1.0, row_step_px)
    t, s = np.meshgrid(np.arange(-reach, reach + 1.0), steps_across)
    nx, ny = outward_normals(solid)
    solid_u8 = solid.astype(np.uint8)
    # Outside the image counts as blocked (border value 1): a finger there cannot be checked.
    blocked_u8 = obstacles.astype(np.uint8)
    cos_friction = math.cos(math.radians(friction_deg))
    grasps: list[Grasp] = []
    for angle_deg in np.arange(-90.0, 90.0, angle_step_deg):
        theta = math.radians(angle_deg)
        lines = _ClosingLines.at(centre, theta)
        map_x, map_y = lines.maps(t, s)
        rows = cv2.remap(solid_u8, map_x, map_y, cv2.INTER_NEAREST, borderValue=0).astype(bool)
        # The normal's component along the closing direction at each sample.
        closing = (
            cv2.remap(nx, map_x, map_y, cv2.INTER_LINEAR) * lines.along[0]
            + cv2.remap(ny, map_x, map_y, cv2.INTER_LINEAR) * lines.along[1]
        )
        for row in np.flatnonzero(rows.any(axis=1)):
            for first, last in _runs(rows[row]):
                grasp = _grasp_on_run(
                    first, last, closing[row], steps_across[row], theta, lines, blocked_u8,
                    max_opening_px, cos_friction, finger_px,
                )  # fmt: skip
                if grasp is not None:
                    grasps.append(grasp)
    return grasps


def fill_holes(solid: np.ndarray) -> np.ndarray:
    """``solid`` with every hole inside its outlines filled (a cup's inside, seen from above)."""
    contours, _ = cv2.findContours(solid.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(solid.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool) | solid


def body_grasps(solid: np.ndarray, obstacles: np.ndarray, max_opening_px: float) -> list[Grasp]:
    """Grasps round a hollow object's whole body, both fingers outside (a mug taken round its
    cup): antipodal grasps on the hole-filled silhouette whose closing line crosses the hole.
    ``silhouette_grasps`` on ``solid`` gives the rest (across a wall, a finger inside); a
    closing line that misses the hole would only repeat one of those."""
    body = fill_holes(solid)
    hole = body & ~solid
    if not hole.any():
        return []
    result = []
    for grasp in silhouette_grasps(body, obstacles, max_opening_px):  # fingers outside: the hole is moot
        along = np.arange(-grasp.width / 2, grasp.width / 2 + 0.5, 1.0)
        xs = np.round(grasp.cx + along * grasp.opening_axis[0]).astype(int)
        ys = np.round(grasp.cy + along * grasp.opening_axis[1]).astype(int)
        inside = (xs >= 0) & (xs < solid.shape[1]) & (ys >= 0) & (ys < solid.shape[0])
        if hole[ys[inside], xs[inside]].any():
            result.append(grasp)
    return result


def _runs(line: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of each run of True in a 1-D boolean array."""
    padded = np.concatenate([[False], line, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _grasp_on_run(
    first: int,
    last: int,
    closing: np.ndarray,
    offset: float,
    theta: float,
    lines: _ClosingLines,
    blocked_u8: np.ndarray,
    max_opening_px: float,
    cos_friction: float,
    finger_px: float,
) -> Grasp | None:
    """The grasp squeezing the run ``first``..``last`` of the line ``offset``, or None."""
    opening = opening_for(float(last - first + 1))
    if opening > max_opening_px:
        return None
    # Antipodal: the outline faces against the closing direction at the first contact and
    # with it at the last (normals sampled half a pixel outside the run, where the edge is).
    left = closing[max(first - 1, 0) : first + 1].min()
    right = closing[last : last + 2].max()
    if left > -cos_friction or right < cos_friction:
        return None
    middle = (first + last) / 2.0 - (len(closing) - 1) / 2.0  # along the line, from the centre
    jaw = jaw_height(opening)
    # Both fingers (finger_px thick, jaw long, at +-opening/2) over free pixels only.
    finger_depth = np.arange(0.0, finger_px + 0.5, 1.0)
    along_jaw = offset + np.arange(-jaw / 2, jaw / 2 + 0.5, 1.0)
    for side in (-1.0, 1.0):
        map_x, map_y = lines.maps(*np.meshgrid(middle + side * (opening / 2 + finger_depth), along_jaw))
        if cv2.remap(blocked_u8, map_x, map_y, cv2.INTER_NEAREST, borderValue=1).any():
            return None
    point = lines.centre + middle * lines.along + offset * lines.across
    return Grasp(float(point[0]), float(point[1]), theta, opening, jaw)
