"""Thread-safe frame counters and latency figures, reported periodically by the node."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StatsReport:
    received: int
    processed: int
    dropped: int
    rejected: int
    failed: int
    latency_median_ms: float
    latency_p95_ms: float
    rate_hz: float

    def line(self) -> str:
        return (f"frames: received {self.received}, processed {self.processed}, dropped {self.dropped} "
                f"(superseded), rejected {self.rejected} (bad frame), failed {self.failed} (backend error); "
                f"latency median {self.latency_median_ms:.1f} ms, p95 {self.latency_p95_ms:.1f} ms; "
                f"{self.rate_hz:.1f} Hz")


class FrameStats:
    """Totals since start; latency and rate over the window since the last :meth:`report`."""

    def __init__(self, window: int = 2000) -> None:
        self._lock = threading.Lock()
        self.received = self.processed = self.dropped = self.rejected = self.failed = 0
        self._window: deque[float] = deque(maxlen=window)
        self._processed_at_report = 0
        self._received_at_report = 0

    def count(self, kind: str) -> None:
        """Add one to ``received``, ``dropped``, ``rejected`` or ``failed``."""
        with self._lock:
            setattr(self, kind, getattr(self, kind) + 1)

    def processed_in(self, latency_ms: float) -> None:
        with self._lock:
            self.processed += 1
            self._window.append(latency_ms)

    def report(self, period_s: float) -> StatsReport | None:
        """Figures for the window that ends now (None if no frame came in it); starts a new window."""
        with self._lock:
            if self.received == self._received_at_report:
                return None
            self._received_at_report = self.received
            latencies = np.array(self._window) if self._window else np.array([np.nan])
            new = self.processed - self._processed_at_report
            self._processed_at_report = self.processed
            self._window.clear()
            return StatsReport(self.received, self.processed, self.dropped, self.rejected, self.failed,
                               float(np.median(latencies)), float(np.percentile(latencies, 95)),
                               new / period_s if period_s > 0 else 0.0)
