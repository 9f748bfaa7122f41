"""Robot-view scenes rendered by a physics simulator (PyBullet) instead of drawn by hand: mesh
objects from ``pybullet_data`` (1,000 procedural shapes, a mug, a duck, a teddy, Lego and Jenga
blocks, a tray, a torus, toys) and primitives (pens, bottles, boxes, balls) dropped on a table or
a sheet of paper and left to settle, seen by a tilted perspective camera with TinyRenderer's
shading and cast shadows; floors, walls, cabinets and clutter around carry no label.

Labels come from what the camera sees: antipodal grasps on each object's silhouette, with the
inside of cups and trays cut out by height (``silhouette_grasps.py``). The same (seed, index)
gives the same scene: each scene resets the simulation and draws from its own generator.

PyBullet is imported on first use (it is a data-generation dependency, not the node's).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vlm_grasp_ros.core.datasets.sample import GraspSample
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.synthetic.camera import PlaneCamera
from vlm_grasp_ros.core.synthetic.photo_textures import photo_patch
from vlm_grasp_ros.core.synthetic.robot_view import RobotViewConfig, camera_sample
from vlm_grasp_ros.core.synthetic.silhouette_grasps import body_grasps, remove_holes, silhouette_grasps
from vlm_grasp_ros.core.synthetic.textures import background, random_colour


@dataclass(frozen=True)
class BulletSceneConfig:
    #: Camera placement, the share of sheets of paper on the floor and the gripper's opening:
    #: the drawn robot views' settings, so both generators frame the same kind of scene.
    view: RobotViewConfig = RobotViewConfig()
    #: Simulated time the dropped objects get to settle (s, at 240 Hz).
    settle_s: float = 1.0
    #: Relative weights of the kinds of object (see ``_OBJECT_MAKERS``).
    kind_weights: dict[str, float] = field(
        default_factory=lambda: {
            "blob": 4.0, "box": 1.0, "bottle": 1.0, "pen": 1.0, "ball": 0.5, "mug": 1.0, "duck": 0.5,
            "teddy": 0.5, "lego": 0.5, "jenga": 0.5, "domino": 0.3, "tray": 0.7, "torus": 0.5, "prism": 0.3,
        }
    )  # fmt: skip


class _Bullet:
    """This process's PyBullet connection (DIRECT: no window, no network)."""

    _instances: dict[int, _Bullet] = {}

    def __init__(self) -> None:
        try:
            import pybullet
            import pybullet_data
        except ImportError as error:  # a clear word instead of a bare ModuleNotFoundError
            raise RuntimeError("bullet scenes need PyBullet: requirements/dev.txt pins pybullet==3.2.7") from error
        self.p: Any = pybullet
        self.data = Path(pybullet_data.getDataPath())
        self.client = pybullet.connect(pybullet.DIRECT)

    @classmethod
    def here(cls) -> _Bullet:
        pid = os.getpid()  # a DataLoader worker must not reuse its parent's connection
        if pid not in cls._instances:
            cls._instances[pid] = cls()
        return cls._instances[pid]

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.p, name)(*args, physicsClientId=self.client, **kwargs)


def _quaternion(bullet: _Bullet, roll: float, pitch: float, yaw: float) -> Any:
    return bullet.p.getQuaternionFromEuler([roll, pitch, yaw])


def _body(bullet: _Bullet, collision: int, visual: int, mass: float, position: Any, orientation: Any) -> int:
    return int(
        bullet.call(
            "createMultiBody",
            baseMass=mass,
            baseCollisionShapeIndex=collision,
            baseVisualShapeIndex=visual,
            basePosition=list(position),
            baseOrientation=orientation,
        )
    )


