"""Scenes as a robot's camera sees them: a perspective camera 0-45 degrees from straight down,
at 0.3-0.9 m, over a finite support (a table with edges and a floor below it, or a sheet of
paper on the floor), with floors, walls, cabinets, cloth, paper and clutter around it that
carry no label (negatives), objects standing up with visible sides and shadows, and the
lighting and sensor faults of a real camera.

Only objects on the support are labelled. Everything else a camera sees around a workspace
(the carpet, a shoe, a poster, the cabinet's handle) is what a grasp model must keep quiet on.
Each object's top face is drawn through the homography of its own height, its sides swept
between base and top, so labels are on the face the image shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from vlm_grasp_ros.core.datasets.sample import GraspSample
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.synthetic import parts
from vlm_grasp_ros.core.synthetic.camera import PlaneCamera, apply_homography, project_grasp
from vlm_grasp_ros.core.synthetic.photo_textures import photo_patch
from vlm_grasp_ros.core.synthetic.shapes import Shape
from vlm_grasp_ros.core.synthetic.textures import background, object_texture, random_colour, smooth_noise


@dataclass(frozen=True)
class RobotViewConfig:
    max_tilt_deg: float = 45.0
    camera_height_m: tuple[float, float] = (0.35, 0.9)
    #: Focal length as a multiple of the image width (0.8-1.1: 49-64 degrees horizontal view).
    focal_per_width: tuple[float, float] = (0.8, 1.1)
    #: Share of scenes whose support is a sheet of paper on the floor rather than a table.
    sheet_share: float = 0.3
    max_opening_m: float = 0.15
    clearance_m: float = 0.02
    #: Support texture resolution (metres per texture pixel) for a 640-pixel-wide image, scaled
    #: with the width: finer textures alias, coarser ones blur near the camera.
    texture_resolution_m: float = 0.0012
    #: Extra weight of some kinds of object (kind -> factor on its share of ``_OBJECT_KINDS``),
    #: to train more on the kinds a model misses; empty keeps the default draw (and its scenes).
    kind_boost: dict[str, float] = field(default_factory=dict)


_OBJECT_KINDS = (
    "box", "box", "box", "capsule", "pen", "disc", "ellipse", "cable", "frame", "ladder", "mug", "mug", "basket",
    "large_box",
)  # fmt: skip
#: The kinds of object the drawn robot views hold (names for ``RobotViewConfig.kind_boost``).
ROBOT_VIEW_KINDS = frozenset(_OBJECT_KINDS)
ObjectShape = Shape | parts.PartsShape


def _random_object(
    rng: np.random.Generator, centre: tuple[float, float], px_per_m: float, kind_boost: dict[str, float] | None = None
) -> tuple[str, ObjectShape, float]:
    """What it is, a shape (``Shape`` or ``PartsShape``) in texture pixels at ``centre``, and its height (m)."""
    if kind_boost:
        weights = np.array([kind_boost.get(kind, 1.0) for kind in _OBJECT_KINDS])
        kind = str(rng.choice(_OBJECT_KINDS, p=weights / weights.sum()))
    else:  # the draw every published set was made with: keep it, so the same seed gives the same scenes
        kind = str(rng.choice(_OBJECT_KINDS))
    shape, height = _object_of_kind(rng, kind, centre, px_per_m)
    return kind, shape, height


def _object_of_kind(
    rng: np.random.Generator, kind: str, centre: tuple[float, float], px_per_m: float
) -> tuple[ObjectShape, float]:
    angle = float(rng.uniform(-math.pi / 2, math.pi / 2))

    def m(low: float, high: float) -> float:
        return float(rng.uniform(low, high)) * px_per_m

    if kind == "box":
        length = m(0.04, 0.2)
        breadth = min(length * rng.uniform(0.25, 0.9), m(0.025, 0.12))
        return Shape("box", *centre, angle, length, breadth), float(rng.uniform(0.02, 0.12))
    if kind == "large_box":  # larger than the gripper one way: only across the short side
        length = m(0.2, 0.34)
        return Shape("box", *centre, angle, length, m(0.05, 0.12)), float(rng.uniform(0.04, 0.15))
    if kind == "capsule":  # bottles, cans and tubes lying down
        breadth = m(0.025, 0.07)
        return Shape("capsule", *centre, angle, m(0.1, 0.25), breadth), breadth / px_per_m
    if kind == "pen":  # pens, toothbrushes, screwdrivers
        breadth = m(0.007, 0.016)
        return Shape("capsule", *centre, angle, m(0.11, 0.2), breadth), breadth / px_per_m
    if kind == "disc":
        diameter = m(0.03, 0.14)
        return Shape("disc", *centre, angle, diameter, diameter), float(rng.uniform(0.005, 0.1))
    if kind == "ellipse":
        length = m(0.06, 0.16)
        return Shape("ellipse", *centre, angle, length, length * rng.uniform(0.4, 0.8)), float(rng.uniform(0.02, 0.08))
    if kind == "cable":
        return parts.cable(rng, centre, m(0.15, 0.35), m(0.005, 0.012)), float(rng.uniform(0.004, 0.01))
    if kind == "frame":
        length = m(0.12, 0.3)
        return parts.frame(centre, angle, length, length * rng.uniform(0.5, 0.9), m(0.01, 0.025)), 0.015
    if kind == "ladder":
        return parts.ladder(centre, angle, m(0.18, 0.34), m(0.05, 0.11), m(0.008, 0.016)), 0.02
    if kind == "mug":
        diameter = m(0.065, 0.1)
        return parts.mug(centre, angle, diameter, m(0.004, 0.009), m(0.02, 0.035)), float(rng.uniform(0.07, 0.11))
    length = m(0.15, 0.28)  # basket / tray
    return (
        parts.basket(centre, angle, length, length * rng.uniform(0.55, 0.85), m(0.008, 0.016)),
        float(rng.uniform(0.04, 0.12)),
    )


@dataclass(frozen=True)
class _Placed:
    """An object placed on the support: what it is, its height (m), its coverage patch and the
    patch's corners in support-texture pixels, and its labels there."""

    kind: str
    height_m: float
    coverage: np.ndarray
    box: np.ndarray
    labels: list[Grasp]
    #: Coverage of the open inside (a basket's floor, a cup's inside), drawn recessed; None if solid.
    interior: np.ndarray | None = None


