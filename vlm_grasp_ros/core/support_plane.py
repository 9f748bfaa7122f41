"""The surface objects stand on, fitted in the depth image, and the grasps that stand on it.

A colour model cannot always tell an object on the table from a pattern on the floor, a
poster on the wall or the table top itself; depth can. ``fit_support_plane`` finds the
support in the workspace by RANSAC (3-point hypotheses, refined by least squares on the
inliers): of the large planes parallel to the largest, the nearest the camera, so that a table
seen with more floor around it is still the support. ``grasps_on_support`` keeps the grasps
whose centre stands between a minimum and a maximum height above it. Grasps whose centre has
no valid depth are kept: a hole (shiny or dark objects give many) says nothing about where the
object is.

Written with numpy rather than Open3D's ``segment_plane``: Open3D is a 400 MB dependency for
these 40 lines, and the node needs only the plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.projection import DEFAULT_DEPTH_RANGE_M, PinholeCamera, grasp_depth


@dataclass(frozen=True)
class Plane:
    """``normal . p + offset = 0`` in the optical frame; the normal points toward the camera."""

    normal: np.ndarray
    offset: float
    inlier_share: float

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (m) of (N, 3) points above the plane, on the camera's side."""
        return points @ self.normal + self.offset


def _points(
    depth_m: np.ndarray, camera: PinholeCamera, region: tuple[int, int, int, int], depth_range_m: tuple[float, float],
    max_points: int, rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Up to ``max_points`` back-projected valid depth pixels inside ``region`` (x0, y0, x1, y1
    in depth pixels)."""
    x0, y0, x1, y1 = region

    def valid(depth: np.ndarray) -> np.ndarray:
        return np.isfinite(depth) & (depth >= depth_range_m[0]) & (depth <= depth_range_m[1])

    # Random pixels first: indexing every pixel of a 640x480 frame cost as much as the RANSAC.
    rows, cols = rng.integers(y0, y1, 4 * max_points), rng.integers(x0, x1, 4 * max_points)
    z = depth_m[rows, cols]
    usable = valid(z)
    if usable.sum() >= max_points:
        rows, cols, z = rows[usable][:max_points], cols[usable][:max_points], z[usable][:max_points].astype(np.float64)
    else:  # mostly holes: take every valid pixel
        rows, cols = np.mgrid[y0:y1, x0:x1]
        depth = depth_m[y0:y1, x0:x1]
        usable = valid(depth)
        rows, cols, z = rows[usable], cols[usable], depth[usable].astype(np.float64)
        if z.size > max_points:
            keep = rng.choice(z.size, max_points, replace=False)
            rows, cols, z = rows[keep], cols[keep], z[keep]
    return np.stack([(cols - camera.cx) * z / camera.fx, (rows - camera.cy) * z / camera.fy, z], axis=1)


def _ransac_plane(
    points: np.ndarray, inlier_distance_m: float, iterations: int, rng: np.random.Generator
) -> tuple[np.ndarray, float, np.ndarray] | None:
    """(unit normal facing the camera, offset, inlier flags) of the plane with the most points
    within ``inlier_distance_m``, refined by least squares on them; None if no plane is found."""
    samples = points[rng.integers(0, len(points), (iterations, 3))]
    normals = np.cross(samples[:, 1] - samples[:, 0], samples[:, 2] - samples[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    usable = lengths > 1e-9  # three points on a line give no plane
    normals = normals[usable] / lengths[usable, None]
    offsets = -np.einsum("ij,ij->i", normals, samples[usable, 0])
    counts = (np.abs(points @ normals.T + offsets) < inlier_distance_m).sum(axis=0)
    if counts.size == 0:
        return None
    best = int(np.argmax(counts))
    inliers = np.abs(points @ normals[best] + offsets[best]) < inlier_distance_m
    centroid = points[inliers].mean(axis=0)
    normal = np.linalg.svd(points[inliers] - centroid, full_matrices=False)[2][-1]  # least-squares refit
    if normal @ centroid > 0:  # face the camera (at the origin)
        normal = -normal
    return normal, float(-normal @ centroid), np.abs(points @ normal - normal @ centroid) < inlier_distance_m


def fit_support_plane(
    depth_m: np.ndarray,
    camera: PinholeCamera,
    region: tuple[int, int, int, int] | None = None,
    inlier_distance_m: float = 0.01,
    iterations: int = 150,
    max_points: int = 3000,
    depth_range_m: tuple[float, float] = DEFAULT_DEPTH_RANGE_M,
    seed: int = 0,
    min_share: float = 0.15,
    max_tilt_deg: float = 10.0,
) -> Plane | None:
    """The surface objects stand on, inside ``region`` (x0, y0, x1, y1 in depth pixels; the whole
    image when None), or None with fewer than 100 valid pixels. ``camera`` must describe the depth
    image (scale it with ``scaled_to`` first).

    The largest plane is not always the support: a camera on a mobile base sees more floor than
    table. So up to three planes are fitted in turn (each on the points the ones before left), and
    of those holding at least ``min_share`` of the points and within ``max_tilt_deg`` of the
    largest's orientation (a wall is not a support), the one nearest the camera is the support:
    the table above the floor."""
    rng = np.random.default_rng(seed)
    height, width = depth_m.shape
    points = _points(depth_m, camera, region or (0, 0, width, height), depth_range_m, max_points, rng)
    if len(points) < 100:
        return None
    found = _ransac_plane(points, inlier_distance_m, iterations, rng)
    if found is None:
        return None
    candidates = [(found[0], found[1], float(found[2].mean()))]
    remaining = points[~found[2]]
    for _ in range(2):
        if len(remaining) < min_share * len(points) or len(remaining) < 3:
            break
        found = _ransac_plane(remaining, inlier_distance_m, iterations, rng)
        if found is None or found[2].sum() < min_share * len(points):
            break
        candidates.append((found[0], found[1], float(found[2].sum() / len(points))))
        remaining = remaining[~found[2]]
    largest_normal = candidates[0][0]
    parallel = [c for c in candidates if c[0] @ largest_normal >= np.cos(np.radians(max_tilt_deg))]
    normal, offset, share = min(parallel, key=lambda c: c[1])  # offset: the camera's distance to the plane
    return Plane(normal, offset, share)


def grasps_on_support(
    grasps: list[Grasp],
    depth_m: np.ndarray,
    camera: PinholeCamera,
    plane: Plane,
    image_size: tuple[int, int],
    height_range_m: tuple[float, float],
    depth_range_m: tuple[float, float] = DEFAULT_DEPTH_RANGE_M,
) -> tuple[list[Grasp], int]:
    """The grasps (order kept) whose centre is ``height_range_m`` above the plane, or has no
    valid depth; and how many were dropped. ``camera`` describes the colour image."""
    camera = camera.scaled_to(*image_size) if (camera.width, camera.height) != tuple(image_size) else camera
    kept = []
    for grasp in grasps:
        depth = grasp_depth(grasp, depth_m, image_size, depth_range_m)
        if depth is None:
            kept.append(grasp)
            continue
        above = float(plane.height(camera.back_project(grasp.cx, grasp.cy, depth)[None])[0])
        if height_range_m[0] <= above <= height_range_m[1]:
            kept.append(grasp)
    return kept, len(grasps) - len(kept)
