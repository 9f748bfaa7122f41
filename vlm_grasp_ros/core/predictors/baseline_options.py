"""The classical baselines' options (read by :mod:`core.predictors.baselines`)."""

from __future__ import annotations

from dataclasses import dataclass

from vlm_grasp_ros.core.options import option


@dataclass(frozen=True)
class BaselineOptions:
    """How a baseline sizes its grasp from the object's extent across the opening axis."""

    opening_factor: float = option(
        1.15,
        "gripper opening = the object's extent across it x this, + opening_margin_px",
        low=0.1,
        high=10.0,
        load_time=True,
    )
    opening_margin_px: float = option(6.0, "added to the opening (pixels)", low=0.0, high=1000.0, load_time=True)
    jaw_ratio: float = option(0.5, "jaw (finger) size = this x the opening", low=0.01, high=10.0, load_time=True)


@dataclass(frozen=True)
class RandomBaselineOptions(BaselineOptions):
    seed: int = option(0, "seed of the random grasps", low=0, high=2**31 - 1, load_time=True)
