"""Shared test set-up: offline model hubs and DDS confined to this machine and this run."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.helpers.ros_probe import RosProbe

REPO_ROOT = Path(__file__).resolve().parents[1]

# Set before anything imports transformers or rclpy.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO_ROOT / "config" / "fastdds_loopback.xml"))
# scripts/test.sh picks a domain per run; a bare `pytest` gets one of its own too.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))


def subprocess_env() -> dict[str, str]:
    """Environment for helper processes that talk DDS: same domain, loopback only."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    return env


@pytest.fixture
def ros_subprocess_env() -> dict[str, str]:
    return subprocess_env()


@pytest.fixture(scope="module")
def probe(request: pytest.FixtureRequest, node: object) -> Iterator[RosProbe]:
    """A test-side ROS node for a module whose ``node`` fixture starts the grasp node (the probe
    comes up after it and goes before it stops)."""
    from tests.helpers.ros_probe import RosProbe

    with RosProbe(f"{request.module.__name__.rsplit('.', 1)[-1]}_probe") as probe:
        yield probe
