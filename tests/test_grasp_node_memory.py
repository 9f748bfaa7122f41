"""Memory returns at cleanup: 20 configure/cleanup cycles of the dense backend, with frames of a
new size each cycle, leave the node within 10% of its first cycle (it grew 360 -> 624 MB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import subprocess_env

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "lifecycle_memory.py"


def test_twenty_configure_cleanup_cycles_give_the_memory_back() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--backend", "dense", "--cycles", "20"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["cycles"] == 20
    assert figures["last_mb"] <= 1.10 * figures["first_mb"], result.stdout
