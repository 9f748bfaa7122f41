"""The node's hand-over buffers and counters."""

from __future__ import annotations

import threading
import time

import pytest

from vlm_grasp_ros.ros.frame_buffers import LatestSlot, StampBuffer
from vlm_grasp_ros.ros.frame_stats import FrameStats


def test_latest_slot_keeps_only_the_newest_and_reports_replacements() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True  # 1 was never taken: dropped
    assert slot.take(0.01) == 2
    assert slot.take(0.01) is None


def test_latest_slot_wakes_a_waiting_taker_and_close_releases_it() -> None:
    slot: LatestSlot[str] = LatestSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    assert slot.take(5.0) == "frame"
    threading.Timer(0.05, slot.close).start()
    start = time.monotonic()
    assert slot.take(5.0) is None and time.monotonic() - start < 2.0


def test_stamp_buffer_matches_the_nearest_stamp_within_tolerance() -> None:
    buffer: StampBuffer[str] = StampBuffer(capacity=3)
    for stamp, name in [(100, "a"), (200, "b"), (300, "c"), (400, "d")]:
        buffer.add(stamp, name)
    assert buffer.nearest(290, tolerance_ns=20) == "c"
    assert buffer.nearest(250, tolerance_ns=20) is None
    assert buffer.nearest(100, tolerance_ns=50) is None  # evicted by capacity
    assert buffer.latest() == "d"


def test_stamp_buffer_waits_for_a_late_match() -> None:
    buffer: StampBuffer[str] = StampBuffer()
    threading.Timer(0.05, buffer.add, args=(1000, "depth")).start()
    assert buffer.wait_nearest(1005, tolerance_ns=10, timeout_s=5.0) == "depth"
    assert buffer.wait_nearest(5000, tolerance_ns=10, timeout_s=0.05) is None


def test_stats_windows_and_totals() -> None:
    stats = FrameStats()
    assert stats.report(1.0) is None  # nothing came in: nothing to say
    for kind in ("received", "received", "received", "dropped", "rejected"):
        stats.count(kind)
    stats.processed_in(10.0)
    report = stats.report(2.0)
    assert (report.received, report.processed, report.dropped, report.rejected, report.failed) == (3, 1, 1, 1, 0)
    assert report.latency_median_ms == 10.0 and report.rate_hz == pytest.approx(0.5)
    assert "rejected 1 (bad frame)" in report.line()
