"""RViz markers: structure, metric size of 3D grasps, pixel scale of 2D ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.projection import PinholeCamera, grasp_pose
from vlm_grasp_ros.ros.markers import grasp_markers

CAMERA = PinholeCamera(fx=600.0, fy=600.0, cx=320.0, cy=240.0, width=640, height=480)


def points(marker: Marker) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in marker.points])


def sorted_rows(array: np.ndarray) -> np.ndarray:
    """Rows in a fixed order, to compare corner sets whatever corner comes first."""
    return array[np.lexsort(array.T[::-1])]


def test_each_grasp_gets_outline_jaws_and_score_after_a_deleteall() -> None:
    grasps = [Grasp(100, 100, 0.3, 40, 20, score=0.9), Grasp(300, 200, -1.0, 30, 15, score=0.2)]
    markers = grasp_markers(Header(frame_id="cam"), grasps, pixel_size_m=0.001).markers
    assert markers[0].action == Marker.DELETEALL and len(markers) == 7
    assert all(m.header.frame_id == "cam" for m in markers)
    outline, jaws, text = markers[1:4]
    assert len(outline.points) == 5 and outline.points[0] == outline.points[-1]  # closed
    assert len(jaws.points) == 4 and text.text == "1: 0.90"
    assert outline.color.g > outline.color.r  # high score: green
    assert markers[4].color.r > markers[4].color.g  # low score: red
    # 2D grasp: pixel corners scaled into metres on z = 0.
    expected = np.array(grasps[0].corners()) * 0.001
    assert sorted_rows(points(outline)[:4, :2]) == pytest.approx(sorted_rows(expected), abs=1e-9)


def test_a_grasp_with_a_pose_is_drawn_at_its_metric_size_and_place() -> None:
    grasp = Grasp(400, 300, math.radians(40), 60, 30, score=0.7)
    pose = grasp_pose(grasp, 0.8, CAMERA)
    _, outline, jaws, _ = grasp_markers(Header(frame_id="cam"), [grasp], [pose]).markers
    corners = points(outline)[:4]
    assert corners.mean(axis=0) == pytest.approx(pose.position)
    jaw_a, jaw_b = points(jaws)[:2].mean(axis=0), points(jaws)[2:].mean(axis=0)
    assert np.linalg.norm(jaw_a - jaw_b) == pytest.approx(pose.width_m)
    # Each 3D corner projects onto the matching 2D corner.
    projected = np.array([CAMERA.project(c) for c in corners])
    assert sorted_rows(projected) == pytest.approx(sorted_rows(np.array(grasp.corners())), abs=1e-6)
