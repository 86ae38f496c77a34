"""Time bounds from the user's words, in their zone, against a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistant.tools import timespan
from assistant.tools.timespan import time_span, without_phrase

# Friday 14 March 2025, 15:30 UTC: 16:30 in Madrid, already Saturday 00:30 in Tokyo.
NOW = datetime(2025, 3, 14, 15, 30, tzinfo=UTC)


def local(zone: str, *parts: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(UTC)


M = "Europe/Madrid"


@pytest.mark.parametrize(
    ("words", "since", "until"),
    [
        ("yesterday", (2025, 3, 13), (2025, 3, 14)),
        ("what did we say last night", (2025, 3, 13), (2025, 3, 14)),
        ("the day before yesterday", (2025, 3, 12), (2025, 3, 13)),
        ("earlier today", (2025, 3, 14), None),
        ("this week", (2025, 3, 10), None),
        ("last week", (2025, 3, 3), (2025, 3, 10)),
        ("the trip last week", (2025, 3, 3), (2025, 3, 10)),
        ("last weekend", (2025, 3, 8), (2025, 3, 10)),
        ("on Monday", (2025, 3, 10), (2025, 3, 11)),
        ("last Friday", (2025, 3, 7), (2025, 3, 8)),
        ("this month", (2025, 3, 1), None),
        ("last month", (2025, 2, 1), (2025, 3, 1)),
        ("in March", (2025, 3, 1), None),
        ("in December", (2024, 12, 1), (2025, 1, 1)),
        ("in May", (2024, 5, 1), (2024, 6, 1)),
        ("3rd of February", (2025, 2, 3), (2025, 2, 4)),
        ("Feb 3", (2025, 2, 3), (2025, 2, 4)),
        ("three days ago", (2025, 3, 10), (2025, 3, 13)),
        ("a couple of weeks ago", (2025, 2, 21), (2025, 3, 6)),
        ("two months ago", (2025, 1, 1), (2025, 2, 1)),
        ("last year", (2024, 1, 1), (2025, 1, 1)),
        ("in 2023", (2023, 1, 1), (2024, 1, 1)),
        ("recently", (2025, 2, 28), None),
        ("in the past 3 days", (2025, 3, 11), None),
        ("since January", (2025, 1, 1), None),
        ("before last week", None, (2025, 3, 3)),
        ("2025-02-10", (2025, 2, 10), (2025, 2, 11)),
    ],
)
def test_windows_in_the_users_zone(words, since, until):
    span = time_span(words, NOW, M)
    assert span is not None, words
    assert span.since == (local(M, *since) if since else None)
    assert span.until == (local(M, *until) if until else None)


def test_the_users_day_not_utcs():
    # In Tokyo it is already Saturday: yesterday there is Friday.
    span = time_span("yesterday", NOW, "Asia/Tokyo")
    assert span is not None
    assert (span.since, span.until) == (
        local("Asia/Tokyo", 2025, 3, 14),
        local("Asia/Tokyo", 2025, 3, 15),
    )


@pytest.mark.parametrize(
    "words", ["", "my sister's wedding", "I may have said", "whenever", "the 45th"]
)
def test_no_time_named(words):
    assert time_span(words, NOW, M) is None


def test_without_phrase():
    assert without_phrase("the Porto trip last week", "last week") == "the Porto trip"
    assert without_phrase("Last  Week trip", "last week") == "trip"


def test_a_searchs_words_are_not_given_to_dateparser(monkeypatch):
    # dateparser takes milliseconds and "10k" is no date: a search's words get the calendar
    # words only.
    def refuse(*_args):
        raise AssertionError("dateparser was asked")

    monkeypatch.setattr(timespan, "_dateparser_day", refuse)
    assert time_span("my 10k running times", NOW, M, other_dates=False) is None
    assert time_span("the 10k last week", NOW, M, other_dates=False) is not None
    with pytest.raises(AssertionError):
        time_span("my 10k running times", NOW, M)
