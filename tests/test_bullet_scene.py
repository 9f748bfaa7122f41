"""Scenes rendered by PyBullet: deterministic per (seed, index), at least one labelled object,
labels whose fingers land on free pixels, a mug labelled round its cup too, depth that agrees
with the mask, and the Jacquard layout on disk (read back by the loader) through `vlm-grasp synth
--view bullet`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.synthetic import bullet_scene
from vlm_grasp_ros.core.synthetic.bullet_scene import BulletSceneConfig, render_bullet_scene
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene
from vlm_grasp_ros.core.synthetic.writer import write_synthetic_dataset

SMALL = (320, 240)


def test_the_same_seed_and_index_give_the_same_scene() -> None:
    first = render_bullet_scene(5, 2, *SMALL)
    render_bullet_scene(5, 3, *SMALL)  # another scene in between must not change the next one
    again = render_bullet_scene(5, 2, *SMALL)
    assert np.array_equal(first.image, again.image) and first.grasps == again.grasps
    assert first.object_kinds == again.object_kinds
    assert not np.array_equal(first.image, render_bullet_scene(5, 4, *SMALL).image)


@pytest.mark.parametrize("index", range(6))
def test_objects_are_labelled_and_no_finger_lands_on_another_object(index: int) -> None:
    """A finger may be over the object's own lower half (a tilted camera sees its sides below
    where the jaws close), never over another object."""
    sample = render_bullet_scene(11, index, *SMALL)
    assert sample.mask is not None and sample.depth is not None and sample.object_kinds is not None
    assert sample.mask.max() == len(sample.object_kinds) >= 1
    assert sample.grasps, f"scene {index} ({sample.object_kinds}) has no label"
    checked = 0
    for grasp in sample.grasps:
        own = sample.mask[int(round(grasp.cy)), int(round(grasp.cx))]
        if own == 0:  # across a ring or a cup: the centre is in its hole
            continue
        axis, across = grasp.opening_axis, np.array([math.sin(grasp.theta), math.cos(grasp.theta)])
        centre = np.array([grasp.cx, grasp.cy])
        for side in (-1, 1):  # the middle of each finger, just outside the jaw opening
            for along_jaw in (-0.4, 0.0, 0.4):
                x, y = centre + side * (grasp.width / 2 + 1.5) * axis + along_jaw * grasp.height * across
                col, row = int(round(x)), int(round(y))
                assert 0 <= col < 320 and 0 <= row < 240
                assert sample.mask[row, col] in (0, own), f"a finger of {grasp} is on another object"
        checked += 1
    assert checked >= len(sample.grasps) / 2


def test_objects_are_nearer_the_camera_than_the_support_around_them() -> None:
    nearer = []
    for index in range(4):
        sample = render_bullet_scene(12, index, *SMALL)
        assert sample.mask is not None and sample.depth is not None
        for label in range(1, int(sample.mask.max()) + 1):
            obj = sample.mask == label
            ys, xs = np.nonzero(obj)
            ring = np.zeros_like(obj)
            ring[max(ys.min() - 4, 0) : ys.max() + 5, max(xs.min() - 4, 0) : xs.max() + 5] = True
            ring &= sample.mask == 0
            nearer.append(np.median(sample.depth[obj]) < np.median(sample.depth[ring]))
    assert np.mean(nearer) >= 0.8


def test_bullet_scenes_go_through_the_scene_config_and_the_jacquard_layout(tmp_path: Path) -> None:
    config = SceneConfig(width=320, height=240, view="bullet")
    direct = render_scene(4, 1, config)
    assert np.array_equal(direct.image, render_bullet_scene(4, 1, *SMALL).image)
    write_synthetic_dataset(tmp_path, 2, 4, config, progress=False)
    dataset = open_dataset("synthetic", tmp_path)
    loaded = dataset[1]
    assert loaded.object_kinds == direct.object_kinds
    assert len(loaded.grasps) == len(direct.grasps)
    assert np.array_equal(loaded.mask, direct.mask)


def test_the_mixed_view_takes_each_scene_whole_from_one_of_the_three_generators() -> None:
    shares = SceneConfig(width=160, height=120, view="mixed", robot_share=0.4, bullet_share=0.4)
    without_bullet = SceneConfig(width=160, height=120, view="mixed", robot_share=0.4)
    picked: list[str] = []
    for index in range(12):
        renders = {
            view: render_scene(8, index, SceneConfig(width=160, height=120, view=view)).image
            for view in ("top_down", "robot", "bullet")
        }
        mixed = render_scene(8, index, shares).image
        matches = [view for view, image in renders.items() if np.array_equal(image, mixed)]
        assert len(matches) == 1
        picked.append(matches[0])
        # Adding a PyBullet share turns some scenes into PyBullet ones and leaves the rest as they were.
        if matches[0] != "bullet":
            assert np.array_equal(render_scene(8, index, without_bullet).image, mixed)
    assert set(picked) == {"top_down", "robot", "bullet"}


@pytest.mark.parametrize(
    ("robot_share", "bullet_share", "message"),
    [(0.7, 0.5, "at most 1"), (-0.1, 0.0, "robot_share"), (0.0, 1.5, "bullet_share")],
)
def test_scene_shares_out_of_range_are_refused(robot_share: float, bullet_share: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SceneConfig(view="mixed", robot_share=robot_share, bullet_share=bullet_share)


def test_a_mug_is_labelled_round_its_whole_cup_as_well_as_across_its_wall(monkeypatch: pytest.MonkeyPatch) -> None:
    mugs_only = BulletSceneConfig(kind_weights={"mug": 1.0})
    sample = render_bullet_scene(3, 1, *SMALL, 1, 2, mugs_only)  # one mug, seen with its inside
    monkeypatch.setattr(bullet_scene, "body_grasps", lambda *args, **kwargs: [])
    walls_only = render_bullet_scene(3, 1, *SMALL, 1, 2, mugs_only)
    assert np.array_equal(sample.image, walls_only.image) and sample.object_kinds == ("mug",)
    assert sample.mask is not None
    ys, xs = np.nonzero(sample.mask == 1)
    extent = max(np.ptp(xs), np.ptp(ys))
    assert max(g.width for g in walls_only.grasps) < 0.5 * extent  # across the wall or the handle
    added = [g for g in sample.grasps if g not in walls_only.grasps]
    assert len(sample.grasps) == len(walls_only.grasps) + len(added) and len(added) >= 12
    assert all(g.width > 0.6 * extent for g in added)  # round the cup, outer wall to outer wall
