"""One frame through the node: message -> RGB -> predictor -> 3D poses -> Grasp2DArray.

The node's worker and its service both call :meth:`GraspPipeline.run`; keeping it free of
node state makes every failure mode testable without DDS.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from vlm_grasp_msgs.msg import Grasp2DArray

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.predictors.base import GraspPredictor
from vlm_grasp_ros.core.projection import GraspPose3D, grasp_poses_from_depth
from vlm_grasp_ros.ros.conversions import camera_info_to_camera, grasps_to_array_msg
from vlm_grasp_ros.ros.image_conversion import DEFAULT_MAX_PIXELS, compressed_to_rgb, depth_to_metres, image_to_rgb


class BackendError(RuntimeError):
    """The backend raised on a frame that converted fine (the node logs it and goes on)."""


@dataclass(frozen=True)
class RequestOptions:
    """The per-frame knobs, read from the node's parameters (or a service request)."""

    max_grasps: int = 10
    score_threshold: float = 0.0
    prompt: str = ""
    max_image_pixels: int = DEFAULT_MAX_PIXELS


@dataclass
class PipelineResult:
    message: Grasp2DArray
    rgb: np.ndarray
    grasps: list[Grasp]
    #: Why the grasps have no poses although depth was asked for ("" when they have them).
    pose_problem: str = ""


def frame_to_rgb(frame: Image | CompressedImage, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Raises ImageConversionError (a ValueError) for a frame that is not what it claims, or is
    larger than ``max_pixels``."""
    if isinstance(frame, CompressedImage):
        return compressed_to_rgb(frame, max_pixels)
    return image_to_rgb(frame, max_pixels)


#: Called once the grasps are known, so depth that arrives during inference is not waited for twice.
DepthLookup = Callable[[], "tuple[Image | None, CameraInfo | None]"]


class GraspPipeline:
    """A loaded predictor plus the conversions around it; thread-safe (one inference at a time)."""

    def __init__(self, predictor: GraspPredictor) -> None:
        self.predictor = predictor
        self._lock = threading.Lock()

    def run(
        self,
        frame: Image | CompressedImage,
        options: RequestOptions,
        depth_lookup: DepthLookup | None = None,
    ) -> PipelineResult:
        """Raises ImageConversionError for a bad frame, BackendError when the model fails."""
        rgb = frame_to_rgb(frame, options.max_image_pixels)
        height, width = rgb.shape[:2]
        start = time.perf_counter()
        try:
            with self._lock:
                grasps = self.predictor.predict(rgb, prompt=options.prompt or None, max_grasps=options.max_grasps)
        except Exception as error:  # noqa: BLE001 (any backend failure is reported, never fatal)
            raise BackendError(f"backend {self.predictor.name!r} failed: {type(error).__name__}: {error}") from error
        inference_ms = (time.perf_counter() - start) * 1000.0
        grasps = [g for g in grasps if g.score >= options.score_threshold][: options.max_grasps]
        poses: list[GraspPose3D | None] = []
        problem = ""
        depth, camera_info = depth_lookup() if depth_lookup is not None else (None, None)
        if depth is not None and camera_info is not None:
            try:
                depth_m = depth_to_metres(depth)
                poses = grasp_poses_from_depth(grasps, depth_m, camera_info_to_camera(camera_info), (width, height))
            except ValueError as error:
                problem = f"depth or camera_info unusable: {error}"
                poses = []
        message = grasps_to_array_msg(
            grasps, frame.header, width, height, backend=self.predictor.name, model=self.predictor.model_id,
            prompt=options.prompt, inference_time_ms=inference_ms, poses=poses or None,
        )
        return PipelineResult(message, rgb, grasps, problem)

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
