"""Groq's rate limits: what a 429 says (how long to wait, which limit), and what the user is told.

Groq answers 429 with `retry-after` (seconds) and a body naming the limit that was hit, e.g.
"... on tokens per day (TPD): Limit 100000, Used 99523, Requested 1203. Please try again in
7m12.5s. ...". Its `x-ratelimit-*-tokens` headers are about the per-minute token limit and the
`-requests` ones about the per-day request limit, whichever was hit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from openai import RateLimitError

# A wait shorter than this passes unnoticed: no "one moment" for it.
NOTICEABLE_WAIT_SECS = 1.0
ONE_MOMENT = "One moment."
# When Groq says nothing of how long (no header, no words), assume about a minute.
UNKNOWN_WAIT_SECS = 60.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_TRY_AGAIN = re.compile(r"try again in\s+([\d.hms]+)", re.IGNORECASE)
_PERIOD = re.compile(r"per (day|minute|hour)|\((RPD|TPD|RPM|TPM|ASH|ASD)\)", re.IGNORECASE)
_PERIOD_OF_CODE = {"RPD": "day", "TPD": "day", "ASD": "day", "RPM": "minute", "TPM": "minute"}


def parse_duration(text: str | None) -> float | None:
    """Seconds in Groq's durations: "7m12.5s", "2m59.56s", "850ms", "1h2m", or plain "2"."""
    if not text:
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(number) * scale[unit] for number, unit in parts)


@dataclass(frozen=True)
class RateLimit:
    """What one 429 said."""

    wait_secs: float | None  # until a request can work again; None if Groq didn't say
    period: str | None  # "day", "hour" or "minute": the window of the limit that was hit
    detail: str  # Groq's own message

    @property
    def daily(self) -> bool:
        return self.period == "day"


def rate_limit_of(error: RateLimitError) -> RateLimit:
    headers = error.response.headers
    detail = _message(error.body) or str(error)
    wait = parse_duration(headers.get("retry-after"))
    if wait is None and (match := _TRY_AGAIN.search(detail)):
        wait = parse_duration(match.group(1).rstrip("."))
    period = None
    if match := _PERIOD.search(detail):
        word, code = match.groups()
        period = word.lower() if word else _PERIOD_OF_CODE.get(code.upper(), "hour")
    if wait is None:  # the reset of whichever window is exhausted
        for kind in ("tokens", "requests"):
            if headers.get(f"x-ratelimit-remaining-{kind}") == "0":
                wait = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
                if kind == "requests" and period is None:
                    period = "day"  # Groq's request headers are about requests per day
                break
    return RateLimit(wait, period, detail)


def _message(body: Any) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return None


def about(secs: float) -> str:
    """A spoken approximation: 'about 40 seconds', 'about 7 minutes', 'about 3 hours'."""
    if secs < 60:
        seconds = max(5, math.ceil(secs / 5) * 5)
        return f"about {seconds} seconds"
    if secs < 90 * 60:
        minutes = max(1, round(secs / 60))
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours = max(2, round(secs / 3600))
    return f"about {hours} hours"


def limit_message(limit: RateLimit, wait_secs: float) -> str:
    """What the user hears and sees when the language service refuses for a while."""
    which = {
        "day": "daily limit",
        "hour": "hourly limit",
        "minute": "per-minute limit",
    }.get(limit.period or "", "usage limit")
    return f"The language service's {which} is used up; it resets in {about(wait_secs)}."


class LLMRateLimitedError(Exception):
    """Groq refused the turn for longer than the turn can wait.

    ``first`` is False for the turns that follow while the limit lasts: those are not sent to
    Groq at all, and the user is not told again.
    """

    def __init__(self, limit: RateLimit, wait_secs: float, *, first: bool):
        self.limit = limit
        self.wait_secs = wait_secs
        self.first = first
        super().__init__(limit_message(limit, wait_secs))

    @property
    def message(self) -> str:
        return str(self)
