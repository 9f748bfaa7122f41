"""Conversions between the core :class:`Grasp` and vlm_grasp_msgs messages (the only place)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from vlm_grasp_msgs.msg import Grasp2D, Grasp2DArray, GraspLabels
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.projection import GraspPose3D, PinholeCamera
from vlm_grasp_ros.ros.image_conversion import array_to_image, image_to_array


def pose_to_msg(pose3d: GraspPose3D) -> Pose:
    x, y, z = pose3d.position
    qx, qy, qz, qw = pose3d.orientation
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def msg_to_pose(msg: Grasp2D) -> GraspPose3D | None:
    if not msg.has_pose:
        return None
    p, q = msg.pose.position, msg.pose.orientation
    return GraspPose3D((p.x, p.y, p.z), (q.x, q.y, q.z, q.w), msg.width_m, msg.height_m)


def camera_info_to_camera(msg: CameraInfo) -> PinholeCamera:
    """Intrinsics of the rectified image: from P when it is set (it is for rectified topics), else K."""
    fx, cx, fy, cy = (
        (msg.p[0], msg.p[2], msg.p[5], msg.p[6]) if msg.p[0] > 0 else (msg.k[0], msg.k[2], msg.k[4], msg.k[5])
    )
    return PinholeCamera(fx=fx, fy=fy, cx=cx, cy=cy, width=msg.width, height=msg.height)


def camera_to_camera_info(camera: PinholeCamera, header: Header) -> CameraInfo:
    """The inverse of :func:`camera_info_to_camera`: a rectified, distortion-free CameraInfo."""
    info = CameraInfo(
        header=header, width=camera.width, height=camera.height, distortion_model="plumb_bob", d=[0.0] * 5
    )
    info.k = [camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


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
        msg.pose = pose_to_msg(pose3d)
        msg.width_m = float(pose3d.width_m)
        msg.height_m = float(pose3d.height_m)
    return msg


def msg_to_grasp(msg: Grasp2D) -> Grasp:
    return Grasp(cx=msg.center_x, cy=msg.center_y, theta=msg.theta, width=msg.width, height=msg.height, score=msg.score)


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
    """Build the array message. ``grasps`` come ranked from the predictor (best first) and keep
    their order; each keeps its own 3D part."""
    if poses is not None and len(poses) != len(grasps):
        raise ValueError(f"got {len(poses)} poses for {len(grasps)} grasps")
    paired = zip(grasps, poses if poses is not None else [None] * len(grasps))
    return Grasp2DArray(
        header=header,
        image_width=int(image_width),
        image_height=int(image_height),
        grasps=[grasp_to_msg(g, p) for g, p in paired],
        backend=backend,
        model=model,
        prompt=prompt,
        inference_time_ms=float(inference_time_ms),
    )


def array_msg_to_grasps(msg: Grasp2DArray) -> list[Grasp]:
    return [msg_to_grasp(g) for g in msg.grasps]


@dataclass
class ImageLabels:
    """One image's ground truth as carried by a GraspLabels message."""

    image_name: str
    grasps: list[Grasp]
    object_mask: np.ndarray | None  # (H, W) object ids, 0 = none


def labels_to_msg(labels: ImageLabels, header: Header, image_width: int, image_height: int) -> GraspLabels:
    message = GraspLabels(
        header=header,
        image_name=labels.image_name,
        image_width=int(image_width),
        image_height=int(image_height),
        grasps=[grasp_to_msg(g) for g in labels.grasps],
    )
    if labels.object_mask is not None:
        if labels.object_mask.max(initial=0) > np.iinfo(np.uint16).max:
            raise ValueError(f"{labels.image_name}: object ids above 65535 do not fit a mono16 mask")
        message.object_mask = array_to_image(labels.object_mask.astype(np.uint16), "mono16", header)
    return message


def labels_from_msg(message: GraspLabels | Grasp2DArray) -> ImageLabels:
    """Labels from a GraspLabels message; a Grasp2DArray (bags from before GraspLabels) gives
    the grasps alone."""
    grasps = [msg_to_grasp(g) for g in message.grasps]
    if isinstance(message, Grasp2DArray):
        return ImageLabels("", grasps, None)
    mask = message.object_mask
    return ImageLabels(message.image_name, grasps, image_to_array(mask) if mask.width and mask.height else None)