def _box(
    bullet: _Bullet,
    half: tuple[float, float, float],
    position: tuple[float, float, float],
    colour: np.ndarray,
    yaw: float = 0.0,
) -> int:
    """A static box (mass 0: tables, walls, sheets)."""
    p = bullet.p
    collision = bullet.call("createCollisionShape", p.GEOM_BOX, halfExtents=half)
    visual = bullet.call("createVisualShape", p.GEOM_BOX, halfExtents=half, rgbaColor=[*colour, 1.0])
    return _body(bullet, collision, visual, 0.0, position, _quaternion(bullet, 0, 0, yaw))


def _primitive(bullet: _Bullet, rng: np.random.Generator, kind: str, position: np.ndarray) -> int:
    p = bullet.p
    colour = [*random_colour(rng, 0.15, 1.0), 1.0]
    roll = 0.0
    if kind == "box":
        half = [rng.uniform(0.02, 0.1), rng.uniform(0.0125, 0.06), rng.uniform(0.01, 0.06)]
        collision = bullet.call("createCollisionShape", p.GEOM_BOX, halfExtents=half)
        visual = bullet.call("createVisualShape", p.GEOM_BOX, halfExtents=half, rgbaColor=colour)
    elif kind == "ball":
        radius = rng.uniform(0.02, 0.045)
        collision = bullet.call("createCollisionShape", p.GEOM_SPHERE, radius=radius)
        visual = bullet.call("createVisualShape", p.GEOM_SPHERE, radius=radius, rgbaColor=colour)
    else:  # pens lie down; bottles and cans lie down or stand
        radius, length = (
            (rng.uniform(0.004, 0.009), rng.uniform(0.1, 0.19))
            if kind == "pen"
            else (rng.uniform(0.02, 0.045), rng.uniform(0.06, 0.22))
        )
        collision = bullet.call("createCollisionShape", p.GEOM_CYLINDER, radius=radius, height=length)
        visual = bullet.call("createVisualShape", p.GEOM_CYLINDER, radius=radius, length=length, rgbaColor=colour)
        roll = math.pi / 2 if kind == "pen" or rng.random() < 0.6 else 0.0
    return _body(bullet, collision, visual, 0.1, position, _quaternion(bullet, roll, 0, rng.uniform(-math.pi, math.pi)))


def _mesh(bullet: _Bullet, rng: np.random.Generator, file: str, scale: float, roll: float, position: np.ndarray) -> int:
    p = bullet.p
    path = str(bullet.data / file)
    collision = bullet.call("createCollisionShape", p.GEOM_MESH, fileName=path, meshScale=[scale] * 3)
    visual = bullet.call(
        "createVisualShape", p.GEOM_MESH, fileName=path, meshScale=[scale] * 3, rgbaColor=[*random_colour(rng), 1]
    )
    return _body(bullet, collision, visual, 0.1, position, _quaternion(bullet, roll, 0, rng.uniform(-math.pi, math.pi)))


def _urdf(
    bullet: _Bullet, rng: np.random.Generator, file: str, scale: tuple[float, float], position: np.ndarray, tumble: bool
) -> int:
    angles = rng.uniform(-math.pi, math.pi, 3) if tumble else (0.0, 0.0, rng.uniform(-math.pi, math.pi))
    body = int(
        bullet.call(
            "loadURDF",
            str(bullet.data / file),
            basePosition=position.tolist(),
            baseOrientation=_quaternion(bullet, *angles),
            globalScaling=float(rng.uniform(*scale)),
        )
    )
    if rng.random() < 0.7:
        bullet.call("changeVisualShape", body, -1, rgbaColor=[*random_colour(rng, 0.15, 1.0), 1.0])
    return body


def _blob_file(rng: np.random.Generator) -> str:
    """One of pybullet_data's 1,000 procedural shapes."""
    number = int(rng.integers(0, 1000))
    return f"random_urdfs/{number:03d}/{number:03d}.urdf"


