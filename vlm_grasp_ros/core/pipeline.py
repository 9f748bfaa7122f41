"""One image through a predictor: ``GraspPipeline.predict(rgb, request)`` -> ranked grasps, then
``locate_grasps(grasps, depth, camera, ...)`` -> (poses, problems).

The node's worker and its service call these two steps and look the depth up between them
(after inference, so depth that arrives meanwhile is used). Nothing here holds ROS types, so
every failure mode is testable without DDS. The predictor ranks the grasps
(best first); here they are only filtered, never re-sorted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

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


class GraspPipeline:
    """A loaded predictor, one inference at a time (the worker and the service share it)."""

    def __init__(self, predictor: GraspPredictor) -> None:
        self.predictor = predictor
        self._lock = threading.Lock()

    def predict(self, rgb: np.ndarray, request: GraspRequest) -> tuple[list[Grasp], float]:
        """Ranked grasps above the threshold, at most ``max_grasps``, and the inference time in
        ms. Raises BackendError when the model fails."""
        start = time.perf_counter()
        try:
            with self._lock:
                grasps = self.predictor.predict(rgb, prompt=request.prompt or None, max_grasps=request.max_grasps)
        except Exception as error:  # any backend failure is reported, never fatal
            raise BackendError(f"backend {self.predictor.name!r} failed: {type(error).__name__}: {error}") from error
        inference_ms = (time.perf_counter() - start) * 1000.0
        return [g for g in grasps if g.score >= request.score_threshold][: request.max_grasps], inference_ms

    def warm_up(self, width: int = 640, height: int = 480) -> float:
        """One inference on a synthetic frame, so the first camera frame does not pay for lazy
        initialisation (OpenCV's first k-means: ~100 ms; CUDA kernels and autotuning on a GPU).
        Returns the time it took in ms."""
        rng = np.random.default_rng(0)
        frame = np.full((height, width, 3), 128, np.uint8)
        frame[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = (200, 60, 40)  # one "object"
        frame = (frame + rng.integers(0, 8, frame.shape, dtype=np.uint8)).astype(np.uint8)
        start = time.perf_counter()
        with self._lock:
            self.predictor.predict(frame, max_grasps=1)
        return (time.perf_counter() - start) * 1000.0

    def release(self) -> None:
        with self._lock:
            self.predictor.release()
