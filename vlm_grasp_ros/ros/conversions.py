"""Conversions between the core :class:`Grasp` and vlm_grasp_msgs messages (the only place)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from geometry_msgs.msg import Pose
from std_msgs.msg import Header
from vlm_grasp_msgs.msg import Grasp2D, Grasp2DArray

from vlm_grasp_ros.core.grasp import Grasp


@dataclass(frozen=True)
class GraspPose3D:
    """The optional 3D part of a grasp: a pose in the optical frame and its size in metres."""

    pose: Pose
    width_m: float
    height_m: float


def grasp_to_msg(grasp: Grasp, pose3d: GraspPose3D | None = None) -> Grasp2D:
    msg = Grasp2D(
        center_x=float(grasp.cx),
        center_y=float(grasp.cy),
        theta=float(grasp.theta),
        width=float(grasp.width),
        height=float(grasp.height),
        score=float(grasp.score),
    )
    if pose3d is not None:
        msg.has_pose = True
        msg.pose = pose3d.pose
        msg.width_m = float(pose3d.width_m)
        msg.height_m = float(pose3d.height_m)
    return msg


def msg_to_grasp(msg: Grasp2D) -> Grasp:
    return Grasp(
        cx=msg.center_x, cy=msg.center_y, theta=msg.theta, width=msg.width, height=msg.height, score=msg.score
    )


def grasps_to_array_msg(
    grasps: Sequence[Grasp],
    header: Header,
    image_width: int,
    image_height: int,
    backend: str,
    model: str = "",
    prompt: str = "",
    inference_time_ms: float = 0.0,
    poses: Sequence[GraspPose3D | None] | None = None,
) -> Grasp2DArray:
    """Build the array message; grasps are sorted best first, each keeping its own 3D part."""
    if poses is not None and len(poses) != len(grasps):
        raise ValueError(f"got {len(poses)} poses for {len(grasps)} grasps")
    paired = zip(grasps, poses if poses is not None else [None] * len(grasps))
    ranked = sorted(paired, key=lambda pair: pair[0].score, reverse=True)
    return Grasp2DArray(
        header=header,
        image_width=int(image_width),
        image_height=int(image_height),
        grasps=[grasp_to_msg(g, p) for g, p in ranked],
        backend=backend,
        model=model,
        prompt=prompt,
        inference_time_ms=float(inference_time_ms),
    )


def array_msg_to_grasps(msg: Grasp2DArray) -> list[Grasp]:
    return [msg_to_grasp(g) for g in msg.grasps]
