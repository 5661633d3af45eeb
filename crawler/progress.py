"""A live one-line crawl display for the terminal (rich), fed by the spider twice a second."""
from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text


class ProgressDisplay:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live = Live(Text("starting crawl ..."), console=self.console, refresh_per_second=4, transient=True)
        self.started = time.monotonic()

    def start(self) -> None:
        self.started = time.monotonic()
        self.live.start()

    def stop(self) -> None:
        self.live.stop()

    def update(self, state: Any) -> None:
        counts = list(state.counts.values())
        pages = sum(c.pages for c in counts)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        line = Text.assemble(
            ("crawling ", "bold"), f"{pages} pages ({pages / elapsed:.1f}/s)  reports: ",
            (f"{sum(c.reports_new for c in counts)} new", "green"), f", {sum(c.reports_changed for c in counts)} changed, ",
            f"{sum(c.reports_unchanged for c in counts)} unchanged  ",
            (f"{sum(c.errors for c in counts)} errors", "red"), f"  {sum(len(c.blocked) for c in counts)} blocked hosts",
        )
        self.live.update(line)