def _surface(rng: np.random.Generator, height: int, width: int, kind: str) -> np.ndarray:
    """A floor, wall or table texture, procedural or a photograph."""
    if kind == "wall":
        base = random_colour(rng, 0.55, 0.98) * 0.3 + 0.7 * rng.uniform(0.6, 0.95)  # mostly pale paint
        return (base * (0.92 + 0.12 * smooth_noise(rng, height, width, 120)[..., None])).astype(np.float32)
    if rng.random() < 0.3:
        return photo_patch(rng, height, width)
    return background(rng, height, width)


def _paint_clutter(rng: np.random.Generator, canvas: np.ndarray, count: int, scale: float, paper: bool) -> None:
    """Unlabelled things on a texture, in place: shoes and boxes on a floor, cabinets and
    posters on a wall, or sheets of paper and cloth on a table."""
    height, width = canvas.shape[:2]
    for _ in range(count):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        size = rng.uniform(0.08, 0.45) * scale
        angle = rng.uniform(0, 180)
        choice = rng.random()
        if paper or choice < 0.3:  # a sheet, a magazine, a rug
            w, h = size * rng.uniform(0.6, 1.0), size * rng.uniform(0.6, 1.4)
            box = cv2.boxPoints(((cx, cy), (w, h), angle)).astype(np.int32)
            x0, y0 = np.clip(box.min(0), 0, [width - 1, height - 1])
            x1, y1 = np.clip(box.max(0) + 1, 1, [width, height])
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            region = np.zeros((height, width), np.uint8)
            cv2.fillPoly(region, [box], 1)
            inside = region[y0:y1, x0:x1].astype(bool)
            if rng.random() < 0.5:
                fill = photo_patch(rng, y1 - y0, x1 - x0)
            else:
                fill = np.broadcast_to(random_colour(rng, 0.7, 1.0) * 0.3 + 0.68, (y1 - y0, x1 - x0, 3))
            canvas[y0:y1, x0:x1][inside] = fill[inside]
        else:  # a shoe, a box, a bag, a cabinet door: a shaded blob with an outline
            colour = random_colour(rng, 0.1, 0.8)
            region = np.zeros((height, width), np.float32)
            axes = (int(size / 2), int(size * rng.uniform(0.25, 0.6)))
            if choice < 0.65:
                cv2.ellipse(region, (int(cx), int(cy)), axes, angle, 0, 360, 1.0, -1, cv2.LINE_AA)
            else:
                box = cv2.boxPoints(((cx, cy), (2 * axes[0], 2 * axes[1]), angle)).astype(np.int32)
                cv2.fillPoly(region, [box], 1.0, cv2.LINE_AA)
                cv2.polylines(canvas, [box], True, (colour * 0.5).tolist(), max(1, int(size / 40)), cv2.LINE_AA)
            shade = 0.75 + 0.35 * smooth_noise(rng, height, width, max(8, int(size / 3)))
            alpha = region[..., None]
            canvas[:] = canvas * (1 - alpha) + (colour * shade[..., None]) * alpha


