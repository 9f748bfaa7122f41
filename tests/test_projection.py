"""Planar grasp + aligned depth -> pose in the optical frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.projection import PinholeCamera, grasp_depth, grasp_pose, grasp_poses_from_depth

CAMERA = PinholeCamera(fx=600.0, fy=600.0, cx=320.0, cy=240.0, width=640, height=480)


def test_pose_centre_projects_back_onto_the_grasp_and_sizes_are_metric() -> None:
    grasp = Grasp(cx=400.0, cy=100.0, theta=math.radians(30.0), width=60.0, height=30.0)
    pose = grasp_pose(grasp, 0.75, CAMERA)
    assert CAMERA.project(np.array(pose.position)) == pytest.approx((400.0, 100.0))
    assert pose.position[2] == 0.75
    assert pose.width_m == pytest.approx(60.0 * 0.75 / 600.0)
    assert pose.height_m == pytest.approx(30.0 * 0.75 / 600.0)
    # The grasp's x axis (the opening) rotated into the optical frame points along the image opening axis.
    qx, qy, qz, qw = pose.orientation
    angle = 2 * math.atan2(qz, qw)
    assert (qx, qy) == (0.0, 0.0)
    assert (math.cos(angle), math.sin(angle)) == pytest.approx(tuple(grasp.opening_axis))


def test_depth_at_the_centre_ignores_holes_and_background_pixels() -> None:
    depth = np.full((480, 640), 0.9, np.float32)  # table
    depth[200:280, 280:360] = 0.7  # object under the grasp
    depth[235:245, 315:325] = np.nan  # a hole right at the centre
    depth[238, 318] = 0.0
    grasp = Grasp(cx=320.0, cy=240.0, theta=0.0, width=70.0, height=35.0)
    assert grasp_depth(grasp, depth, (640, 480)) == pytest.approx(0.7)


def test_all_hole_depth_gives_no_pose_and_other_grasps_keep_theirs() -> None:
    depth = np.full((480, 640), np.nan, np.float32)
    depth[:, 320:] = 0.6
    grasps = [Grasp(100.0, 100.0, 0.0, 20.0, 10.0), Grasp(500.0, 100.0, 0.0, 20.0, 10.0)]
    poses = grasp_poses_from_depth(grasps, depth, CAMERA, (640, 480))
    assert poses[0] is None and poses[1] is not None and poses[1].position[2] == pytest.approx(0.6)


def test_a_lower_resolution_depth_and_camera_info_are_rescaled_to_the_image() -> None:
    depth = np.full((240, 320), 0.5, np.float32)  # half resolution, registered to the colour image
    half = PinholeCamera(fx=300.0, fy=300.0, cx=160.0, cy=120.0, width=320, height=240)
    grasp = Grasp(cx=480.0, cy=360.0, theta=0.0, width=40.0, height=20.0)
    pose = grasp_poses_from_depth([grasp], depth, half, (640, 480))[0]
    assert CAMERA.project(np.array(pose.position)) == pytest.approx((480.0, 360.0))
    assert pose.width_m == pytest.approx(40.0 * 0.5 / 600.0)


def test_invalid_intrinsics_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid intrinsics"):
        PinholeCamera(fx=0.0, fy=600.0, cx=1.0, cy=1.0, width=640, height=480)
