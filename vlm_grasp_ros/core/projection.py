"""From a planar grasp and an aligned depth image to a grasp pose in the camera's optical frame.

Frames follow REP 103 / REP 105 for cameras: the optical frame has x right, y down and z
forward along the optical axis, like image pixels. The grasp frame has its x axis along the
jaw opening, its z axis along the optical axis (the approach direction, into the scene) and
y = z cross x. An image angle ``theta`` (anti-clockwise as displayed) opens along
``(cos theta, -sin theta)`` in pixels, which is a turn of ``-theta`` about the optical axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vlm_grasp_ros.core.grasp import Grasp

#: Fewest valid depth pixels a patch needs before its median is trusted.
MIN_VALID_DEPTH_PIXELS = 5
#: Depths outside this range (metres) are treated as holes: no camera sees 10 km or 1 mm.
DEFAULT_DEPTH_RANGE_M = (0.05, 10.0)


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of a rectified image (``K`` or the ``P`` matrix of sensor_msgs/CameraInfo)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0) or self.width <= 0 or self.height <= 0:
            raise ValueError(f"invalid intrinsics: fx={self.fx} fy={self.fy} size {self.width}x{self.height}")

    def scaled_to(self, width: int, height: int) -> PinholeCamera:
        """The same camera for an image resized to ``width`` x ``height``."""
        sx, sy = width / self.width, height / self.height
        return PinholeCamera(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)

    def back_project(self, u: float, v: float, depth_m: float) -> np.ndarray:
        """The point (x, y, z) in metres seen at pixel (u, v) at depth ``depth_m``."""
        return np.array([(u - self.cx) * depth_m / self.fx, (v - self.cy) * depth_m / self.fy, depth_m])

    def project(self, point: np.ndarray) -> tuple[float, float]:
        """The pixel (u, v) of a point (x, y, z) in the optical frame."""
        x, y, z = (float(c) for c in point)
        return self.fx * x / z + self.cx, self.fy * y / z + self.cy


@dataclass(frozen=True)
class GraspPose3D:
    """A grasp's 3D part: position (m) and orientation (quaternion x, y, z, w) in the optical
    frame, and the jaw opening and jaw size in metres."""

    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float]
    width_m: float
    height_m: float


def patch_depth(
    depth_m: np.ndarray, u: float, v: float, radius: int, depth_range_m: tuple[float, float] = DEFAULT_DEPTH_RANGE_M
) -> float | None:
    """Median of the valid depths (finite, within ``depth_range_m``) in a square patch around
    (u, v), or None.

    The median ignores holes (0 or NaN, common at edges and on shiny surfaces) and the few
    pixels of background that fall inside the patch at an object's border.
    """
    height, width = depth_m.shape
    col, row = int(round(u)), int(round(v))
    if not (0 <= col < width and 0 <= row < height):
        return None
    patch = depth_m[max(0, row - radius) : row + radius + 1, max(0, col - radius) : col + radius + 1]
    low, high = depth_range_m
    valid = patch[np.isfinite(patch) & (patch >= low) & (patch <= high)]
    if valid.size < min(MIN_VALID_DEPTH_PIXELS, patch.size):
        return None
    return float(np.median(valid))


def grasp_depth(
    grasp: Grasp,
    depth_m: np.ndarray,
    image_size: tuple[int, int],
    depth_range_m: tuple[float, float] = DEFAULT_DEPTH_RANGE_M,
) -> float | None:
    """Robust depth at the grasp centre: a patch a quarter of the grasp's smaller side,
    doubled up to three times while it holds too few valid pixels."""
    image_width, image_height = image_size
    sx, sy = depth_m.shape[1] / image_width, depth_m.shape[0] / image_height
    u, v = grasp.cx * sx, grasp.cy * sy
    radius = max(1, int(0.25 * min(grasp.width * sx, grasp.height * sy)))
    for _ in range(4):
        depth = patch_depth(depth_m, u, v, radius, depth_range_m)
        if depth is not None:
            return depth
        radius *= 2
    return None


def grasp_pose(grasp: Grasp, depth_m: float, camera: PinholeCamera) -> GraspPose3D:
    """The 3D grasp at a known depth: centre back-projected, sizes from the back-projected jaws."""
    centre = camera.back_project(grasp.cx, grasp.cy, depth_m)
    (ox, oy), (ax, ay) = grasp.opening_axis, (math.sin(grasp.theta), math.cos(grasp.theta))
    half_w, half_h = grasp.width / 2.0, grasp.height / 2.0
    jaw_a = camera.back_project(grasp.cx + ox * half_w, grasp.cy + oy * half_w, depth_m)
    jaw_b = camera.back_project(grasp.cx - ox * half_w, grasp.cy - oy * half_w, depth_m)
    side_a = camera.back_project(grasp.cx + ax * half_h, grasp.cy + ay * half_h, depth_m)
    side_b = camera.back_project(grasp.cx - ax * half_h, grasp.cy - ay * half_h, depth_m)
    half_turn = -grasp.theta / 2.0  # a turn of -theta about z
    return GraspPose3D(
        position=(float(centre[0]), float(centre[1]), float(centre[2])),
        orientation=(0.0, 0.0, math.sin(half_turn), math.cos(half_turn)),
        width_m=float(np.linalg.norm(jaw_a - jaw_b)),
        height_m=float(np.linalg.norm(side_a - side_b)),
    )


def camera_problem(camera: PinholeCamera, image_size: tuple[int, int]) -> str | None:
    """Why these intrinsics cannot place grasps in an image of ``image_size``, or None."""
    values = (camera.fx, camera.fy, camera.cx, camera.cy)
    if not all(math.isfinite(v) for v in values):
        return f"camera intrinsics not finite: fx={camera.fx} fy={camera.fy} cx={camera.cx} cy={camera.cy}"
    if not (camera.cx > 0 and camera.cy > 0 and camera.cx < camera.width and camera.cy < camera.height):
        return f"principal point ({camera.cx}, {camera.cy}) outside the {camera.width}x{camera.height} image"
    if max(camera.fx, camera.fy) > 100 * max(camera.width, camera.height) or min(camera.fx, camera.fy) < 1.0:
        return (
            f"focal lengths fx={camera.fx:g} fy={camera.fy:g} px are absurd for a {camera.width}x{camera.height} image"
        )
    width, height = image_size
    if abs(camera.width * height - camera.height * width) > 0.01 * width * height:
        return f"camera_info is {camera.width}x{camera.height}, not the shape of the {width}x{height} image"
    return None


#: A depth image narrower than this cannot be registered to a camera frame in any useful way.
MIN_DEPTH_WIDTH_PX = 32


def depth_problem(depth_shape: tuple[int, ...], image_size: tuple[int, int]) -> str | None:
    """Why a depth image of ``depth_shape`` (rows, columns) cannot be read at the pixels of a
    colour image of ``image_size`` (width, height), or None. Another resolution is fine (an
    aligned depth stream at half size), another shape or a token size (1x1) is not."""
    if len(depth_shape) != 2:
        return f"depth image has shape {depth_shape}, expected rows x columns"
    rows, columns = depth_shape
    width, height = image_size
    if columns < MIN_DEPTH_WIDTH_PX or abs(columns * height - rows * width) > 0.01 * columns * height:
        return f"depth image is {columns}x{rows}, not registered to the {width}x{height} image (aligned depth needed)"
    return None


def grasp_poses_from_depth(
    grasps: list[Grasp],
    depth_m: np.ndarray,
    camera: PinholeCamera,
    image_size: tuple[int, int],
    depth_range_m: tuple[float, float] = DEFAULT_DEPTH_RANGE_M,
) -> list[GraspPose3D | None]:
    """One pose per grasp; None where the depth around the centre is all holes or out of range.

    ``camera`` describes the colour image (``image_size`` = its width, height; check it with
    :func:`camera_problem` first); the depth image must be registered to it (e.g. a RealSense
    ``aligned_depth_to_color``) and may have a different resolution.
    """
    camera = camera.scaled_to(*image_size) if (camera.width, camera.height) != tuple(image_size) else camera
    poses: list[GraspPose3D | None] = []
    for grasp in grasps:
        depth = grasp_depth(grasp, depth_m, image_size, depth_range_m)
        pose = None if depth is None else grasp_pose(grasp, depth, camera)
        finite = pose is not None and all(math.isfinite(v) for v in (*pose.position, pose.width_m, pose.height_m))
        poses.append(pose if finite else None)
    return poses
