"""RViz markers for ranked grasps (the core types): per grasp an outline, its jaws and its score.

A grasp with a pose is drawn in 3D in the image's optical frame, at its metric size. A
grasp without one is drawn in the same frame on the plane z = 0 with pixels scaled by
``pixel_size_m`` (x right, y down, like the image), so 2D results still show up in RViz.
Every update starts with a DELETEALL so grasps from the previous frame never linger.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.overlay import score_colour
from vlm_grasp_ros.core.projection import GraspPose3D

NAMESPACE = "grasps"
MARKERS_PER_GRASP = 3  # outline, jaws, score text
OUTLINE_WIDTH_M, JAW_WIDTH_M, TEXT_HEIGHT_M = 0.002, 0.006, 0.015
OUTLINE_WIDTH_PX, JAW_WIDTH_PX, TEXT_HEIGHT_PX = 2.0, 6.0, 16.0


def _rotate(quaternion: tuple[float, float, float, float], vector: np.ndarray) -> np.ndarray:
    """Rotate a 3-vector by a unit quaternion (x, y, z, w)."""
    x, y, z, w = quaternion
    q = np.array([x, y, z])
    return vector + 2.0 * np.cross(q, np.cross(q, vector) + w * vector)


def grasp_frame_axes(
    grasp: Grasp, pose: GraspPose3D | None, pixel_size_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Centre, opening axis, across axis and the half sizes, in metres, for either kind of grasp."""
    if pose is not None:
        centre = np.array(pose.position)
        opening = _rotate(pose.orientation, np.array([1.0, 0.0, 0.0]))
        across = _rotate(pose.orientation, np.array([0.0, 1.0, 0.0]))
        return centre, opening, across, pose.width_m / 2.0, pose.height_m / 2.0
    centre = np.array([grasp.cx, grasp.cy, 0.0]) * pixel_size_m
    opening = np.array([math.cos(grasp.theta), -math.sin(grasp.theta), 0.0])
    across = np.array([math.sin(grasp.theta), math.cos(grasp.theta), 0.0])
    return centre, opening, across, grasp.width * pixel_size_m / 2.0, grasp.height * pixel_size_m / 2.0


def _points(*vectors: np.ndarray) -> list[Point]:
    return [Point(x=float(v[0]), y=float(v[1]), z=float(v[2])) for v in vectors]


def _marker(header: Header, marker_id: int, kind: int, colour: ColorRGBA) -> Marker:
    marker = Marker(header=header, ns=NAMESPACE, id=marker_id, type=kind, action=Marker.ADD, color=colour)
    marker.pose.orientation.w = 1.0
    return marker


def grasp_markers(
    header: Header,
    grasps: Sequence[Grasp],
    poses: Sequence[GraspPose3D | None] | None = None,
    pixel_size_m: float = 0.001,
) -> MarkerArray:
    """DELETEALL, then outline (LINE_STRIP), jaws (LINE_LIST) and score (TEXT) per grasp, in the
    given (ranked) order; ``poses`` (one per grasp, None where there is none) place them in 3D."""
    poses = poses if poses is not None else [None] * len(grasps)
    markers = [Marker(header=header, ns=NAMESPACE, action=Marker.DELETEALL)]
    for rank, (grasp, pose) in enumerate(zip(grasps, poses, strict=True)):
        r, g, b = score_colour(grasp.score)
        colour = ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=1.0)
        centre, opening, across, half_w, half_h = grasp_frame_axes(grasp, pose, pixel_size_m)
        metric = pose is not None
        a, b_ = opening * half_w, across * half_h
        corners = [centre + a + b_, centre + a - b_, centre - a - b_, centre - a + b_]

        outline = _marker(header, rank * MARKERS_PER_GRASP, Marker.LINE_STRIP, colour)
        outline.points = _points(*corners, corners[0])
        outline.scale.x = OUTLINE_WIDTH_M if metric else OUTLINE_WIDTH_PX * pixel_size_m

        jaws = _marker(header, rank * MARKERS_PER_GRASP + 1, Marker.LINE_LIST, colour)
        jaws.points = _points(corners[0], corners[1], corners[2], corners[3])
        jaws.scale.x = JAW_WIDTH_M if metric else JAW_WIDTH_PX * pixel_size_m

        text = _marker(header, rank * MARKERS_PER_GRASP + 2, Marker.TEXT_VIEW_FACING, colour)
        text.text = f"{rank + 1}: {grasp.score:.2f}"
        text_height = TEXT_HEIGHT_M if metric else TEXT_HEIGHT_PX * pixel_size_m
        # Above the grasp as seen from the camera: toward the camera (metric) or up the image (2D).
        lift = np.array([0.0, 0.0, -2.0 * text_height]) if metric else np.array([0.0, -half_h - text_height, 0.0])
        text.pose.position = _points(centre + lift)[0]
        text.scale.z = text_height
        markers += [outline, jaws, text]
    return MarkerArray(markers=markers)