@dataclass
class _Layout:
    """Where the support is, in the world (metres): an axis-aligned rectangle on z = 0."""

    centre: np.ndarray
    half_size: np.ndarray
    floor_z: float  # the floor's height (a table's top is 0.7-0.8 m above it; a sheet lies on it)
    thickness: float  # the table top's thickness, seen as its edge band
    wall_distance: float  # from the support's centre along the camera's forward direction


def _sample_camera(
    rng: np.random.Generator, config: RobotViewConfig, width: int, height: int, sheet: bool
) -> tuple[PlaneCamera, _Layout]:
    tilt = math.radians(rng.uniform(0.0, config.max_tilt_deg))
    low, high = config.camera_height_m
    camera_height = rng.uniform(low, high * (0.7 if sheet else 1.0))
    yaw = rng.uniform(-math.pi, math.pi)
    focal = rng.uniform(*config.focal_per_width) * width
    camera = PlaneCamera.looking_at(np.zeros(3), camera_height, tilt, yaw, focal, width, height)
    if sheet:  # A4 up to a newspaper spread
        half = np.array([rng.uniform(0.1, 0.3), rng.uniform(0.14, 0.32)])
    else:
        half = np.array([rng.uniform(0.3, 0.8), rng.uniform(0.25, 0.6)])
    # The optical axis meets the support somewhere away from its edges, so it is in view.
    centre = np.r_[rng.uniform(-0.7, 0.7, 2) * (half - 0.05), 0.0]
    layout = _Layout(
        centre=centre,
        half_size=half,
        floor_z=0.0 if sheet else -rng.uniform(0.7, 0.78),
        thickness=0.0 if sheet else rng.uniform(0.02, 0.05),
        wall_distance=float(np.max(half) + rng.uniform(0.05, 1.5)),
    )
    return camera, layout


def _inside(points: np.ndarray, layout: _Layout) -> np.ndarray:
    offset = np.abs(points[..., :2] - layout.centre[:2])
    return (offset[..., 0] <= layout.half_size[0]) & (offset[..., 1] <= layout.half_size[1])


