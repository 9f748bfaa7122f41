"""Antipodal grasps from a silhouette: across a bar all along it, through a disc's centre at every
angle, never with a finger on another object or outside the image; a cup's inside is cut out by
height, a lying bottle's low flanks are not."""

from __future__ import annotations

import math

import cv2
import numpy as np

from vlm_grasp_ros.core.grasp import angle_difference
from vlm_grasp_ros.core.synthetic.shapes import opening_for
from vlm_grasp_ros.core.synthetic.silhouette_grasps import remove_holes, silhouette_grasps


def _bar(shape: tuple[int, int] = (200, 300)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.rectangle(mask, (100, 90), (200, 110), 1, -1)  # 101 px along x, 21 px across
    return mask.astype(bool)


def test_a_bar_is_grasped_across_its_short_side_all_along_it() -> None:
    bar = _bar()
    grasps = silhouette_grasps(bar, bar, max_opening_px=80.0)
    assert grasps
    for grasp in grasps:  # every closing direction within the friction cone of the bar's normal
        assert math.degrees(angle_difference(grasp.theta, math.pi / 2)) <= 25.0 + 1e-6
        assert grasp.width >= opening_for(21) - 1e-6
        assert 100 <= grasp.cx <= 200 and abs(grasp.cy - 100) < 1.0
    across = sorted(g.cx for g in grasps if abs(g.theta_deg + 90) < 1e-6)
    assert across[0] < 105 and across[-1] > 195  # from one end of the bar to the other
    assert max(np.diff(across)) <= 4.0 + 1e-6


def test_the_long_side_is_labelled_only_when_the_gripper_opens_that_far() -> None:
    bar = _bar()
    narrow = silhouette_grasps(bar, bar, max_opening_px=80.0)
    wide = silhouette_grasps(bar, bar, max_opening_px=200.0)
    assert not any(abs(g.theta) < 1e-6 for g in narrow)
    lengthwise = [g for g in wide if abs(g.theta) < 1e-6]
    assert lengthwise and all(abs(g.width - opening_for(101)) < 1e-6 for g in lengthwise)


def test_a_disc_is_grasped_through_its_centre_at_every_angle() -> None:
    disc = np.zeros((200, 200), np.uint8)
    cv2.circle(disc, (100, 100), 30, 1, -1)
    grasps = silhouette_grasps(disc.astype(bool), disc.astype(bool), max_opening_px=120.0)
    angles = {round(g.theta_deg) for g in grasps}
    assert angles == set(range(-90, 90, 15))
    for grasp in grasps:  # antipodal on a circle: the closing line passes near the centre
        offset = np.array([grasp.cx - 100, grasp.cy - 100])
        assert (
            abs(offset @ np.array([math.sin(grasp.theta), math.cos(grasp.theta)]))
            < 30 * math.sin(math.radians(25)) + 1.5
        )


def test_no_finger_lands_on_a_neighbour_or_outside_the_image() -> None:
    bar = _bar()
    neighbour = np.zeros_like(bar)
    neighbour[112:130, 100:150] = True  # just below the left half of the bar
    grasps = silhouette_grasps(bar, bar | neighbour, max_opening_px=80.0)
    across = [g for g in grasps if abs(g.theta_deg + 90) < 1e-6]
    assert across and all(g.cx > 150 for g in across)  # the left half is blocked below
    alone = silhouette_grasps(bar, bar, max_opening_px=80.0)
    assert len(grasps) < len(alone)

    cut = np.zeros((200, 300), bool)
    cut[0:12, 100:200] = True  # a bar cut by the top edge: a finger would be outside the image
    assert not [g for g in silhouette_grasps(cut, cut, 80.0) if abs(g.theta_deg + 90) < 30]


def test_a_cups_inside_is_cut_out_but_a_lying_bottles_flanks_stay() -> None:
    yy, xx = np.mgrid[0:120, 0:120]
    radius = np.hypot(xx - 60, yy - 60)
    cup = radius <= 40
    cup_heights = np.where(radius > 32, 0.1, 0.01)  # an 8 px rim 10 cm high around a floor 1 cm high
    solid = remove_holes(cup, cup_heights)
    assert solid[60, 60] == False and solid[60, 99] == True  # noqa: E712 (numpy bools)
    assert solid.sum() == (cup & (radius > 32)).sum()

    bottle = (np.abs(yy - 60) <= 20) & (np.abs(xx - 60) <= 50)  # lying along x, 41 px across
    bottle_heights = np.where(bottle, 0.04 * np.sqrt(np.clip(1 - ((yy - 60) / 21) ** 2, 0, 1)), 0.0)
    assert np.array_equal(remove_holes(bottle, bottle_heights), bottle)
