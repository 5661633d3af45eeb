"""What a portal's operator feels of a crawl, read from the simulator's request log.

Scrapy spaces a slot's requests DOWNLOAD_DELAY apart when it sends them, but the log records when
the simulator's thread (inside a busy pytest process) got to a request: one entry logged ~0.13 s
late makes the gap before it long and the gap after it short (CI saw 0.53 s then 0.22 s with a
0.4 s delay). So the bounds are the operator's: the visit as a whole took at least one delay per
request, less SLACK for the jitter at its two ends, and no two requests ever came together.
"""
from __future__ import annotations

SLACK = 0.15


def assert_polite(times: list[float], delay: float, label: str) -> None:
    """Fail unless the request times keep `delay` on average and never burst."""
    times = sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) > 5, (label, times)
    assert times[-1] - times[0] >= (len(times) - 1) * delay - SLACK, (label, gaps)
    assert min(gaps) >= delay / 3, (label, gaps)
