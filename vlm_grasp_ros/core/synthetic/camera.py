"""A pinhole camera looking down at a support plane, and what it needs to draw a scene: the
world ray through every pixel, and plane-to-image homographies for textures and labels.

World frame: z up, the support surface (table top or floor) at z = 0. Camera frame: the
optical convention (x right, y down, z forward). Each ray is scaled so that its camera-frame
z is 1, so a hit at ray parameter t lies at depth t: the depth image is t itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.projection import PinholeCamera
from vlm_grasp_ros.core.synthetic.shapes import jaw_height


@dataclass(frozen=True)
class PlaneCamera:
    intrinsics: np.ndarray  # (3, 3) K
    rotation: np.ndarray  # (3, 3) world -> camera (rows: the camera's x, y, z axes in the world)
    position: np.ndarray  # (3,) the camera centre in the world
    width: int
    height: int

    @classmethod
    def looking_at(
        cls, target: np.ndarray, height_m: float, tilt: float, yaw: float, focal_px: float, width: int, height: int
    ) -> PlaneCamera:
        """A camera ``height_m`` above the plane, tilted ``tilt`` radians from straight down toward
        the horizontal direction ``yaw``, its optical axis through ``target`` (on z = 0)."""
        forward = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        position = target - forward * height_m * math.tan(tilt) + np.array([0.0, 0.0, height_m])
        z_axis = (target - position) / np.linalg.norm(target - position)
        x_axis = np.array([math.sin(yaw), -math.cos(yaw), 0.0])  # horizontal, so the horizon stays level
        y_axis = np.cross(z_axis, x_axis)
        intrinsics = np.array([[focal_px, 0, width / 2 - 0.5], [0, focal_px, height / 2 - 0.5], [0, 0, 1]])
        return cls(intrinsics, np.stack([x_axis, y_axis, z_axis]), position, width, height)

    def pinhole(self) -> PinholeCamera:
        """The intrinsics alone, as a camera driver publishes them."""
        k = self.intrinsics
        return PinholeCamera(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), self.width, self.height)

    @property
    def forward(self) -> np.ndarray:
        """The optical axis's horizontal direction (unit), toward the far side of the image."""
        horizontal = self.rotation[2] * np.array([1.0, 1.0, 0.0])
        norm = np.linalg.norm(horizontal)
        return horizontal / norm if norm > 1e-9 else -self.rotation[1]

    def rays(self, step: int = 1) -> np.ndarray:
        """(H/step, W/step, 3) world directions through pixel centres, camera z component 1."""
        us, vs = np.meshgrid(np.arange(0, self.width, step), np.arange(0, self.height, step))
        pixels = np.stack([us, vs, np.ones_like(us)], axis=-1).astype(np.float64)
        in_camera = pixels @ np.linalg.inv(self.intrinsics).T
        return in_camera @ self.rotation  # row vectors: d_world = R^T d_camera

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 2) pixels."""
        camera = (points - self.position) @ self.rotation.T
        pixels = camera @ self.intrinsics.T
        return pixels[:, :2] / pixels[:, 2:3]

    def plane_homography(self, origin: np.ndarray, axis_u: np.ndarray, axis_v: np.ndarray) -> np.ndarray:
        """3x3 map from texture pixels (u, v) of a plane, where pixel (u, v) lies at
        ``origin + u * axis_u + v * axis_v`` (axes carry the metres per pixel), to image pixels."""
        basis = np.stack([axis_u, axis_v, origin - self.position], axis=1)
        return self.intrinsics @ self.rotation @ basis


def apply_homography(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points through a 3x3 homography."""
    mapped = np.c_[points, np.ones(len(points))] @ homography.T
    return mapped[:, :2] / mapped[:, 2:3]


def project_grasp(grasp: Grasp, homography: np.ndarray) -> Grasp:
    """A grasp drawn on a plane, as the image shows it: the centre and the two jaw tips go
    through the homography; the jaw size follows the labels' rule from the new opening."""
    half = grasp.opening_axis * grasp.width / 2
    centre = np.array([grasp.cx, grasp.cy])
    mapped = apply_homography(homography, np.stack([centre, centre + half, centre - half]))
    axis = mapped[1] - mapped[2]
    opening = float(np.linalg.norm(axis))
    theta = math.atan2(-axis[1], axis[0])  # image y points down, angles count up
    return Grasp(float(mapped[0, 0]), float(mapped[0, 1]), theta, opening, jaw_height(opening))
