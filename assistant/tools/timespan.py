"""When something was said, from the user's words: "yesterday", "last week", "in March".

A pure function of the words, the clock and the user's zone. The calendar words people use
for the past are read here (a window, in the user's zone: "last week" is Monday to Monday);
dateparser, which gives a point rather than a window, reads any other date ("on the 3rd of
May", "2025-03-03") as that day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from loguru import logger

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
SMALL_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a couple of": 2,
    "a few": 3,
    "several": 4,
}
RECENTLY = timedelta(days=14)
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_COUNT = r"(\d+|a couple of|a few|several|an?|one|two|three|four|five|six|seven|eight|nine|ten)"


@dataclass(frozen=True, slots=True)
class TimeSpan:
    """``since <= t < until`` in UTC (either may be None: unbounded), and the words read."""

    since: datetime | None
    until: datetime | None
    phrase: str


def _count(word: str) -> int:
    return int(word) if word.isdigit() else SMALL_NUMBERS[word]


def _month_start(year: int, month: int) -> date:
    while month < 1:
        month, year = month + 12, year - 1
    while month > 12:
        month, year = month - 12, year + 1
    return date(year, month, 1)


def _latest_month(today: date, month: int, year: int | None) -> date:
    """The named month: of the given year, else this year's if it has begun, else last year's."""
    if year is not None:
        return date(year, month, 1)
    return date(today.year if month <= today.month else today.year - 1, month, 1)


def _latest_weekday(today: date, weekday: int) -> date:
    """The last such day before today ("on Monday", said on a Monday, is a week ago)."""
    back = (today.weekday() - weekday) % 7 or 7
    return today - timedelta(days=back)


def _local_windows(
    text: str, today: date, now_local: datetime
) -> tuple[date | datetime | None, date | datetime | None, str] | None:
    """The first time phrase in ``text`` as local (start, end, phrase); days are dates."""
    week_start = today - timedelta(days=today.weekday())
    month_start = today.replace(day=1)
    for pattern, kind in _RULES:
        m = re.search(pattern, text)
        if m is None:
            continue
        window = _window(kind, m, today, now_local, week_start, month_start)
        if window is not None:
            return (*window, m.group(0))
    return None


_RULES: list[tuple[str, str]] = [
    (r"\bthe day before yesterday\b", "day before yesterday"),
    (r"\b(?:yesterday|last night)\b", "yesterday"),
    (r"\bthis morning\b", "this morning"),
    (r"\b(?:earlier )?today\b|\btonight\b|\bthis (?:afternoon|evening)\b", "today"),
    (r"\b(?:last weekend|over the weekend|this weekend)\b", "weekend"),
    (r"\bthis week\b", "this week"),
    (r"\b(?:last week|the other week)\b", "last week"),
    (r"\bthis month\b", "this month"),
    (r"\blast month\b", "last month"),
    (r"\bthis year\b", "this year"),
    (r"\blast year\b", "last year"),
    (rf"\b{_COUNT} (day|week|month|year)s? ago\b", "ago"),
    (rf"\bin the (?:last|past) {_COUNT} (day|week|month|year)s?\b", "in the last n"),
    (r"\bin the (?:last|past) (day|week|month|year)\b", "in the last"),
    (r"\b(?:recently|lately|the other day)\b", "recently"),
    (rf"\b(?:on |last |this )?({'|'.join(WEEKDAYS)})\b", "weekday"),
    (
        rf"\b(?:on |in )?(?:the )?(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({_MONTH_NAMES})\b"
        r"(?:,? (\d{4}))?",
        "day month",
    ),
    (rf"\b(?:on )?({_MONTH_NAMES}) (\d{{1,2}})(?:st|nd|rd|th)?\b(?:,? (\d{{4}}))?", "month day"),
    (rf"\b(in |during |last |this )?({_MONTH_NAMES})\b(?: (\d{{4}}))?", "month"),
    (r"\b(?:in |during )(\d{4})\b", "year"),
]


def _window(
    kind: str,
    m: re.Match[str],
    today: date,
    now_local: datetime,
    week_start: date,
    month_start: date,
) -> tuple[date | datetime | None, date | datetime | None] | None:
    groups = m.groups()
    if kind == "day before yesterday":
        return today - timedelta(days=2), today - timedelta(days=1)
    if kind == "yesterday":
        return today - timedelta(days=1), today
    if kind == "this morning":
        return today, datetime.combine(today, time(12), now_local.tzinfo)
    if kind == "today":
        return today, None
    if kind == "weekend":
        saturday = week_start + timedelta(days=5)
        if not m.group(0).startswith("last") and today >= saturday:  # said during it
            return saturday, None
        return saturday - timedelta(days=7), saturday - timedelta(days=5)
    if kind == "this week":
        return week_start, None
    if kind == "last week":
        return week_start - timedelta(days=7), week_start
    if kind == "this month":
        return month_start, None
    if kind == "last month":
        return _month_start(today.year, today.month - 1), month_start
    if kind == "this year":
        return date(today.year, 1, 1), None
    if kind == "last year":
        return date(today.year - 1, 1, 1), date(today.year, 1, 1)
    if kind == "ago":
        n, unit = _count(groups[0]), groups[1]
        if unit == "day":
            day = today - timedelta(days=n)
            # People round: "three days ago" may be two or four.
            return day - timedelta(days=1), day + timedelta(days=2)
        if unit == "week":
            start = week_start - timedelta(days=7 * n)
            return start - timedelta(days=3), start + timedelta(days=10)
        if unit == "month":
            return (
                _month_start(today.year, today.month - n),
                _month_start(today.year, today.month - n + 1),
            )
        return date(today.year - n, 1, 1), date(today.year - n + 1, 1, 1)
    if kind in {"in the last n", "in the last"}:
        n = _count(groups[0]) if kind == "in the last n" else 1
        days = {"day": 1, "week": 7, "month": 31, "year": 366}[groups[-1]] * n
        return today - timedelta(days=days), None
    if kind == "recently":
        return today - RECENTLY, None
    if kind == "weekday":
        day = _latest_weekday(today, WEEKDAYS.index(groups[0]))
        return day, day + timedelta(days=1)
    if kind == "day month":
        return _day_of(today, MONTHS[groups[1]], int(groups[0]), groups[2])
    if kind == "month day":
        return _day_of(today, MONTHS[groups[0]], int(groups[1]), groups[2])
    if kind == "month":
        said_as_month = groups[0] is not None or groups[2] is not None
        if groups[1] in {"may", "mar"} and not said_as_month:
            return None  # "may" the verb, "mar" the word: a month only when said as one
        start = _latest_month(today, MONTHS[groups[1]], int(groups[2]) if groups[2] else None)
        return start, _month_start(start.year, start.month + 1)
    if kind == "year":
        return date(int(groups[0]), 1, 1), date(int(groups[0]) + 1, 1, 1)
    return None


def _day_of(today: date, month: int, day: int, year: str | None) -> tuple[date, date] | None:
    try:
        when = date(int(year) if year else today.year, month, day)
    except ValueError:
        return None
    if year is None and when > today:
        when = when.replace(year=when.year - 1)
    return when, when + timedelta(days=1)


def _to_utc(value: date | datetime | None, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0), zone)
    return value.astimezone(UTC)


def time_span(
    text: str, now: datetime, timezone: str = "UTC", *, other_dates: bool = True
) -> TimeSpan | None:
    """The time window ``text`` names, in the user's zone, or None if it names none.

    "since …" keeps the start only and "before …" the end only. With ``other_dates``, any other
    date is read by dateparser when ``text`` is short and has a digit ("3/4/2025"): for words
    that are meant as a time, not for a search's words ("10k" is no date, and dateparser takes
    milliseconds).
    """
    zone = ZoneInfo(timezone)
    now_local = now.astimezone(zone)
    today = now_local.date()
    lowered = " ".join(text.lower().split())
    found = _local_windows(lowered, today, now_local)
    if found is None and other_dates:
        found = _dateparser_day(lowered, now_local)
    if found is None:
        return None
    start, end, phrase = found
    since, until = _to_utc(start, zone), _to_utc(end, zone)
    if until is not None and until > now:
        until = None  # nothing was said in the future
    before = re.search(r"\b(since|after|before|until)\s+" + re.escape(phrase), lowered)
    if before is not None:
        phrase = before.group(0)
        if before.group(1) in {"since", "after"}:
            since, until = (until if before.group(1) == "after" else since), None
        else:
            since, until = None, since
    return TimeSpan(since, until, phrase)


def _dateparser_day(text: str, now_local: datetime) -> tuple[date, date, str] | None:
    if len(text) > 40 or not re.search(r"\d", text):
        return None
    import dateparser  # on first use, as the reminder tools do (the warm-up imports it)

    settings = {
        "PREFER_DATES_FROM": "past",
        "RELATIVE_BASE": now_local.replace(tzinfo=None),
        "REQUIRE_PARTS": ["day"],
    }
    try:
        parsed = dateparser.parse(text, languages=["en"], settings=settings)
    except Exception:  # dateparser has overflow and regex edge cases on odd input
        logger.opt(exception=True).debug(f"dateparser failed on {text!r}")
        return None
    if parsed is None:
        return None
    day = parsed.date()
    return day, day + timedelta(days=1), text


def without_phrase(text: str, phrase: str) -> str:
    """``text`` with the time phrase taken out (the search should not look for "week")."""
    pattern = re.compile(r"\s*".join(re.escape(part) for part in phrase.split()), re.IGNORECASE)
    return " ".join(pattern.sub(" ", text, count=1).split())
