"""The core pipeline without DDS: threshold and count, backend failures, and poses from depth
(locate_grasps, as the node calls it) with every way the depth or the intrinsics can be unusable."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.pipeline import BackendError, GraspPipeline, GraspRequest, keep_grasps_on_support, locate_grasps
from vlm_grasp_ros.core.predictors.base import GraspPredictor, GraspQuery
from vlm_grasp_ros.core.projection import GraspPose3D, PinholeCamera
from vlm_grasp_ros.core.support_plane import fit_support_plane

CAMERA = PinholeCamera(fx=600.0, fy=600.0, cx=320.0, cy=240.0, width=640, height=480)
RGB = np.zeros((480, 640, 3), np.uint8)


class ScriptedPredictor(GraspPredictor):
    """Answers with fixed grasps (in the given order, as a backend ranks them), or raises."""

    name = "scripted"

    def __init__(self, grasps: list[Grasp], error: Exception | None = None) -> None:
        self.grasps, self.error = grasps, error
        self.queries: list[GraspQuery] = []

    def _predict(self, image: np.ndarray, query: GraspQuery) -> list[Grasp]:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        return self.grasps[: query.max_grasps]


def grasp_at(x: float, y: float, score: float) -> Grasp:
    return Grasp(x, y, 0.0, 60.0, 30.0, score)


def locate(
    grasps: list[Grasp], depth: np.ndarray, camera: PinholeCamera = CAMERA, request: GraspRequest = GraspRequest()
) -> tuple[list[GraspPose3D | None], list[str]]:
    """Poses for grasps on the 640x480 colour image, as the node places them after inference."""
    return locate_grasps(grasps, depth, camera, (640, 480), request)


def test_score_threshold_and_max_grasps_filter_without_reordering() -> None:
    ranked = [grasp_at(100, 100, 0.9), grasp_at(200, 100, 0.6), grasp_at(300, 100, 0.3), grasp_at(400, 100, 0.55)]
    pipeline = GraspPipeline(ScriptedPredictor(ranked))
    grasps, _ = pipeline.predict(RGB, GraspRequest(score_threshold=0.5))
    assert [g.score for g in grasps] == [0.9, 0.6, 0.55]  # 0.3 dropped; the backend's order kept
    grasps, _ = pipeline.predict(RGB, GraspRequest(score_threshold=0.5, max_grasps=2))
    assert [g.score for g in grasps] == [0.9, 0.6]
    grasps, _ = pipeline.predict(RGB, GraspRequest(score_threshold=0.95))
    assert grasps == []


def test_the_prompt_and_count_reach_the_backend() -> None:
    predictor = ScriptedPredictor([grasp_at(100, 100, 0.9)])
    GraspPipeline(predictor).predict(RGB, GraspRequest(max_grasps=3, prompt="the red mug"))
    GraspPipeline(predictor).predict(RGB, GraspRequest(max_grasps=3, prompt=""))
    assert [(q.prompt, q.max_grasps) for q in predictor.queries] == [("the red mug", 3), (None, 3)]


def test_a_backend_exception_becomes_a_backend_error_naming_the_backend() -> None:
    pipeline = GraspPipeline(ScriptedPredictor([], RuntimeError("CUDA error: illegal memory access")))
    with pytest.raises(BackendError, match="backend 'scripted' failed: RuntimeError: CUDA error: illegal memory"):
        pipeline.predict(RGB, GraspRequest())


def test_flat_depth_places_each_grasp_where_it_projects() -> None:
    grasps = [grasp_at(100, 120, 0.9), grasp_at(500, 300, 0.8)]
    depth = np.full((480, 640), 0.75, np.float32)
    poses, problems = locate(grasps, depth)
    assert problems == []
    for grasp, pose in zip(grasps, poses):
        assert pose is not None
        x, y, z = pose.position
        assert z == pytest.approx(0.75)
        assert (CAMERA.fx * x / z + CAMERA.cx, CAMERA.fy * y / z + CAMERA.cy) == pytest.approx((grasp.cx, grasp.cy))
        assert pose.width_m == pytest.approx(grasp.width * 0.75 / CAMERA.fx)


@pytest.mark.parametrize(
    "camera, problem",
    [
        (PinholeCamera(600.0, 600.0, math.nan, 240.0, 640, 480), "camera intrinsics not finite"),
        (PinholeCamera(600.0, 600.0, 900.0, 240.0, 640, 480), "principal point (900.0, 240.0) outside"),
        (PinholeCamera(1e-300, 600.0, 320.0, 240.0, 640, 480), "focal lengths fx=1e-300"),
        (PinholeCamera(600.0, 600.0, 320.0, 240.0, 640, 640), "camera_info is 640x640, not the shape of the 640x480"),
        (PinholeCamera(600.0, 600.0, 320.0, 240.0, 2**32 - 1, 480), "camera_info is 4294967295x480, not the shape"),
    ],
)
def test_unusable_intrinsics_leave_every_pose_out_and_say_why(camera: PinholeCamera, problem: str) -> None:
    depth = np.full((480, 640), 0.75, np.float32)
    poses, problems = locate([grasp_at(100, 120, 0.9)], depth, camera)
    assert poses == [None] and len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize("fill", [math.nan, 0.0, -1.0, 1e30, 0.01])
def test_depth_outside_the_range_gives_no_pose(fill: float) -> None:
    depth = np.full((480, 640), fill, np.float32)
    poses, problems = locate([grasp_at(100, 120, 0.9)], depth)
    assert poses == [None]
    assert problems == ["1 of 1 grasps without a pose: no depth within [0.05, 10] m at their centres"]


def test_holes_under_one_grasp_leave_only_that_pose_out() -> None:
    depth = np.full((480, 640), 0.75, np.float32)
    depth[40:200, 20:180] = 0.0  # a hole wider than the widest patch around the first grasp only
    grasps = [grasp_at(100, 120, 0.9), grasp_at(500, 300, 0.8)]
    request = GraspRequest(min_depth_m=0.3, max_depth_m=2.0)
    poses, problems = locate(grasps, depth, request=request)
    assert poses[0] is None and poses[1] is not None
    assert problems == ["1 of 2 grasps without a pose: no depth within [0.3, 2] m at their centres"]


@pytest.mark.parametrize(
    "shape, problem",
    [
        ((1, 1), "depth image is 1x1, not registered to the 640x480 image"),
        ((480, 848), "depth image is 848x480, not registered"),
        ((480, 640, 3), "depth image has shape (480, 640, 3)"),
    ],
)
def test_a_depth_image_of_another_shape_gives_no_pose(shape: tuple[int, ...], problem: str) -> None:
    depth = np.full(shape, 0.75, np.float32)
    poses, problems = locate([grasp_at(100, 120, 0.9)], depth)
    assert poses == [None] and len(problems) == 1 and problem in problems[0]


def test_an_aligned_depth_image_at_half_resolution_is_read_at_the_right_pixels() -> None:
    depth = np.full((240, 320), 0.75, np.float32)
    depth[:, 160:] = 1.5  # the right half is further away
    grasps = [grasp_at(100, 120, 0.9), grasp_at(500, 300, 0.8)]
    poses, problems = locate(grasps, depth)
    assert problems == []
    assert [pose.position[2] for pose in poses if pose is not None] == pytest.approx([0.75, 1.5])


class ShapeRecorder(ScriptedPredictor):
    def _predict(self, image: np.ndarray, query: GraspQuery) -> list[Grasp]:
        self.shapes = getattr(self, "shapes", []) + [image.shape]
        return super()._predict(image, query)


def test_the_workspace_crop_is_all_the_model_sees_and_grasps_come_back_in_image_pixels() -> None:
    predictor = ShapeRecorder([grasp_at(10, 20, 0.9)])
    grasps, _ = GraspPipeline(predictor).predict(RGB, GraspRequest(workspace=(0.25, 0.5, 0.75, 1.0)))
    assert predictor.shapes == [(240, 320, 3)]
    assert (grasps[0].cx, grasps[0].cy) == (170, 260)
    GraspPipeline(predictor).warm_up(640, 480, workspace=(0.25, 0.5, 0.75, 1.0))
    assert predictor.shapes[-1] == (240, 320, 3)  # the model is warmed at the size frames will have
    with pytest.raises(ValueError, match="workspace"):
        GraspRequest(workspace=(0.5, 0.0, 0.4, 1.0))


def tilted_table_depth(camera: PinholeCamera = CAMERA, floor_rows: int = 60) -> np.ndarray:
    """Depth of a table seen 30 degrees from straight down, 0.7 m away at the image centre, with
    a 6 cm box standing on it at (320, 300) and the floor 0.75 m below it in the top ``floor_rows``."""
    tilt = math.radians(30)
    normal = np.array([0.0, -math.sin(tilt), -math.cos(tilt)])  # the table's up, in the optical frame
    offset = 0.7 * math.cos(tilt)  # n . p + offset = 0 on the table
    rows, cols = np.mgrid[0:480, 0:640]
    rays = np.stack([(cols - camera.cx) / camera.fx, (rows - camera.cy) / camera.fy, np.ones((480, 640))], -1)

    def plane_depth(height: float) -> np.ndarray:
        return (height - offset) / (rays @ normal)

    depth = plane_depth(0.0)
    box = (np.abs(cols - 320) < 30) & (np.abs(rows - 300) < 30)
    depth[box] = plane_depth(0.06)[box]
    depth[:floor_rows] = plane_depth(-0.75)[:floor_rows]
    depth[200:330, 40:170] = np.nan  # a hole, as a shiny object gives
    return depth.astype(np.float32)


def test_the_support_is_the_table_even_where_the_camera_sees_more_floor_than_table() -> None:
    """A mobile base's view: the floor is the largest plane, the table above it is the support."""
    depth = tilted_table_depth(floor_rows=280)  # 58% floor, the table below it in the image
    plane = fit_support_plane(depth, CAMERA)
    assert plane is not None and 0.2 < plane.inlier_share < 0.5
    assert plane.normal @ np.array([0.0, -0.5, -math.sqrt(3) / 2]) > 0.999
    assert plane.offset == pytest.approx(0.7 * math.cos(math.radians(30)), abs=0.005)  # the table, not the floor
    grasps = [grasp_at(320, 300, 0.9), grasp_at(320, 100, 0.8), grasp_at(500, 400, 0.7)]  # box, floor, table
    kept, _ = keep_grasps_on_support(grasps, depth, CAMERA, (640, 480), GraspRequest(support_height_m=(0.004, 0.5)))
    assert [g.score for g in kept] == [0.9]


