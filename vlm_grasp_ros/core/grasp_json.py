"""The JSON form of grasps used by every file the CLIs write (pixels, degrees)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from vlm_grasp_ros.core.grasp import Grasp


def grasp_to_json(grasp: Grasp) -> dict[str, float]:
    return {
        "cx": round(grasp.cx, 3),
        "cy": round(grasp.cy, 3),
        "theta_deg": round(grasp.theta_deg, 3),
        "width": round(grasp.width, 3),
        "height": round(grasp.height, 3),
        "score": round(grasp.score, 5),
    }


def grasps_to_json(grasps: Iterable[Grasp]) -> list[dict[str, float]]:
    return [grasp_to_json(g) for g in grasps]


def grasp_from_json(data: dict[str, Any]) -> Grasp:
    try:
        return Grasp(
            float(data["cx"]),
            float(data["cy"]),
            math.radians(float(data["theta_deg"])),
            float(data["width"]),
            float(data["height"]),
            float(data.get("score", 1.0)),
        )
    except KeyError as missing:
        raise ValueError(f"grasp JSON lacks the key {missing}: {data}") from None
