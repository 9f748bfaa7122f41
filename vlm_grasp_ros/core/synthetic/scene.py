"""Render one deterministic top-down tabletop scene: image, object labels, depth, grasps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from vlm_grasp_ros.core.datasets.sample import GraspSample
from vlm_grasp_ros.core.synthetic.bullet_scene import BULLET_KINDS, BulletSceneConfig, render_bullet_scene
from vlm_grasp_ros.core.synthetic.robot_view import ROBOT_VIEW_KINDS, RobotViewConfig, render_robot_view
from vlm_grasp_ros.core.synthetic.shapes import Shape
from vlm_grasp_ros.core.synthetic.textures import background, object_texture


@dataclass(frozen=True)
class SceneConfig:
    width: int = 640
    height: int = 480
    min_objects: int = 1
    max_objects: int = 5
    #: Largest gripper opening in pixels; grasps that need more are not labelled.
    max_opening_px: float = 160.0
    #: Free space kept between objects so that a jaw fits between them (px).
    clearance_px: int = 14
    #: Camera height above the table (m) and the range of object heights (m), for depth.
    table_depth_m: tuple[float, float] = (0.55, 0.8)
    object_height_m: tuple[float, float] = (0.02, 0.12)
    #: "top_down": a table top filling the frame, seen from straight above; "robot": a tilted
    #: perspective camera over a finite support with unlabelled surroundings
    #: (``core/synthetic/robot_view.py``); "bullet": robot views rendered by PyBullet from meshes
    #: (``core/synthetic/bullet_scene.py``); "mixed": PyBullet views in ``bullet_share`` of the
    #: scenes, drawn robot views in ``robot_share``, top-down in the rest.
    view: str = "top_down"
    robot_share: float = 0.75
    bullet_share: float = 0.0
    #: Share of scenes rendered with no objects at all (any view): the table, the room and its
    #: clutter, no labels. Negatives that teach the mask to stay low when nothing is graspable.
    empty_share: float = 0.0
    #: Extra weight of some kinds of object in the robot views, drawn and PyBullet (kind -> factor
    #: on its usual share), to train more on the kinds a model misses. Empty: the usual mix, and
    #: the same scenes for the same seed as before this option existed.
    kind_boost: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.view not in SCENE_VIEWS:
            raise ValueError(f"scene view must be one of {', '.join(SCENE_VIEWS)}, got {self.view!r}")
        shares = {"robot_share": self.robot_share, "bullet_share": self.bullet_share, "empty_share": self.empty_share}
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {share}")
        if self.robot_share + self.bullet_share > 1.0 + 1e-9:
            raise ValueError(
                f"robot_share + bullet_share must be at most 1, got {self.robot_share} + {self.bullet_share}"
            )
        check_kind_boost(self.kind_boost)


SCENE_VIEWS = ("top_down", "robot", "mixed", "bullet")


def check_kind_boost(kind_boost: object) -> None:
    """Refuse a ``kind_boost`` that is not {robot-view kind: positive factor}, naming what is wrong."""
    if not isinstance(kind_boost, dict):
        raise ValueError(f"kind_boost must map kinds of object to factors, got {kind_boost!r}")
    known = ROBOT_VIEW_KINDS | BULLET_KINDS
    for kind, factor in kind_boost.items():
        if kind not in known:
            raise ValueError(f"kind_boost names {kind!r}, not a robot-view kind; known: {', '.join(sorted(known))}")
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor < math.inf:
            raise ValueError(f"kind_boost of {kind!r} must be a positive number, got {factor!r}")


_KINDS = ("box", "box", "capsule", "disc", "ellipse")


def _random_shape(rng: np.random.Generator, config: SceneConfig) -> Shape:
    kind = str(rng.choice(_KINDS))
    scale = min(config.width, config.height) / 480.0
    if kind == "disc":  # coins and lids up to cups and bowls seen from above
        diameter = rng.uniform(30, 145) * scale
        length = breadth = diameter
    elif kind == "capsule":
        length, breadth = rng.uniform(90, 220) * scale, rng.uniform(14, 30) * scale
    elif kind == "ellipse":
        length = rng.uniform(60, 150) * scale
        breadth = length * rng.uniform(0.4, 0.8)
    else:
        length = rng.uniform(40, 170) * scale
        breadth = min(length * rng.uniform(0.25, 0.9), rng.uniform(20, 110) * scale)
    margin = length / 2 + 4
    cx = rng.uniform(margin, config.width - margin) if config.width > 2 * margin else config.width / 2
    cy = rng.uniform(margin, config.height - margin) if config.height > 2 * margin else config.height / 2
    return Shape(
        kind, float(cx), float(cy), float(rng.uniform(-math.pi / 2, math.pi / 2)), float(length), float(breadth)
    )


def render_scene(seed: int, index: int, config: SceneConfig = SceneConfig()) -> GraspSample:
    """Render scene ``index`` of the set made with ``seed``; the same pair gives the same scene."""
    view = config.view
    # Own draws (streams 98, 99) so a scene's emptiness and generator do not depend on each other.
    if config.empty_share > 0 and np.random.default_rng([seed, index, 98]).random() < config.empty_share:
        config = replace(config, min_objects=0, max_objects=0)
    if view == "mixed":
        # One draw per scene picks its generator, so a scene is the same whatever the others are.
        draw = np.random.default_rng([seed, index, 99]).random()
        view = "robot" if draw < config.robot_share else "top_down"
        if draw >= 1.0 - config.bullet_share:
            view = "bullet"
    size_and_count = (config.width, config.height, config.min_objects, config.max_objects)
    if view == "bullet":
        weights = BulletSceneConfig().kind_weights
        boosted = {kind: weight * config.kind_boost.get(kind, 1.0) for kind, weight in weights.items()}
        return render_bullet_scene(seed, index, *size_and_count, BulletSceneConfig(kind_weights=boosted))
    if view == "robot":
        return render_robot_view(seed, index, *size_and_count, RobotViewConfig(kind_boost=dict(config.kind_boost)))
    return render_top_down(seed, index, config)


def render_top_down(seed: int, index: int, config: SceneConfig = SceneConfig()) -> GraspSample:
    """A table top filling the frame, seen from straight above."""
    rng = np.random.default_rng([seed, index])
    h, w = config.height, config.width
    image = background(rng, h, w)
    labels = np.zeros((h, w), np.int32)
    occupied = np.zeros((h, w), np.uint8)
    depth = np.full((h, w), rng.uniform(*config.table_depth_m), np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * config.clearance_px + 1,) * 2)
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1)])  # direction the light comes from
    grasps = []
    kinds: list[str] = []
    target = int(rng.integers(config.min_objects, config.max_objects + 1))
    placed = 0
    for _attempt in range(target * 15):
        if placed == target:
            break
        shape = _random_shape(rng, config)
        coverage = shape.draw_mask(h, w)
        solid = coverage > 0.5
        shape_grasps = shape.grasps(config.max_opening_px)
        if not solid.any() or not shape_grasps or (occupied[solid] > 0).any():
            continue
        placed += 1
        kinds.append(shape.kind)
        occupied |= cv2.dilate(solid.astype(np.uint8), kernel).astype(bool)
        labels[solid] = placed
        depth[solid] -= rng.uniform(*config.object_height_m)
        # A soft shadow away from the light, then the object with a shading gradient.
        offset = -light * rng.uniform(2, 8)
        shadow = cv2.warpAffine(coverage, np.array([[1, 0, offset[0]], [0, 1, offset[1]]], np.float32), (w, h))
        shadow = cv2.GaussianBlur(shadow, (0, 0), 3)
        image *= (1 - 0.45 * shadow)[..., None]
        ys, xs = np.nonzero(coverage > 0)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        texture = object_texture(rng, y1 - y0, x1 - x0)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        gradient = ((xx - shape.cx) * light[0] + (yy - shape.cy) * light[1]) / max(shape.length, 1.0)
        rim = cv2.erode(coverage[y0:y1, x0:x1], np.ones((3, 3), np.uint8))  # darker outline at the edge
        shaded = texture * (1.0 + 0.35 * gradient)[..., None] * (0.75 + 0.25 * rim)[..., None]
        alpha = coverage[y0:y1, x0:x1, None]
        image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - alpha) + shaded * alpha
        grasps.extend(shape_grasps)
    # Global lighting falloff, sensor noise and a little blur, as a real camera gives.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    vignette = 1 - rng.uniform(0.0, 0.35) * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2) * 2
    image = image * vignette[..., None] * rng.uniform(0.75, 1.2)
    image = image + rng.normal(0, rng.uniform(0.005, 0.03), image.shape).astype(np.float32)
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.0))
    rgb = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    return GraspSample(
        image=rgb,
        grasps=grasps,
        name=f"{index:05d}_s{seed}_RGB.png",
        mask=labels,
        depth=depth,
        object_kinds=tuple(kinds),
    )