def _plane_hit(camera: PlaneCamera, rays: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameters (= depths) and points where the rays meet the plane at height z."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (z - camera.position[2]) / rays[..., 2]
    t = np.where(rays[..., 2] < -1e-9, t, np.inf)
    return t, camera.position + np.nan_to_num(t, posinf=0.0)[..., None] * rays


def _texture_grid(
    points: np.ndarray, origin: np.ndarray, u: np.ndarray, v: np.ndarray, resolution: float
) -> np.ndarray:
    """Texture pixel coordinates (x, y) of world points on a plane with axes u, v."""
    offset = points - origin
    return np.stack([offset @ u / resolution, offset @ v / resolution], axis=-1).astype(np.float32)


def _warp_texture(texture: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    return cv2.remap(texture, coordinates[..., 0], coordinates[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def render_robot_view(
    seed: int, index: int, width: int = 640, height: int = 480, min_objects: int = 1, max_objects: int = 5,
    config: RobotViewConfig = RobotViewConfig(),
) -> GraspSample:  # fmt: skip
    """Render robot-view scene ``index`` of the set made with ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, index, 17])
    sheet = rng.random() < config.sheet_share
    camera, layout = _sample_camera(rng, config, width, height, sheet)
    rays = camera.rays().astype(np.float32)
    depth = np.full((height, width), np.inf)
    image = np.zeros((height, width, 3), np.float32)
    forward = camera.forward
    side = np.array([-forward[1], forward[0], 0.0])

    # Background: the floor (with clutter), the wall behind (cabinets, posters), all unlabelled.
    t_floor, floor_points = _plane_hit(camera, rays, layout.floor_z)
    with np.errstate(divide="ignore", invalid="ignore"):
        towards_wall = rays @ forward
        t_wall = (layout.wall_distance - (camera.position - layout.centre) @ forward) / towards_wall
    t_wall = np.where((towards_wall > 1e-9) & (t_wall > 0), t_wall, np.inf)
    wall_points = camera.position + np.nan_to_num(t_wall, posinf=0.0)[..., None] * rays
    t_wall = np.where(wall_points[..., 2] >= layout.floor_z, t_wall, np.inf)
    on_wall = t_wall < t_floor
    floor_resolution = wall_resolution = 0.004 * 640 / width
    ground_axes = (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    for name, hit, t, points, axes in (
        ("floor", ~on_wall & np.isfinite(t_floor), t_floor, floor_points, ground_axes),
        ("wall", on_wall, t_wall, wall_points, (side, np.array([0, 0, -1.0]))),
    ):  # fmt: skip
        if not hit.any():
            continue
        resolution = floor_resolution if name == "floor" else wall_resolution
        coordinates = _texture_grid(points, np.zeros(3), axes[0], axes[1], resolution)
        low = np.floor(coordinates[hit].min(0)) - 2
        size = np.minimum(np.ceil(coordinates[hit].max(0) - low) + 2, 1600).astype(int)
        texture = _surface(rng, int(size[1]), int(size[0]), name)
        _paint_clutter(rng, texture, int(rng.integers(0, 7)), 0.6 / resolution, paper=False)
        image[hit] = _warp_texture(texture, coordinates - low.astype(np.float32))[hit]
        depth[hit] = t[hit]

    # The support: its edge band (a table's front), then its top.
    t_top, top_points = _plane_hit(camera, rays, 0.0)
    on_top = np.isfinite(t_top) & _inside(top_points, layout)
    if layout.thickness > 0:
        t_under, under_points = _plane_hit(camera, rays, -layout.thickness)
        edge = ~on_top & np.isfinite(t_under) & _inside(under_points, layout)
        image[edge] = random_colour(rng, 0.1, 0.6) * rng.uniform(0.4, 0.8)
        depth[edge] = t_under[edge]
    resolution = config.texture_resolution_m * 640 / width  # about one texture pixel per image pixel
    corner = layout.centre - np.r_[layout.half_size, 0.0]
    grid = _texture_grid(top_points[on_top], corner, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), resolution)
    low = np.maximum(np.floor(grid.min(0)) - 4, 0)
    high = np.minimum(np.ceil(grid.max(0)) + 4, 2 * layout.half_size / resolution)
    scale = max(1.0, float(np.max(high - low)) / 1400)  # keep the texture under 1400 px a side
    resolution *= scale
    low, high = low / scale, high / scale
    texture_size = np.maximum((high - low).astype(int), 8)
    origin = corner + np.r_[low * resolution, 0.0]
    support = background(rng, int(texture_size[1]), int(texture_size[0]))
    if sheet:  # white paper, perhaps printed
        support = np.clip(support * 0.15 + rng.uniform(0.78, 0.95), 0, 1)
    elif rng.random() < 0.5:  # a sheet of paper or a cloth on the table: no label
        _paint_clutter(rng, support, int(rng.integers(1, 3)), 0.35 / resolution, paper=True)

    # Objects on the support, labelled; drawn later, far to near, over their shadows.
    px_per_m = 1.0 / resolution
    occupied = np.zeros(support.shape[:2], bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(config.clearance_m * px_per_m) + 1,) * 2)
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1)])
    homography_at = {}  # height -> homography from texture pixels to image pixels

    def homography(z: float) -> np.ndarray:
        if z not in homography_at:
            homography_at[z] = camera.plane_homography(
                origin + np.array([0, 0, z]), np.array([resolution, 0, 0]), np.array([0, resolution, 0])
            )
        return homography_at[z]

    objects: list[_Placed] = []
    target = int(rng.integers(min_objects, max_objects + 1))
    for _attempt in range(target * 20):
        if len(objects) == target:
            break
        kind, shape, object_height = _random_object(rng, (0.0, 0.0), px_per_m, config.kind_boost)
        # Drawn in its own patch (the support texture can be 1400 px a side), then placed.
        reach = int(0.75 * shape.length) + 4
        local = shape.moved(reach, reach)
        coverage = local.draw_mask(2 * reach, 2 * reach)
        ys, xs = np.nonzero(coverage > 0)
        labels = local.grasps(config.max_opening_m * px_per_m)
        if ys.size == 0 or not labels:
            continue
        crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        coverage = coverage[crop]
        rows, cols = coverage.shape
        x0 = int(rng.integers(1, max(2, support.shape[1] - cols - 1)))
        y0 = int(rng.integers(1, max(2, support.shape[0] - rows - 1)))
        if x0 + cols >= support.shape[1] - 1 or y0 + rows >= support.shape[0] - 1:
            continue  # larger than the support in view
        solid = coverage > 0.5
        if occupied[y0 : y0 + rows, x0 : x0 + cols][solid].any():
            continue
        box = np.array([[x0, y0], [x0 + cols, y0], [x0 + cols, y0 + rows], [x0, y0 + rows]], np.float64)
        seen = np.vstack([apply_homography(homography(0.0), box), apply_homography(homography(object_height), box)])
        if seen.min() < 2 or (seen[:, 0] > width - 3).any() or (seen[:, 1] > height - 3).any():
            continue  # the whole object in the frame, or it would be labelled where it is cut
        dx, dy = x0 - int(xs.min()), y0 - int(ys.min())
        labels = [replace(g, cx=g.cx + dx, cy=g.cy + dy) for g in labels]
        grow = kernel.shape[0] // 2
        zone = np.pad(solid.astype(np.uint8), grow)
        ya, xa = y0 - grow, x0 - grow
        clipped = occupied[max(ya, 0) : y0 + rows + grow, max(xa, 0) : x0 + cols + grow]
        grown = cv2.dilate(zone, kernel)[max(-ya, 0) :, max(-xa, 0) :]
        clipped |= grown[: clipped.shape[0], : clipped.shape[1]].astype(bool)
        _cast_shadow(support, coverage, (x0, y0), -light * (3 + object_height * px_per_m * rng.uniform(0.1, 0.4)))
        # Drawn only for a placed object: most attempts are rejected above.
        interior = local.draw_interior(2 * reach, 2 * reach)[crop] if isinstance(local, parts.PartsShape) else None
        objects.append(_Placed(kind, object_height, coverage, box, labels, interior if np.any(interior) else None))

    grid = _texture_grid(top_points, origin, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), resolution)
    image[on_top] = _warp_texture(support, grid)[on_top]
    depth[on_top] = t_top[on_top]

    mask = np.zeros((height, width), np.int32)
    labels_of: list[list[Grasp]] = []
    distance = [float(np.linalg.norm(camera.position[:2] - origin[:2] - resolution * o.box.mean(0))) for o in objects]
    far_to_near = [objects[order] for order in np.argsort(distance)[::-1]]
    for number, placed in enumerate(far_to_near, start=1):
        _draw_object(
            rng,
            image,
            mask,
            depth,
            camera,
            rays,
            homography,
            placed.height_m,
            placed.coverage,
            placed.box,
            light,
            number,
            placed.interior,
        )
        top = homography(placed.height_m)
        labels_of.append([project_grasp(label, top) for label in placed.labels])
    grasps = [label for number, found in enumerate(labels_of, start=1) for label in found if _seen(label, mask, number)]

    kinds = [p.kind for p in far_to_near]
    return camera_sample(rng, f"{index:05d}_s{seed}_RGB.png", camera, image, depth, mask, grasps, kinds)


def camera_sample(
    rng: np.random.Generator,
    name: str,
    camera: PlaneCamera,
    image: np.ndarray,
    depth: np.ndarray,
    mask: np.ndarray,
    grasps: list[Grasp],
    kinds: list[str],
) -> GraspSample:
    """A rendered view as a camera gives it: ``camera_effects`` on the float RGB image, depth
    noise growing with the square of the distance (1 mm at 1 m), no depth (0) where it is infinite;
    the sample carries ``camera``'s intrinsics."""
    image = camera_effects(rng, image)
    depth = np.where(np.isfinite(depth), depth + rng.normal(0, 1, depth.shape) * 0.001 * depth**2, 0.0)
    return GraspSample(
        image,
        grasps,
        name,
        mask=mask,
        depth=depth.astype(np.float32),
        object_kinds=tuple(kinds),
        camera=camera.pinhole(),
    )


def _seen(label: Grasp, mask: np.ndarray, number: int) -> bool:
    """False if a nearer object (drawn later, a higher number) covers the label's centre: a part
    hidden behind another is no grasp, and the metric would credit it to the one in front."""
    row = min(max(int(round(label.cy)), 0), mask.shape[0] - 1)
    col = min(max(int(round(label.cx)), 0), mask.shape[1] - 1)
    return int(mask[row, col]) <= number


def _cast_shadow(support: np.ndarray, coverage: np.ndarray, corner: tuple[int, int], offset: np.ndarray) -> None:
    """Darken the support under an object's soft shadow, cast ``offset`` texture pixels away."""
    margin = int(np.abs(offset).max()) + 10
    padded = np.pad(coverage, margin)
    moved = cv2.warpAffine(padded, np.array([[1, 0, offset[0]], [0, 1, offset[1]]], np.float32), padded.shape[::-1])
    shadow = cv2.GaussianBlur(moved, (0, 0), 3)
    x0, y0 = corner[0] - margin, corner[1] - margin
    region = support[max(y0, 0) : y0 + padded.shape[0], max(x0, 0) : x0 + padded.shape[1]]
    part = shadow[max(-y0, 0) :, max(-x0, 0) :][: region.shape[0], : region.shape[1]]
    region *= (1 - 0.45 * part)[..., None]


def _draw_object(
    rng: np.random.Generator,
    image: np.ndarray,
    mask: np.ndarray,
    depth: np.ndarray,
    camera: PlaneCamera,
    rays: np.ndarray,
    homography: Callable[[float], np.ndarray],
    object_height: float,
    coverage: np.ndarray,
    box: np.ndarray,
    light: np.ndarray,
    number: int,
    interior: np.ndarray | None = None,
) -> None:
    """One object in place: its sides swept from base to top in a darker shade, then its top
    face textured and shaded; its pixels get ``number`` in the mask and their depth. An
    ``interior`` (a basket's or a cup's open inside) is drawn recessed: through the opening at the
    rim the camera sees the floor near the base, shifted by perspective, and the inner walls
    where the floor is hidden, both darker than the rim."""
    height, width = mask.shape
    x0, y0 = box[0]
    patch_cov = np.ascontiguousarray(coverage)
    rows, cols = coverage.shape
    texture = object_texture(rng, rows, cols)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    gradient = ((xx - cols / 2) * light[0] + (yy - rows / 2) * light[1]) / max(rows, cols, 1)
    rim = cv2.erode(patch_cov, np.ones((3, 3), np.uint8))
    shaded = texture * (1.0 + 0.35 * gradient)[..., None] * (0.75 + 0.25 * rim)[..., None]
    corners = np.vstack([apply_homography(homography(z), box) for z in (0.0, object_height)])
    rise = float(np.abs(corners[:4] - corners[4:]).max())  # how far the top moves from the base (px)
    heights = np.linspace(0.0, object_height, int(min(48, rise / 1.5)) + 2)
    rx0, ry0 = np.maximum(np.floor(corners.min(0)).astype(int) - 1, 0)
    rx1, ry1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 2, [width, height])
    if rx1 <= rx0 or ry1 <= ry0:
        return
    shift_in = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    shift_out = np.array([[1, 0, -rx0], [0, 1, -ry0], [0, 0, 1]], np.float64)
    size = (int(rx1 - rx0), int(ry1 - ry0))

    def warp(values: np.ndarray, z: float) -> np.ndarray:
        return cv2.warpPerspective(values, shift_out @ homography(z) @ shift_in, size, flags=cv2.INTER_LINEAR)

    sides = np.max([warp(patch_cov, z) for z in heights], axis=0)
    top = warp(patch_cov, object_height)
    top_colour = warp(np.ascontiguousarray(shaded, np.float32), object_height)
    side_colour = texture.reshape(-1, 3).mean(0) * rng.uniform(0.4, 0.7)
    region = image[ry0:ry1, rx0:rx1]
    region[:] = region * (1 - sides[..., None]) + side_colour * sides[..., None]
    region[:] = region * (1 - top[..., None]) + top_colour * top[..., None]
    solid = (sides > 0.5) | (top > 0.5)
    mask[ry0:ry1, rx0:rx1][solid] = number
    t_top, _ = _plane_hit(camera, rays[ry0:ry1, rx0:rx1], object_height)
    t_side, _ = _plane_hit(camera, rays[ry0:ry1, rx0:rx1], object_height / 2)
    surface_depth = np.where(top > 0.5, t_top, t_side)
    if interior is not None:
        floor_z = object_height * rng.uniform(0.08, 0.2)
        opening = warp(np.ascontiguousarray(interior), object_height) * top
        floor = warp(np.ascontiguousarray(interior), floor_z) * opening
        inner_wall = side_colour * rng.uniform(0.6, 0.9)
        floor_colour = warp(np.ascontiguousarray(shaded, np.float32), floor_z) * rng.uniform(0.5, 0.8)
        region[:] = region * (1 - opening[..., None]) + inner_wall * opening[..., None]
        region[:] = region * (1 - floor[..., None]) + floor_colour * floor[..., None]
        t_floor, _ = _plane_hit(camera, rays[ry0:ry1, rx0:rx1], floor_z)
        t_inner, _ = _plane_hit(camera, rays[ry0:ry1, rx0:rx1], (floor_z + object_height) / 2)
        surface_depth = np.where(opening > 0.5, np.where(floor > 0.5, t_floor, t_inner), surface_depth)
    depth[ry0:ry1, rx0:rx1][solid] = surface_depth[solid]


def camera_effects(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Uneven light, exposure, white balance, gamma, vignetting, noise, blur and JPEG, as
    cameras give them; returns uint8 RGB."""
    height, width = image.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    slope = rng.uniform(-1, 1, 2)
    light = 1 + rng.uniform(0, 0.35) * ((xx / width - rng.uniform(0, 1)) * slope[0] + (yy / height - 0.5) * slope[1])
    vignette = 1 - rng.uniform(0.0, 0.35) * (((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2) * 2
    balance = rng.uniform(0.88, 1.12, 3).astype(np.float32)
    image = image * (light * vignette)[..., None] * balance * rng.uniform(0.7, 1.25)
    image = np.clip(image, 0, 1) ** rng.uniform(0.8, 1.25)
    image = image + rng.normal(0, rng.uniform(0.004, 0.03), image.shape).astype(np.float32)
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.2))
    rgb = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    if rng.random() < 0.4:
        ok, encoded = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 95))])
        if ok:
            rgb = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return rgb