def test_the_support_plane_is_the_table_and_only_grasps_standing_on_it_pass() -> None:
    depth = tilted_table_depth()
    plane = fit_support_plane(depth, CAMERA)
    assert plane is not None and plane.inlier_share > 0.6
    assert plane.normal @ np.array([0.0, -0.5, -math.sqrt(3) / 2]) > 0.999
    grasps = [grasp_at(320, 300, 0.9), grasp_at(500, 400, 0.8), grasp_at(320, 20, 0.7), grasp_at(105, 265, 0.6)]
    request = GraspRequest(support_height_m=(0.004, 0.5))
    kept, problems = keep_grasps_on_support(grasps, depth, CAMERA, (640, 480), request)
    assert [g.score for g in kept] == [0.9, 0.6]  # the box; the hole is kept; table and floor dropped
    assert problems == ["2 grasps dropped: not 0.004-0.5 m above the support plane"]
    off, _ = keep_grasps_on_support(grasps, depth, CAMERA, (640, 480), GraspRequest())
    assert off == grasps  # (0, 0): no check
    half = depth[::2, ::2]  # depth at half the colour resolution, registered
    kept, _ = keep_grasps_on_support(grasps, half, CAMERA, (640, 480), request)
    assert [g.score for g in kept] == [0.9, 0.6]
    kept, problems = keep_grasps_on_support(grasps, np.zeros_like(depth), CAMERA, (640, 480), request)
    assert kept == grasps and "too few valid depth pixels" in problems[0]
