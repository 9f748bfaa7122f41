"""One image through a predictor: ``GraspPipeline.predict(rgb, request)`` -> ranked grasps (from
the request's workspace only), then with depth ``keep_grasps_on_support(...)`` -> the grasps
standing on the support plane, and ``locate_grasps(grasps, depth, camera, ...)`` -> (poses,
problems).

The node's worker and its service call these two steps and look the depth up between them
(after inference, so depth that arrives meanwhile is used). Nothing here holds ROS types, so
every failure mode is testable without DDS. The predictor ranks the grasps
(best first); here they are only filtered, never re-sorted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.predictors.base import GraspPredictor
from vlm_grasp_ros.core.projection import (
    GraspPose3D,
    PinholeCamera,
    camera_problem,
    depth_problem,
    grasp_poses_from_depth,
)
from vlm_grasp_ros.core.support_plane import fit_support_plane, grasps_on_support

#: Heights (m) above the support plane a grasp centre may have, by default: 4 mm keeps a thin pen
#: and drops a print on the table; 0.5 m keeps a tall bottle and drops a shelf above.
DEFAULT_SUPPORT_HEIGHT_M = (0.004, 0.5)
NOT_CHECKED = "support plane not checked"  # how keep_grasps_on_support's problems say it could not check


class BackendError(RuntimeError):
    """The backend raised on an image (the node logs it and goes on)."""


@dataclass(frozen=True)
class GraspRequest:
    """What is asked of one image."""

    max_grasps: int = 10
    score_threshold: float = 0.0
    prompt: str = ""
    #: Depths outside this range (metres) are holes: no pose from them.
    min_depth_m: float = 0.05
    max_depth_m: float = 10.0
    #: The part of the image to look at, as fractions of its width and height (left, top, right,
    #: bottom): the model sees only this crop, so nothing outside can be grasped.
    workspace: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    #: With depth: drop grasps whose centre is not this far (m) above the workspace's largest
    #: plane (the table); (0, 0) switches the check off.
    support_height_m: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        left, top, right, bottom = self.workspace
        if not (0.0 <= left < right <= 1.0 and 0.0 <= top < bottom <= 1.0):
            raise ValueError(
                f"workspace must be 0 <= left < right <= 1 and 0 <= top < bottom <= 1, got {self.workspace}"
            )
        low, high = self.support_height_m
        if not 0.0 <= low <= high:
            raise ValueError(f"support heights must be 0 <= min <= max, got {self.support_height_m}")

    def workspace_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The workspace as (x0, y0, x1, y1) pixels of a ``width`` x ``height`` image, at least 1 px."""
        left, top, right, bottom = self.workspace
        x0, y0 = int(round(left * width)), int(round(top * height))
        return x0, y0, max(x0 + 1, int(round(right * width))), max(y0 + 1, int(round(bottom * height)))


@dataclass
class PipelineResult:
    grasps: list[Grasp]
    inference_ms: float
    #: One per grasp (None where no valid depth); None when no depth was given.
    poses: list[GraspPose3D | None] | None = None
    #: Why poses are missing, in words (for the log and diagnostics).
    problems: list[str] = field(default_factory=list)


def locate_grasps(
    grasps: list[Grasp], depth_m: np.ndarray, camera: PinholeCamera, image_size: tuple[int, int], request: GraspRequest
) -> tuple[list[GraspPose3D | None], list[str]]:
    """Poses for ranked grasps; unusable intrinsics or depth leave poses out and say why."""
    problem = camera_problem(camera, image_size) or depth_problem(depth_m.shape, image_size)
    if problem:
        return [None] * len(grasps), [problem]
    poses = grasp_poses_from_depth(grasps, depth_m, camera, image_size, (request.min_depth_m, request.max_depth_m))
    missing = sum(pose is None for pose in poses)
    problems = (
        [
            f"{missing} of {len(poses)} grasps without a pose: no depth within "
            f"[{request.min_depth_m:g}, {request.max_depth_m:g}] m at their centres"
        ]
        if missing
        else []
    )
    return poses, problems


