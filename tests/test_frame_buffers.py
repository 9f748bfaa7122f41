"""The node's hand-over buffers and counters."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from vlm_grasp_ros.ros.frame_buffers import LatestSlot, StampBuffer
from vlm_grasp_ros.ros.frame_stats import FrameStats, SequenceGaps


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


def test_stats_totals_balance_and_the_latency_window_moves_on() -> None:
    now = [100.0]
    stats = FrameStats(window_s=10.0, clock=lambda: now[0])
    assert stats.report() is None  # nothing came in: nothing to say
    for kind, amount in (("received", 4), ("lost", 2), ("lost_in_transport", 1), ("superseded", 1), ("rejected", 1)):
        stats.count(kind, amount)
    stats.processed_in(10.0)
    report = stats.report(pending=1)
    assert (
        report.received,
        report.lost,
        report.processed,
        report.superseded,
        report.rejected,
        report.failed,
        report.pending,
    ) == (4, 2, 1, 1, 1, 0, 1)
    assert (
        report.sent == 6 and report.received == report.processed + report.superseded + report.rejected + report.pending
    )
    assert report.latency_median_ms == 10.0 and report.rate_hz == pytest.approx(0.1)
    assert "lost before the callback 2 (1 in transport)" in report.line() and "rejected 1 (bad frame)" in report.line()
    assert stats.report() is None  # no new frame since the last report
    now[0] += 11.0  # the processed frame leaves the window; the totals stay
    stats.count("received")
    later = stats.report()
    assert later.processed == 1 and later.rate_hz == 0.0 and np.isnan(later.latency_median_ms)
    stats.reclassify("received", "ignored")
    assert stats.total("received") == 4 and stats.total("ignored") == 1
    with pytest.raises(ValueError, match="unknown frame counter"):
        stats.count("dropped")


def test_sequence_gaps_count_skipped_samples_per_publisher() -> None:
    gaps = SequenceGaps()
    assert gaps.observe("camera", 7) == 0  # the first sample sets the baseline: earlier ones predate us
    assert gaps.observe("camera", 8) == 0
    assert gaps.observe("camera", 12) == 3
    assert gaps.observe("other", 1) == 0 and gaps.observe("other", 3) == 1  # publishers are apart
    assert gaps.observe("camera", 11) == 0 and gaps.observe("camera", 13) == 0  # late sample: no gap, no double count
    assert gaps.observe("camera", None) == 0 and gaps.observe("camera", 0) == 0  # no sequence numbers
    gaps.clear()
    assert gaps.observe("camera", 40) == 0


def test_taking_marks_the_item_busy_until_the_block_ends() -> None:
    slot: LatestSlot[int] = LatestSlot()
    busy = threading.Event()
    slot.put(5)
    assert slot.occupied()
    with slot.taking(busy, timeout_s=0.1) as item:
        assert item == 5 and busy.is_set() and not slot.occupied()
    assert not busy.is_set()
    with slot.taking(busy, timeout_s=0.01) as item:
        assert item is None and not busy.is_set()
