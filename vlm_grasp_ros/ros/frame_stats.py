"""Where every camera frame went, and the node's latency, reported periodically.

The books balance by construction, and a test holds the node to it:

    sent by the camera = lost before the callback + received (+ ignored while inactive)
    received           = processed + superseded + rejected + failed + pending

*Lost before the callback* comes from the publishers' sequence numbers (each DDS sample carries
one): a gap means frames that DDS dropped in transport or replaced in the subscription's
one-frame queue before the executor took them. The DDS sample-lost event counts the transport
share of it. A publisher's first frame sets its baseline, so frames sent before the node
subscribed are not counted as lost. *Superseded* frames reached the node but a newer one
replaced them before the worker was free (the newest-frame policy). *Pending* ones are waiting
or being processed when the report is made. ROS-free, so it is tested without DDS.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

#: The counters, in the order the reports list them.
COUNTERS = (
    "received",
    "lost",
    "lost_in_transport",
    "ignored",
    "processed",
    "superseded",
    "rejected",
    "failed",
    "without_poses",
)


@dataclass(frozen=True)
class StatsReport:
    """Totals since start, plus the latency and answer rate of the last few seconds."""

    received: int
    lost: int  # before the callback (sequence gaps)
    lost_in_transport: int  # the part of ``lost`` DDS reported as sample-lost
    ignored: int  # arrived while the node was inactive
    processed: int
    superseded: int
    rejected: int
    failed: int
    without_poses: int  # processed with depth asked for, but some or all poses left out (bad depth/intrinsics)
    pending: int
    latency_median_ms: float
    latency_p95_ms: float
    rate_hz: float

    @property
    def sent(self) -> int:
        """Frames the publishers sent since their first received frame (as far as the node can tell)."""
        return self.received + self.lost + self.ignored

    def line(self) -> str:
        return (
            f"frames: sent {self.sent} = received {self.received} + lost before the callback {self.lost} "
            f"({self.lost_in_transport} in transport) + ignored while inactive {self.ignored}; received = "
            f"processed {self.processed} + superseded {self.superseded} (a newer frame came first) + "
            f"rejected {self.rejected} (bad frame) + failed {self.failed} (backend error) + pending "
            f"{self.pending}; {self.without_poses} without some poses; latency median "
            f"{self.latency_median_ms:.1f} ms, p95 {self.latency_p95_ms:.1f} ms; "
            f"{self.rate_hz:.1f} answers/s"
        )

    def as_dict(self) -> dict[str, float]:
        values = {name: getattr(self, name) for name in COUNTERS}
        values.update(
            sent=self.sent,
            pending=self.pending,
            latency_median_ms=self.latency_median_ms,
            latency_p95_ms=self.latency_p95_ms,
            rate_hz=self.rate_hz,
        )
        return values


class SequenceGaps:
    """Counts the sequence numbers each publisher skipped between the samples seen here."""

    def __init__(self) -> None:
        self._last: dict[Hashable, int] = {}

    def observe(self, publisher: Hashable, sequence: int | None) -> int:
        """The number of samples skipped before this one (0 for a publisher's first, a repeat or
        an out-of-order sample, or when the middleware gives no sequence number)."""
        if sequence is None or sequence <= 0:
            return 0
        last = self._last.get(publisher)
        if last is not None and sequence <= last:
            return 0
        self._last[publisher] = sequence
        return 0 if last is None else sequence - last - 1

    def clear(self) -> None:
        self._last.clear()


class FrameStats:
    """Thread-safe counters (totals since start), and latency and answer rate over the frames
    processed in the last ``window_s`` seconds; any number of readers (log line, diagnostics)."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(COUNTERS, 0)
        self._window_s = window_s
        self._clock = clock
        self._recent: deque[tuple[float, float]] = deque()  # (done at, latency ms)
        self._seen_at_report = 0

    def count(self, kind: str, amount: int = 1) -> None:
        """Add ``amount`` to one of :data:`COUNTERS` (``processed`` goes through :meth:`processed_in`)."""
        if kind not in COUNTERS or kind == "processed":
            raise ValueError(f"unknown frame counter {kind!r}")
        if amount:
            with self._lock:
                self._totals[kind] += amount

    def reclassify(self, source: str, target: str) -> None:
        """Move one frame from counter ``source`` to ``target``."""
        with self._lock:
            self._totals[source] -= 1
            self._totals[target] += 1

    def processed_in(self, latency_ms: float) -> None:
        with self._lock:
            self._totals["processed"] += 1
            self._recent.append((self._clock(), latency_ms))
            self._forget_old()

    def total(self, kind: str) -> int:
        with self._lock:
            return self._totals[kind]

    def snapshot(self, pending: int = 0) -> StatsReport:
        """The totals now, with latency and rate over the last ``window_s`` seconds."""
        with self._lock:
            self._forget_old()
            latencies = np.array([latency for _, latency in self._recent] or [np.nan])
            return StatsReport(
                **self._totals,
                pending=pending,
                latency_median_ms=float(np.median(latencies)),
                latency_p95_ms=float(np.percentile(latencies, 95)),
                rate_hz=len(self._recent) / self._window_s,
            )

    def report(self, pending: int = 0) -> StatsReport | None:
        """Like :meth:`snapshot`, but None when no frame came since the last report (a quiet log)."""
        with self._lock:
            seen = self._totals["received"] + self._totals["lost"] + self._totals["ignored"]
            if seen == self._seen_at_report:
                return None
            self._seen_at_report = seen
        return self.snapshot(pending)

    def _forget_old(self) -> None:
        horizon = self._clock() - self._window_s
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
