"""Robot-view scenes: a tilted perspective camera over a finite support with unlabelled
surroundings; thin and hollow objects labelled across one part; camera geometry."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.synthetic import parts
from vlm_grasp_ros.core.synthetic.camera import PlaneCamera, apply_homography, project_grasp
from vlm_grasp_ros.core.synthetic.photo_textures import SHOWCASE_PHOTOS, TEXTURE_PHOTOS
from vlm_grasp_ros.core.synthetic.robot_view import render_robot_view
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene
from vlm_grasp_ros.core.synthetic.shapes import Shape, opening_for


def test_robot_views_are_deterministic_and_differ_by_index() -> None:
    a, b = render_robot_view(3, 1, 320, 240), render_robot_view(3, 1, 320, 240)
    assert np.array_equal(a.image, b.image) and a.grasps == b.grasps and np.array_equal(a.depth, b.depth)
    assert not np.array_equal(a.image, render_robot_view(3, 2, 320, 240).image)


@pytest.mark.parametrize("index", range(10))
def test_labels_lie_on_labelled_objects_inside_the_frame(index: int) -> None:
    sample = render_robot_view(21, index, 320, 240)
    assert sample.grasps and sample.mask is not None and sample.mask.max() >= 1
    for grasp in sample.grasps:
        col, row = int(round(grasp.cx)), int(round(grasp.cy))
        assert 0 <= col < 320 and 0 <= row < 240
        window = sample.mask[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2]
        assert window.max() > 0, f"label at ({grasp.cx:.1f}, {grasp.cy:.1f}) is off every object"


def test_most_of_a_robot_view_is_unlabelled_surroundings_and_objects_stand_above_it() -> None:
    """Negatives: the objects are a small part of the frame; the depth says they stand up."""
    object_shares, nearer = [], []
    for index in range(12):
        sample = render_robot_view(4, index, 320, 240)
        assert sample.mask is not None and sample.depth is not None
        objects = sample.mask > 0
        object_shares.append(objects.mean())
        ring = np.zeros_like(objects)  # pixels just around the objects: the support under them
        ys, xs = np.nonzero(objects)
        ring[max(ys.min() - 6, 0) : ys.max() + 7, max(xs.min() - 6, 0) : xs.max() + 7] = True
        ring &= ~objects
        nearer.append(np.median(sample.depth[objects]) < np.median(sample.depth[ring]))
    assert np.median(object_shares) < 0.25
    assert sum(nearer) >= 10  # objects are nearer the camera than the support around them


def test_tilted_cameras_see_perspective() -> None:
    """Straight down, a plane is at one depth; tilted, the far (upper) rows are deeper."""
    for tilt, expect_gradient in ((0.0, False), (math.radians(40), True)):
        camera = PlaneCamera.looking_at(np.zeros(3), 0.6, tilt, 0.3, 500.0, 320, 240)
        rays = camera.rays()
        depth = -camera.position[2] / rays[..., 2]
        top, bottom = depth[:20].mean(), depth[-20:].mean()
        assert (top - bottom > 0.1) == expect_gradient, (tilt, top, bottom)
        assert depth[120, 160] == pytest.approx(0.6 / math.cos(tilt), rel=0.02)


def test_plane_homography_and_projection_agree() -> None:
    camera = PlaneCamera.looking_at(np.zeros(3), 0.7, math.radians(30), 1.0, 550.0, 640, 480)
    origin, resolution = np.array([-0.3, -0.2, 0.05]), 0.002
    homography = camera.plane_homography(origin, np.array([resolution, 0, 0]), np.array([0, resolution, 0]))
    texture_points = np.array([[0.0, 0.0], [100.0, 40.0], [250.0, 300.0]])
    world = origin + np.c_[texture_points * resolution, np.zeros(3)]
    assert np.allclose(apply_homography(homography, texture_points), camera.project(world), atol=1e-6)


def test_projected_grasps_scale_with_the_image_and_keep_the_jaw_rule() -> None:
    zoom = np.diag([2.0, 2.0, 1.0])
    grasp = project_grasp(Grasp(10, 20, math.radians(30), 8.0, 4.0), zoom)
    assert (grasp.cx, grasp.cy) == pytest.approx((20, 40))
    assert grasp.width == pytest.approx(16.0) and grasp.height == pytest.approx(8.0)
    assert grasp.theta == pytest.approx(math.radians(30))


def _mask_at(mask: np.ndarray, x: float, y: float) -> float:
    return float(mask[int(round(y)), int(round(x))])


def test_a_ladder_is_taken_by_one_rail_never_across_both() -> None:
    ladder = parts.ladder((200.0, 150.0), math.radians(20), length=240.0, spacing=80.0, rail=12.0)
    mask = ladder.draw_mask(300, 400)
    labels = ladder.grasps(max_opening=200.0)
    assert len(labels) >= 4
    for label in labels:
        assert label.width == pytest.approx(opening_for(12.0))  # across a rail, not the 80 px span
        assert _mask_at(mask, label.cx, label.cy) > 0.5
    between = np.array([200.0, 150.0]) + 54 * np.array([math.cos(math.radians(20)), -math.sin(math.radians(20))])
    assert _mask_at(mask, *between) < 0.5  # between rails and rungs is air


def test_a_frame_is_hollow_and_a_mug_is_taken_by_its_wall_handle_or_body() -> None:
    frame = parts.frame((150.0, 150.0), 0.3, length=200.0, breadth=140.0, side=16.0)
    mask = frame.draw_mask(300, 300)
    assert _mask_at(mask, 150, 150) < 0.5 and all(_mask_at(mask, g.cx, g.cy) > 0.5 for g in frame.grasps(100))
    assert {round(g.width, 3) for g in frame.grasps(100)} == {round(opening_for(16.0), 3)}
    mug = parts.mug((150.0, 150.0), 0.0, diameter=80.0, wall=6.0, handle=25.0)
    mask = mug.draw_mask(300, 300)
    assert _mask_at(mask, 150, 150) > 0.5  # the inside is seen, part of the object
    widths = {round(g.width, 3) for g in mug.grasps(200)}
    assert widths == {round(opening_for(6.0), 3), round(opening_for(80.0), 3)}  # rim or handle; or the body
    body = [g for g in mug.grasps(200) if g.width > 50]
    assert all(abs(math.cos(g.theta)) < math.cos(math.radians(35)) for g in body)  # jaws clear of the handle
    assert len(mug.grasps(50)) == len(mug.grasps(200)) - len(body)  # a small gripper: rim and handle only
    assert max(g.cx for g in mug.grasps(200)) > 150 + 40  # a label on the handle, beyond the rim


def test_showcase_photos_are_never_textures() -> None:
    assert not set(SHOWCASE_PHOTOS) & set(TEXTURE_PHOTOS)


def test_mixed_view_draws_both_kinds_by_index() -> None:
    config = SceneConfig(width=160, height=120, view="mixed", robot_share=0.5)
    flat = 0
    for index in range(16):
        depth = render_scene(9, index, config).depth
        assert depth is not None
        support = np.percentile(depth, 90)
        flat += bool(np.allclose(depth[depth >= support - 1e-6], support, atol=1e-5))
    assert 2 <= flat <= 14  # top-down tables are flat at one depth; robot views are not
    with pytest.raises(ValueError, match="scene view"):
        SceneConfig(view="sideways")


def test_an_empty_share_of_scenes_have_no_objects_and_the_others_are_unchanged() -> None:
    config = SceneConfig(width=160, height=120, view="mixed", robot_share=0.5, bullet_share=0.25)
    some_empty = dataclasses.replace(config, empty_share=0.5)
    empty = 0
    for index in range(12):
        scene, same_index = render_scene(4, index, some_empty), render_scene(4, index, config)
        assert same_index.grasps and same_index.mask is not None and same_index.mask.any()
        if scene.grasps:  # not drawn empty: the very scene the set without empties has
            assert np.array_equal(scene.image, same_index.image) and scene.grasps == same_index.grasps
        else:
            empty += 1
            assert scene.mask is not None and not scene.mask.any() and not np.array_equal(scene.image, same_index.image)
    assert 2 <= empty <= 10
    assert not render_scene(4, 0, dataclasses.replace(config, empty_share=1.0)).grasps
    with pytest.raises(ValueError, match="empty_share"):
        SceneConfig(empty_share=-0.1)


def _slid_grasps(start: np.ndarray, end: np.ndarray, theta: float, opening: float, steps: int) -> list[Grasp]:
    """The same grasp placed at ``steps`` points from ``start`` to ``end``."""
    return [Grasp(*(start + t * (end - start)), theta, opening, 0.5 * opening) for t in np.linspace(0, 1, steps)]


def test_a_grasp_anywhere_along_a_thin_part_or_round_a_rim_hits_a_label() -> None:
    """Labels are dense along uniform parts: a good grasp between two labels is not a miss."""
    pen = Shape("capsule", 200.0, 200.0, 0.4, length=160.0, breadth=10.0)
    along = np.array([math.cos(0.4), -math.sin(0.4)])
    ends = np.array([200.0, 200.0]) + np.outer([-1, 1], along) * (80.0 - 5.0 - 0.5 * opening_for(10.0) / 2)
    labels = pen.grasps(100)
    assert all(g.is_hit(labels) for g in _slid_grasps(ends[0], ends[1], 0.4 + math.pi / 2, opening_for(10.0), 60))

    ladder = parts.ladder((200.0, 200.0), 0.0, length=300.0, spacing=80.0, rail=12.0)
    rail = ladder.bars[0]
    start, end = np.array([rail.x0 + 8, rail.y0]), np.array([rail.x1 - 8, rail.y1])
    labels = ladder.grasps(100)
    assert all(g.is_hit(labels) for g in _slid_grasps(start, end, math.pi / 2, opening_for(12.0), 80))

    mug = parts.mug((200.0, 200.0), 0.0, diameter=90.0, wall=7.0, handle=25.0)
    rim = mug.rings[0]
    labels = mug.grasps(50)  # rim and handle only
    for phi in np.linspace(0, 2 * math.pi, 90, endpoint=False):
        on_rim = Grasp(rim.cx + rim.radius * math.cos(phi), rim.cy - rim.radius * math.sin(phi), phi,
                       opening_for(7.0), 0.5 * opening_for(7.0))  # fmt: skip
        assert on_rim.is_hit(labels), f"a rim grasp at {math.degrees(phi):.0f} degrees hits no label"


def test_a_cup_and_a_basket_show_their_inside_recessed_and_a_ladder_has_none() -> None:
    mug = parts.mug((150.0, 150.0), 0.0, diameter=80.0, wall=6.0, handle=25.0)
    inside, solid = mug.draw_interior(300, 300), mug.draw_mask(300, 300)
    assert _mask_at(inside, 150, 150) > 0.5 and _mask_at(inside, 150 + 40 - 3, 150) < 0.5  # not the rim wall
    assert all(_mask_at(inside, g.cx, g.cy) < 0.5 for g in mug.grasps(50))  # labels sit on the rim and handle
    assert (inside <= solid + 1e-6).all()
    basket = parts.basket((150.0, 150.0), 0.4, length=200.0, breadth=120.0, wall=10.0)
    inside = basket.draw_interior(300, 300)
    assert _mask_at(inside, 150, 150) > 0.5 and all(_mask_at(inside, g.cx, g.cy) < 0.5 for g in basket.grasps(100))
    assert not parts.ladder((150.0, 150.0), 0.0, 200.0, 60.0, 10.0).draw_interior(300, 300).any()


def test_a_label_hidden_behind_a_nearer_object_is_dropped() -> None:
    from vlm_grasp_ros.core.synthetic.robot_view import _seen

    mask = np.zeros((50, 50), np.int32)
    mask[10:30, 10:30] = 1
    mask[20:40, 20:40] = 2  # object 2 is nearer, drawn over part of object 1
    assert _seen(Grasp(15, 15, 0.0, 6.0, 3.0), mask, 1)
    assert not _seen(Grasp(25, 25, 0.0, 6.0, 3.0), mask, 1)
    assert _seen(Grasp(25, 25, 0.0, 6.0, 3.0), mask, 2)
    assert _seen(Grasp(45, 5, 0.0, 6.0, 3.0), mask, 1)  # off every mask (a thin edge): kept
    assert _seen(Grasp(80, -3, 0.0, 6.0, 3.0), mask, 2)  # outside the frame: clamped, not an error


def test_a_rendered_cup_is_deeper_inside_than_at_its_rim() -> None:
    """Through the rim the camera sees the cup's floor, centimetres below the rim labels (a cup
    drawn solid had its inside at rim height: gaps of -1.6 to 0.5 cm in these scenes)."""
    gaps = []
    for index in range(60):
        sample = render_robot_view(5, index, 320, 240)
        assert sample.mask is not None and sample.depth is not None
        depth = sample.depth

        def depth_at(grasp: Grasp, depth: np.ndarray = depth) -> float:
            return float(depth[int(round(grasp.cy)), int(round(grasp.cx))])

        for number, kind in enumerate(sample.object_kinds or (), start=1):
            own = [g for g in sample.grasps if sample.mask[int(round(g.cy)), int(round(g.cx))] == number]
            if kind != "mug" or not own:
                continue
            narrow = min(g.width for g in own)
            body = [g for g in own if g.width > 3 * narrow]  # across the whole cup, centred inside it
            rim = [g for g in own if g.width < 1.5 * narrow]
            if body and len(rim) >= 6:
                gaps.append(depth_at(body[0]) - float(np.median([depth_at(g) for g in rim])))
        if len(gaps) >= 3:
            break
    assert len(gaps) >= 3 and min(gaps) > 0.02, gaps


def test_a_kind_boost_draws_more_of_that_kind_and_no_boost_keeps_every_scene() -> None:
    from vlm_grasp_ros.core.synthetic.robot_view import _OBJECT_KINDS, _random_object

    def kinds(boost: dict[str, float] | None) -> list[str]:
        rng = np.random.default_rng(5)
        return [_random_object(rng, (0.0, 0.0), 500.0, boost)[0] for _ in range(400)]

    usual, boosted = kinds(None), kinds({"mug": 4.0, "ladder": 3.0})
    # 14 entries, mug twice and ladder once: boosted, 8 and 3 of 22 (usual: 2 and 1 of 14).
    for kind, usual_share, boosted_share in (("mug", 2 / 14, 8 / 22), ("ladder", 1 / 14, 3 / 22)):
        assert abs(usual.count(kind) / 400 - usual_share) < 0.05
        assert abs(boosted.count(kind) / 400 - boosted_share) < 0.06
    assert _OBJECT_KINDS.count("mug") == 2 and _OBJECT_KINDS.count("ladder") == 1 and len(_OBJECT_KINDS) == 14
    # An empty boost is the draw the published sets were made with: the same seed, the same scene.
    config = SceneConfig(width=160, height=120, view="robot")
    plain, empty_boost = render_scene(6, 2, config), render_scene(6, 2, dataclasses.replace(config, kind_boost={}))
    assert np.array_equal(plain.image, empty_boost.image) and plain.grasps == empty_boost.grasps


def test_a_kind_boost_reaches_pybullet_scenes_and_bad_boosts_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from vlm_grasp_ros.core.synthetic import scene as scene_module
    from vlm_grasp_ros.core.synthetic.bullet_scene import BulletSceneConfig

    seen = []
    monkeypatch.setattr(scene_module, "render_bullet_scene", lambda *args: seen.append(args[-1]))
    render_scene(1, 0, SceneConfig(view="bullet", kind_boost={"duck": 3.0}))
    usual = BulletSceneConfig().kind_weights
    assert seen[0].kind_weights["duck"] == pytest.approx(3.0 * usual["duck"])
    others = {kind: weight for kind, weight in usual.items() if kind != "duck"}
    assert {kind: seen[0].kind_weights[kind] for kind in others} == others
    with pytest.raises(ValueError, match="kind_boost names 'mugs'.*known: .*mug"):
        SceneConfig(kind_boost={"mugs": 2.0})
    for factor in (0.0, -1.0, math.inf, True, "2"):
        with pytest.raises(ValueError, match="kind_boost of 'mug' must be a positive number"):
            SceneConfig(kind_boost={"mug": factor})  # type: ignore[dict-item]
