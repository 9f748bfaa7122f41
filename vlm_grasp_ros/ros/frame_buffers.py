"""Hand-over between the subscription callbacks and the inference worker.

:class:`LatestSlot` keeps only the newest frame, so a slow model never works through a
backlog (a replaced frame counts as dropped). :class:`StampBuffer` keeps the last few depth
images and camera infos for matching with a colour frame by stamp. Written by hand because
message_filters is not installable from PyPI, and its approximate-time policy would queue
colour frames that this node wants to drop.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A one-item mailbox: ``put`` replaces, ``take`` waits for an item and removes it."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._closed = False
        self._ready = threading.Condition()

    def put(self, item: T) -> bool:
        """Store ``item``; True when it replaced one that was never taken."""
        with self._ready:
            replaced = self._item is not None
            self._item = item
            self._ready.notify()
            return replaced

    def take(self, timeout_s: float) -> T | None:
        """The newest item, or None after ``timeout_s`` or once closed."""
        with self._ready:
            self._ready.wait_for(lambda: self._item is not None or self._closed, timeout=timeout_s)
            item, self._item = self._item, None
            return item

    @contextmanager
    def taking(self, busy: threading.Event, timeout_s: float) -> Iterator[T | None]:
        """:meth:`take`, with ``busy`` set from the moment the item leaves the slot until the block
        ends, so that "in the slot or busy" never misses an item in hand."""
        with self._ready:
            self._ready.wait_for(lambda: self._item is not None or self._closed, timeout=timeout_s)
            item, self._item = self._item, None
            if item is not None:
                busy.set()
        try:
            yield item
        finally:
            busy.clear()

    def clear(self) -> bool:
        """Drop the item waiting, if any; True when there was one."""
        with self._ready:
            dropped, self._item = self._item is not None, None
            return dropped

    def occupied(self) -> bool:
        with self._ready:
            return self._item is not None

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._item = None
            self._ready.notify_all()


class StampBuffer(Generic[T]):
    """The last ``capacity`` items with their stamps (ns), looked up by nearest stamp."""

    def __init__(self, capacity: int = 30) -> None:
        self._items: deque[tuple[int, T]] = deque(maxlen=capacity)
        self._changed = threading.Condition()

    def add(self, stamp_ns: int, item: T) -> None:
        with self._changed:
            self._items.append((stamp_ns, item))
            self._changed.notify_all()

    def nearest(self, stamp_ns: int, tolerance_ns: int) -> T | None:
        """The item whose stamp is closest to ``stamp_ns``, if within ``tolerance_ns``."""
        with self._changed:
            return self._nearest_locked(stamp_ns, tolerance_ns)

    def wait_nearest(self, stamp_ns: int, tolerance_ns: int, timeout_s: float) -> T | None:
        """Like :meth:`nearest`, waiting up to ``timeout_s`` for a match to arrive (depth often
        comes a few ms after colour)."""
        found: list[T] = []

        def matched() -> bool:
            item = self._nearest_locked(stamp_ns, tolerance_ns)
            if item is not None:
                found.append(item)
            return item is not None

        with self._changed:
            self._changed.wait_for(matched, timeout=timeout_s)
        return found[-1] if found else None

    def latest(self) -> T | None:
        with self._changed:
            return self._items[-1][1] if self._items else None

    def clear(self) -> None:
        with self._changed:
            self._items.clear()

    def _nearest_locked(self, stamp_ns: int, tolerance_ns: int) -> T | None:
        best = min(self._items, key=lambda entry: abs(entry[0] - stamp_ns), default=None)
        if best is None or abs(best[0] - stamp_ns) > tolerance_ns:
            return None
        return best[1]