_ObjectMaker = Callable[[_Bullet, np.random.Generator, np.ndarray], int]
_OBJECT_MAKERS: dict[str, _ObjectMaker] = {
    "blob": lambda b, rng, at: _urdf(b, rng, _blob_file(rng), (0.6, 1.4), at, True),
    "mug": lambda b, rng, at: _urdf(b, rng, "objects/mug.urdf", (0.8, 1.2), at, rng.random() < 0.3),
    "duck": lambda b, rng, at: _urdf(b, rng, "duck_vhacd.urdf", (0.8, 1.4), at, False),
    "teddy": lambda b, rng, at: _urdf(b, rng, "teddy_vhacd.urdf", (0.8, 1.3), at, False),
    "lego": lambda b, rng, at: _urdf(b, rng, "lego/lego.urdf", (1.5, 3.0), at, False),
    "jenga": lambda b, rng, at: _urdf(b, rng, "jenga/jenga.urdf", (0.6, 1.2), at, False),
    "domino": lambda b, rng, at: _urdf(b, rng, "domino/domino.urdf", (1.5, 2.5), at, True),
    "tray": lambda b, rng, at: _urdf(b, rng, "tray/traybox.urdf", (0.22, 0.33), at, False),
    "torus": lambda b, rng, at: _mesh(b, rng, "torus/torus_textured.obj", rng.uniform(0.06, 0.11), math.pi / 2, at),
    "prism": lambda b, rng, at: _mesh(b, rng, "toys/prism.obj", rng.uniform(0.6, 1.2), 0.0, at),
    "box": lambda b, rng, at: _primitive(b, rng, "box", at),
    "bottle": lambda b, rng, at: _primitive(b, rng, "bottle", at),
    "pen": lambda b, rng, at: _primitive(b, rng, "pen", at),
    "ball": lambda b, rng, at: _primitive(b, rng, "ball", at),
}  # fmt: skip
#: The kinds of object PyBullet scenes hold (names for ``BulletSceneConfig.kind_weights``).
BULLET_KINDS = frozenset(_OBJECT_MAKERS)


@dataclass(frozen=True)
class _Support:
    """The table top or the sheet: centred on the origin, its top at z = 0."""

    half_extent: tuple[float, float]  # (m)


@dataclass(frozen=True)
class _Surface:
    """A flat body drawn white by the renderer and textured afterwards: texture pixel (u, v) is
    at ``origin + u * metres_per_pixel * axis_u + v * metres_per_pixel * axis_v``."""

    body: int
    texture: np.ndarray  # (H, W, 3) float32 RGB, repeated beyond its edges
    origin: np.ndarray
    axis_u: np.ndarray
    axis_v: np.ndarray
    metres_per_pixel: float