def keep_grasps_on_support(
    grasps: list[Grasp], depth_m: np.ndarray, camera: PinholeCamera, image_size: tuple[int, int], request: GraspRequest
) -> tuple[list[Grasp], list[str]]:
    """With ``request.support_height_m`` set: fit the support plane in the workspace's depth and
    keep the grasps standing on it; problems say what was dropped or why nothing could be checked."""
    if request.support_height_m[1] <= 0.0 or not grasps:
        return grasps, []
    problem = camera_problem(camera, image_size) or depth_problem(depth_m.shape, image_size)
    if problem:
        return grasps, [f"{NOT_CHECKED}: {problem}"]
    depth_camera = camera.scaled_to(depth_m.shape[1], depth_m.shape[0])
    region = request.workspace_pixels(depth_m.shape[1], depth_m.shape[0])
    plane = fit_support_plane(depth_m, depth_camera, region, depth_range_m=(request.min_depth_m, request.max_depth_m))
    if plane is None:
        return grasps, [f"{NOT_CHECKED}: too few valid depth pixels in the workspace"]
    kept, dropped = grasps_on_support(
        grasps, depth_m, camera, plane, image_size, request.support_height_m, (request.min_depth_m, request.max_depth_m)
    )
    low, high = request.support_height_m
    return kept, ([f"{dropped} grasps dropped: not {low:g}-{high:g} m above the support plane"] if dropped else [])


class GraspPipeline:
    """A loaded predictor, one inference at a time (the worker and the service share it)."""

    def __init__(self, predictor: GraspPredictor) -> None:
        self.predictor = predictor
        self._lock = threading.Lock()

    def predict(self, rgb: np.ndarray, request: GraspRequest) -> tuple[list[Grasp], float]:
        """Ranked grasps above the threshold, at most ``max_grasps``, and the inference time in
        ms. Raises BackendError when the model fails."""
        start = time.perf_counter()
        x0, y0, x1, y1 = request.workspace_pixels(rgb.shape[1], rgb.shape[0])
        whole = (x0, y0, x1, y1) == (0, 0, rgb.shape[1], rgb.shape[0])
        try:
            with self._lock:
                grasps = self.predictor.predict(
                    rgb if whole else np.ascontiguousarray(rgb[y0:y1, x0:x1]),
                    prompt=request.prompt or None,
                    max_grasps=request.max_grasps,
                )
        except Exception as error:  # any backend failure is reported, never fatal
            raise BackendError(f"backend {self.predictor.name!r} failed: {type(error).__name__}: {error}") from error
        inference_ms = (time.perf_counter() - start) * 1000.0
        if not whole:
            grasps = [replace(g, cx=g.cx + x0, cy=g.cy + y0) for g in grasps]
        return [g for g in grasps if g.score >= request.score_threshold][: request.max_grasps], inference_ms

    def warm_up(
        self, width: int = 640, height: int = 480, workspace: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    ) -> float:
        """One inference on a synthetic frame cut to ``workspace`` as frames will be, so the first
        camera frame does not pay for lazy initialisation (OpenCV's first k-means: ~100 ms; an ONNX
        graph per input size: ~0.6 s; CUDA kernels and autotuning on a GPU). Returns its time in ms."""
        rng = np.random.default_rng(0)
        frame = np.full((height, width, 3), 128, np.uint8)
        frame[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = (200, 60, 40)  # one "object"
        frame = (frame + rng.integers(0, 8, frame.shape, dtype=np.uint8)).astype(np.uint8)
        x0, y0, x1, y1 = GraspRequest(workspace=workspace).workspace_pixels(width, height)
        start = time.perf_counter()
        with self._lock:
            self.predictor.predict(np.ascontiguousarray(frame[y0:y1, x0:x1]), max_grasps=1)
        return (time.perf_counter() - start) * 1000.0

    def release(self) -> None:
        with self._lock:
            self.predictor.release()
