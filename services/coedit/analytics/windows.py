"""Time windows and buckets. A window is [end - length, end], both ends inclusive;
buckets are aligned to whole multiples of their length since 2000-01-01 UTC
(PostgreSQL's `date_bin` with that origin), so hourly buckets start on the hour."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from coedit.analytics.models import EARLIEST
from coedit.common.errors import ApiError

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DURATION_PATTERN = r"^[1-9][0-9]{0,5}[smhd]$"
MAX_WINDOW = timedelta(days=366)
MAX_BUCKETS = 5000
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """`90s`, `5m`, `1h`, `24h`, `7d` -> timedelta."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration like 5m, 1h or 7d")
    return timedelta(**{_UNITS[text[-1]]: int(text[:-1])})


def bin_start(ts: datetime, stride: timedelta) -> datetime:
    """The start of the bucket holding `ts` (what `date_bin(stride, ts, ORIGIN)` returns)."""
    return ORIGIN + (ts - ORIGIN) // stride * stride


@dataclass(frozen=True)
class Window:
    label: str
    start: datetime
    end: datetime

    @classmethod
    def ending(cls, label: str, end: datetime | None) -> "Window":
        """The window `label` long that ends at `end` (default: now); 422 if too long."""
        length = parse_duration(label)
        if length > MAX_WINDOW:
            raise ApiError(422, "invalid_window", f"window {label} is longer than {MAX_WINDOW.days}d")
        end = (end or datetime.now(UTC)).astimezone(UTC)
        if end - EARLIEST < length:
            raise ApiError(422, "invalid_window", f"a window ends after {EARLIEST.date()} plus its length")
        return cls(label, end - length, end)

    def whole_hours(self) -> tuple[datetime, datetime]:
        """[h0, h1): the whole hours inside the window, read from the hourly rollup;
        the rest, [start, h0) and [h1, end], is read from raw events. Empty (h0 = h1 =
        start) when the window holds no whole hour."""
        h0, h1 = bin_start(self.start, HOUR), bin_start(self.end, HOUR)
        if h0 < self.start:
            h0 += HOUR
        return (h0, h1) if h0 < h1 else (self.start, self.start)

    def buckets(self, stride: timedelta) -> list[datetime]:
        """Start of every bucket overlapping the window, oldest first (422 if too many)."""
        first, last = bin_start(self.start, stride), bin_start(self.end, stride)
        count = (last - first) // stride + 1
        if count > MAX_BUCKETS:
            raise ApiError(
                422, "too_many_buckets", f"{count} buckets; at most {MAX_BUCKETS} per request"
            )
        return [first + i * stride for i in range(count)]