def _surface_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A texture for a floor, table top or wall: a procedural surface or part of a photograph."""
    if rng.random() < 0.3:
        return photo_patch(rng, size, size)
    return background(rng, size, size)


def _flat(rng: np.random.Generator, body: int, size: int, resolution: tuple[float, float]) -> _Surface:
    """A horizontal surface of ``body``, textured at ``resolution`` metres per texture pixel."""
    return _Surface(
        body, _surface_texture(rng, size), np.zeros(3), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]),
        float(rng.uniform(*resolution)),
    )  # fmt: skip


def _build_room(
    bullet: _Bullet, rng: np.random.Generator, config: BulletSceneConfig
) -> tuple[_Support, list[_Surface]]:
    """Floor, table or sheet, walls and clutter; returns the support and the surfaces to texture.
    PyBullet's own textures are per file name and do not survive a reset, so surfaces are
    rendered white (light and shadows only) and textured in ``_texture_surfaces``."""
    sheet = rng.random() < config.view.sheet_share
    floor_z = 0.0 if sheet else -float(rng.uniform(0.7, 0.78))
    white = np.ones(3)
    floor = _box(bullet, (6.0, 6.0, 0.01), (0, 0, floor_z - 0.01 - (0.0015 if sheet else 0.0)), white)
    surfaces = [_flat(rng, floor, 512, (0.002, 0.006))]
    if sheet:
        half = (float(rng.uniform(0.105, 0.3)), float(rng.uniform(0.15, 0.21)))
        _box(bullet, (*half, 0.0007), (0, 0, -0.0007), np.full(3, rng.uniform(0.8, 1.0)))
    else:
        half = (float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.25, 0.45)))
        top = _box(bullet, (*half, 0.015), (0, 0, -0.015), white)
        surfaces.append(_flat(rng, top, 512, (0.001, 0.003)))
        leg_colour = random_colour(rng, 0.1, 0.8)
        leg_z = (floor_z - 0.03) / 2
        for sx in (-1, 1):
            for sy in (-1, 1):
                _box(bullet, (0.02, 0.02, -leg_z), (sx * (half[0] - 0.05), sy * (half[1] - 0.05), leg_z), leg_colour)
        if rng.random() < 0.3:  # a sheet of paper, a magazine or a mat on the table
            mat = (float(rng.uniform(0.1, 0.25)), float(rng.uniform(0.1, 0.2)))
            _box(bullet, (*mat, 0.0007), (0, 0, 0.0007), np.full(3, rng.uniform(0.75, 1.0)), yaw=rng.uniform(0, 3))
    for _ in range(int(rng.integers(0, 3))):  # walls and cabinets beyond the support
        direction = float(rng.uniform(-math.pi, math.pi))
        distance = max(half) + rng.uniform(0.3, 1.2)
        size = (float(rng.uniform(0.2, 1.0)), float(rng.uniform(0.1, 0.3)), float(rng.uniform(0.3, 1.2)))
        centre = np.array([distance * math.cos(direction), distance * math.sin(direction), floor_z + size[2]])
        wall = _box(bullet, size, tuple(centre), white, yaw=direction + math.pi / 2)
        along = np.array([-math.sin(direction), math.cos(direction), 0.0])
        surfaces.append(
            _Surface(wall, _surface_texture(rng, 256), centre, along, np.array([0, 0, 1.0]), rng.uniform(0.002, 0.006))
        )
    for _ in range(int(rng.integers(0, 5))):  # things on the floor: shoes, bags, toys, boxes
        direction = rng.uniform(-math.pi, math.pi)
        distance = max(half) + rng.uniform(0.1, 0.8)
        at = np.array([distance * math.cos(direction), distance * math.sin(direction), floor_z + 0.15])
        kind = str(rng.choice(["blob", "box", "mug", "teddy", "bottle"]))
        if kind == "blob":  # bigger than anything on the table
            _urdf(bullet, rng, _blob_file(rng), (2.0, 4.0), at, True)
        else:
            _OBJECT_MAKERS[kind](bullet, rng, at)
    return _Support(half), surfaces


def _texture_surfaces(
    image: np.ndarray, segmentation: np.ndarray, points: np.ndarray, surfaces: list[_Surface]
) -> np.ndarray:
    """Each surface's pixels times its texture at the world point they show (the renderer drew
    them white, so what it drew is the light and the shadows)."""
    image = image.copy()
    for surface in surfaces:
        seen = segmentation == surface.body
        if not seen.any():
            continue
        offset = points - surface.origin
        size = surface.texture.shape[0]
        u = np.mod(offset @ surface.axis_u / surface.metres_per_pixel, size).astype(np.float32)
        v = np.mod(offset @ surface.axis_v / surface.metres_per_pixel, size).astype(np.float32)
        sampled = cv2.remap(surface.texture, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)[seen]
        image[seen] = image[seen] * sampled
    return image


def _drop_objects(
    bullet: _Bullet, rng: np.random.Generator, config: BulletSceneConfig, support: _Support, count: int
) -> list[tuple[str, int]]:
    """Objects placed apart on the support, dropped from just above it and settled; those that
    fell off are removed. A kind that finds no room is replaced by another (up to 10 tries)."""
    kinds = list(config.kind_weights)
    weights = np.array([config.kind_weights[k] for k in kinds], float)
    placed: list[tuple[str, int, np.ndarray, float]] = []
    for _ in range(10 * count):
        if len(placed) == count:
            break
        kind = str(rng.choice(kinds, p=weights / weights.sum()))
        body = _OBJECT_MAKERS[kind](bullet, rng, np.array([0.0, 0.0, 5.0]))
        spot = _free_spot(bullet, rng, body, support, [(xy, radius) for _, _, xy, radius in placed])
        if spot is None:
            bullet.call("removeBody", body)
        else:
            placed.append((kind, body, *spot))
    for _ in range(int(config.settle_s * 240)):
        bullet.call("stepSimulation")
    kept = []
    for kind, body, _, _ in placed:
        # The centre of mass, not the bounding box: a turned mesh's box reaches below the table.
        centre, _ = bullet.call("getBasePositionAndOrientation", body)
        on_support = abs(centre[0]) < support.half_extent[0] and abs(centre[1]) < support.half_extent[1]
        if on_support and centre[2] > 0.0:
            kept.append((kind, body))
        else:
            bullet.call("removeBody", body)
    return kept


def _free_spot(
    bullet: _Bullet, rng: np.random.Generator, body: int, support: _Support, taken: list[tuple[np.ndarray, float]]
) -> tuple[np.ndarray, float] | None:
    """Moves ``body`` to a random spot on the support 1 cm clear of the ``taken`` footprints
    (centre, radius), its lowest point 5 mm above the support; None when 30 tries find none."""
    low, high = (np.array(corner) for corner in bullet.call("getAABB", body))
    radius = float(np.linalg.norm(high[:2] - low[:2]) / 2)
    room = np.array(support.half_extent) - radius - 0.01  # the whole footprint on the support
    if (room <= 0).any():
        return None
    position, orientation = bullet.call("getBasePositionAndOrientation", body)
    offset = np.array(position) - (low + high) / 2  # a body's origin is not always its box's centre
    for _ in range(30):
        xy = rng.uniform(-room, room)
        if all(np.linalg.norm(xy - other) > radius + other_radius + 0.01 for other, other_radius in taken):
            centre = np.array([xy[0], xy[1], (high[2] - low[2]) / 2 + 0.005])
            bullet.call("resetBasePositionAndOrientation", body, (centre + offset).tolist(), orientation)
            return xy, radius
    return None


def _aim_camera(
    bullet: _Bullet,
    rng: np.random.Generator,
    config: BulletSceneConfig,
    objects: list[tuple[str, int]],
    width: int,
    height: int,
) -> PlaneCamera:
    """A camera that sees every object whole (retried up to 20 times; the last one is kept)."""
    corners = []
    for _, body in objects:
        low, high = bullet.call("getAABB", body)
        corners.extend([(x, y, z) for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
    points = np.array(corners) if corners else np.zeros((1, 3))
    centre = points.mean(axis=0) * np.array([1.0, 1.0, 0.0])
    camera = None
    for _ in range(20):
        target = centre + np.array([*rng.normal(0, 0.04, 2), 0.0])
        camera = PlaneCamera.looking_at(
            target,
            float(rng.uniform(*config.view.camera_height_m)),
            math.radians(rng.uniform(0, config.view.max_tilt_deg)),
            float(rng.uniform(-math.pi, math.pi)),
            float(rng.uniform(*config.view.focal_per_width)) * width,
            width,
            height,
        )
        pixels = camera.project(points)
        inside = (pixels[:, 0] > 4) & (pixels[:, 0] < width - 5) & (pixels[:, 1] > 4)
        if (inside & (pixels[:, 1] < height - 5)).all():
            break
    assert camera is not None
    return camera


def _render(
    bullet: _Bullet, rng: np.random.Generator, camera: PlaneCamera
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RGB float [0, 1], z-depth in metres, segmentation by body) through ``camera``."""
    near, far = 0.05, 12.0
    focal = float(camera.intrinsics[0, 0])
    view = bullet.p.computeViewMatrix(
        camera.position.tolist(), (camera.position + camera.rotation[2]).tolist(), (-camera.rotation[1]).tolist()
    )
    width, height = camera.width, camera.height
    fov_y = math.degrees(2 * math.atan(height / 2 / focal))
    projection = bullet.p.computeProjectionMatrixFOV(fov_y, width / height, near, far)
    light = [*rng.uniform(-1, 1, 2), rng.uniform(0.8, 2.0)]
    _, _, rgba, z_buffer, segmentation = bullet.call(
        "getCameraImage",
        width,
        height,
        viewMatrix=view,
        projectionMatrix=projection,
        shadow=1,
        lightDirection=light,
        lightColor=(1 + rng.uniform(-0.1, 0.1, 3)).tolist(),
        lightDistance=2.0,
        lightAmbientCoeff=float(rng.uniform(0.3, 0.7)),
        lightDiffuseCoeff=float(rng.uniform(0.3, 0.7)),
        lightSpecularCoeff=float(rng.uniform(0.0, 0.3)),
        renderer=bullet.p.ER_TINY_RENDERER,
    )
    rgb = np.asarray(rgba, np.uint8).reshape(height, width, 4)[..., :3].astype(np.float32) / 255.0
    z_buffer = np.asarray(z_buffer, np.float64).reshape(height, width)
    depth = far * near / (far - (far - near) * z_buffer)  # OpenGL's z-buffer back to metres along the axis
    return rgb, depth, np.asarray(segmentation, np.int64).reshape(height, width)


