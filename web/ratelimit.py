"""A small in-process limiter of failed attempts per client, for the admin token.

Without it the bearer token could be guessed at the speed of the server. Per process and per
app (not shared between workers or restarts): enough to make guessing hopeless, with nothing
to deploy. Behind a reverse proxy every client has the proxy's address, so a guessing client
locks the admin API for everyone for a minute; that is the safe side.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque


class FailureLimiter:
    """At most ``limit`` failures per client in any ``window`` seconds; then every attempt is refused."""

    MAX_CLIENTS = 10_000  # beyond this, clients with no recent failure are forgotten

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again; 0 if it may now."""
        now = time.monotonic()
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return 0
            self._expire(times, now)
            if len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, client: str) -> None:
        """Count a failed attempt of ``client``."""
        now = time.monotonic()
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.MAX_CLIENTS:
                self._forget_idle(now)
            times = self._failures.setdefault(client, deque())
            self._expire(times, now)
            times.append(now)

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()

    def _forget_idle(self, now: float) -> None:
        for client in [c for c, times in self._failures.items() if not times or times[-1] <= now - self.window]:
            del self._failures[client]
