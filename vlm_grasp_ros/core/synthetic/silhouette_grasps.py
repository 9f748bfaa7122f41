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

import cv2
import numpy as np

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.synthetic.shapes import jaw_height, opening_for

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


def silhouette_grasps(
    solid: np.ndarray,
    obstacles: np.ndarray,
    max_opening_px: float,
    *,
    angle_step_deg: float = 15.0,
    friction_deg: float = 25.0,
    row_step_px: float = 4.0,
    finger_px: float = FINGER_PX,
) -> list[Grasp]:
    """Antipodal grasps on the boolean silhouette ``solid`` (H, W) that fingers can reach without
    touching ``obstacles`` (H, W bool: every object's pixels, this one's included). Closing lines
    are ``row_step_px`` apart at every ``angle_step_deg``."""
    if solid.shape != obstacles.shape:
        raise ValueError(f"solid {solid.shape} and obstacles {obstacles.shape} differ in shape")
    ys, xs = np.nonzero(solid)
    if len(xs) < 4:
        return []
    centre = np.array([(xs.min() + xs.max()) / 2.0, (ys.min() + ys.max()) / 2.0])
    reach = 0.5 * math.hypot(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) + max_opening_px / 2 + finger_px + 2
    steps_along = np.arange(-reach, reach + 1.0)
    steps_across = np.arange(-reach, reach + 1.0, row_step_px)
    nx, ny = outward_normals(solid)
    solid_u8 = solid.astype(np.uint8)
    # Outside the image counts as blocked (border value 1): a finger there cannot be checked.
    blocked_u8 = obstacles.astype(np.uint8)
    cos_friction = math.cos(math.radians(friction_deg))
    grasps: list[Grasp] = []
    for angle_deg in np.arange(-90.0, 90.0, angle_step_deg):
        theta = math.radians(angle_deg)
        along = np.array([math.cos(theta), -math.sin(theta)])  # opening axis, as Grasp defines it
        across = np.array([math.sin(theta), math.cos(theta)])
        t, s = np.meshgrid(steps_along, steps_across)
        map_x = (centre[0] + t * along[0] + s * across[0]).astype(np.float32)
        map_y = (centre[1] + t * along[1] + s * across[1]).astype(np.float32)
        rows = cv2.remap(solid_u8, map_x, map_y, cv2.INTER_NEAREST, borderValue=0).astype(bool)
        # The normal's component along the closing direction at each sample.
        closing = (
            cv2.remap(nx, map_x, map_y, cv2.INTER_LINEAR) * along[0]
            + cv2.remap(ny, map_x, map_y, cv2.INTER_LINEAR) * along[1]
        )
        for row in np.flatnonzero(rows.any(axis=1)):
            grasps.extend(
                _row_grasps(
                    rows[row], closing[row], steps_across[row], theta, centre, along, across, blocked_u8,
                    max_opening_px, cos_friction, finger_px,
                )
            )  # fmt: skip
    return grasps


def _runs(line: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of each run of True in a 1-D boolean array."""
    padded = np.concatenate([[False], line, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _row_grasps(
    line: np.ndarray,
    closing: np.ndarray,
    offset: float,
    theta: float,
    centre: np.ndarray,
    along: np.ndarray,
    across: np.ndarray,
    blocked_u8: np.ndarray,
    max_opening_px: float,
    cos_friction: float,
    finger_px: float,
) -> list[Grasp]:
    reach = (len(line) - 1) / 2.0
    found = []
    for first, last in _runs(line):
        extent = float(last - first + 1)
        opening = opening_for(extent)
        if opening > max_opening_px:
            continue
        # Antipodal: the outline faces against the closing direction at the first contact and
        # with it at the last (normals sampled half a pixel outside the run, where the edge is).
        left = closing[max(first - 1, 0) : first + 1].min()
        right = closing[last : last + 2].max()
        if left > -cos_friction or right < cos_friction:
            continue
        middle = (first + last) / 2.0 - reach  # position along the closing line, from the centre
        jaw = jaw_height(opening)
        if not _fingers_free(middle, offset, opening, jaw, centre, along, across, blocked_u8, finger_px):
            continue
        point = centre + middle * along + offset * across
        found.append(Grasp(float(point[0]), float(point[1]), theta, opening, jaw))
    return found


def _fingers_free(
    middle: float,
    offset: float,
    opening: float,
    jaw: float,
    centre: np.ndarray,
    along: np.ndarray,
    across: np.ndarray,
    blocked_u8: np.ndarray,
    finger_px: float,
) -> bool:
    """Both fingers (``finger_px`` thick, ``jaw`` long, at +-opening/2) over free pixels only."""
    depth_steps = np.arange(0.0, finger_px + 0.5, 1.0)
    jaw_steps = np.arange(-jaw / 2, jaw / 2 + 0.5, 1.0)
    for side in (-1.0, 1.0):
        t = middle + side * (opening / 2 + depth_steps)
        tt, ss = np.meshgrid(t, offset + jaw_steps)
        map_x = (centre[0] + tt * along[0] + ss * across[0]).astype(np.float32)
        map_y = (centre[1] + tt * along[1] + ss * across[1]).astype(np.float32)
        if cv2.remap(blocked_u8, map_x, map_y, cv2.INTER_NEAREST, borderValue=1).any():
            return False
    return True