def render_bullet_scene(
    seed: int, index: int, width: int = 640, height: int = 480, min_objects: int = 1, max_objects: int = 5,
    config: BulletSceneConfig = BulletSceneConfig(),
) -> GraspSample:  # fmt: skip
    """Scene ``index`` of the set made with ``seed``; the same pair gives the same scene."""
    rng = np.random.default_rng([seed, index, 7])
    bullet = _Bullet.here()
    bullet.call("resetSimulation")
    bullet.call("setGravity", 0, 0, -9.81)
    support, surfaces = _build_room(bullet, rng, config)
    objects: list[tuple[str, int]] = []
    for _ in range(4):  # everything fell off or found no room: drop again
        objects = _drop_objects(bullet, rng, config, support, int(rng.integers(min_objects, max_objects + 1)))
        if objects:
            break
    camera = _aim_camera(bullet, rng, config, objects, width, height)
    rgb, depth, segmentation = _render(bullet, rng, camera)
    points = camera.rays() * depth[..., None] + camera.position
    rgb = _texture_surfaces(rgb, segmentation, points, surfaces)
    heights = points[..., 2]

    mask = np.zeros(depth.shape, np.int32)
    # Where a finger may not go: anything standing above the support (objects, clutter, walls).
    every_object = (segmentation >= 0) & (heights > 0.002)
    max_opening_per_m = float(camera.intrinsics[0, 0]) * config.view.max_opening_m
    grasps: list[Grasp] = []
    kinds = []
    for kind, body in objects:
        seen = segmentation == body
        if seen.sum() < 20 * (width / 640) ** 2:  # a few pixels of it peep out
            continue
        kinds.append(kind)
        mask[seen] = len(kinds)
        # The jaws close about half-way up an object: its upper half (without the inside of a cup)
        # is what they hold. The whole silhouette would add the sides a tilted camera sees.
        top = float(np.percentile(heights[seen], 95))
        solid = remove_holes(seen, heights) & (heights >= 0.5 * top)
        opening_px = max_opening_per_m / float(np.median(depth[seen]))
        # A finger may go down inside this object's own cup or tray.
        grasps.extend(silhouette_grasps(solid, every_object & ~(seen & ~solid), opening_px))
        if kind == "mug":  # and round the cup, as a drawn mug (parts.mug, whole_body) is labelled
            grasps.extend(body_grasps(solid, every_object & ~(seen & ~solid), opening_px))

    return camera_sample(rng, f"{index:05d}_s{seed}_RGB.png", camera, rgb, depth, mask, grasps, kinds)
