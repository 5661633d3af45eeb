"""A tiny time-limited cache, one per app (not process-global), for figures every search page
shows but that cost a scan of the archive: drop-down choices and archive totals."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class TTLCache:
    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        """The cached value of ``key``, recomputed when older than ``seconds``."""
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = compute()
        with self._lock:
            self._items[key] = (now, value)
        return value
