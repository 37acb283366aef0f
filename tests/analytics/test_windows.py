"""Window arithmetic, without a server."""

from datetime import UTC, datetime, timedelta

import pytest

from coedit.analytics.windows import Window, bin_start, parse_duration
from coedit.common.errors import ApiError

END = datetime(2026, 3, 4, 10, 17, 5, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("90s", timedelta(seconds=90)), ("5m", timedelta(minutes=5)),
    ("1h", timedelta(hours=1)), ("24h", timedelta(days=1)), ("7d", timedelta(days=7)),
])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0h", "1w", "h", "-1h", "1.5h", "1h "])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_bins_align_to_utc_multiples():
    assert bin_start(END, timedelta(hours=1)) == datetime(2026, 3, 4, 10, tzinfo=UTC)
    assert bin_start(END, timedelta(minutes=5)) == datetime(2026, 3, 4, 10, 15, tzinfo=UTC)
    assert bin_start(END, timedelta(days=1)) == datetime(2026, 3, 4, tzinfo=UTC)


def test_window_is_inclusive_and_splits_into_whole_hours():
    window = Window.ending("24h", END)
    assert (window.start, window.end) == (END - timedelta(hours=24), END)
    assert window.whole_hours() == (datetime(2026, 3, 3, 11, tzinfo=UTC),
                                    datetime(2026, 3, 4, 10, tzinfo=UTC))


def test_short_windows_have_no_whole_hours():
    window = Window.ending("1h", END)
    assert window.whole_hours() == (window.start, window.start)
    aligned = Window.ending("1h", datetime(2026, 3, 4, 10, tzinfo=UTC))
    assert aligned.whole_hours() == (aligned.start, aligned.end)


def test_buckets_cover_the_window():
    assert Window.ending("1h", END).buckets(timedelta(minutes=30)) == [
        datetime(2026, 3, 4, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 4, 9, 30, tzinfo=UTC),
        datetime(2026, 3, 4, 10, 0, tzinfo=UTC),
    ]


def test_limits():
    with pytest.raises(ApiError, match="longer than"):
        Window.ending("400d", END)
    with pytest.raises(ApiError, match="buckets"):
        Window.ending("7d", END).buckets(timedelta(minutes=1))
