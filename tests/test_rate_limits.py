"""Groq's rate limits said plainly: a short 429 is waited out ("one moment"), a long or daily
one is said once, shown to the page at every turn it refuses, and not asked again meanwhile."""

from __future__ import annotations

import asyncio
import math

import httpx
import openai
import pytest

from assistant.pipeline.rate_limits import ONE_MOMENT, about, parse_duration, rate_limit_of
from fakes.groq import rate_limit_reply


def spoken(fake_cartesia) -> str:
    return " ".join(r.get("transcript", "") for r in fake_cartesia.requests)


def rate_limit_error(reply) -> openai.RateLimitError:
    request = httpx.Request("POST", "https://api.groq.com/openai/v1/chat/completions")
    response = httpx.Response(429, headers=reply.headers, json=reply.body, request=request)
    return openai.RateLimitError("rate limited", response=response, body=reply.body)


@pytest.mark.parametrize(
    ("text", "secs"),
    [("7m12.5s", 432.5), ("2m59.56s", 179.56), ("850ms", 0.85), ("1h2m3s", 3723.0), ("2", 2.0)],
)
def test_groq_durations(text, secs):
    assert parse_duration(text) == pytest.approx(secs)


@pytest.mark.parametrize("text", ["", "soon", "7m12.5", "-3", "nan", "2x"])
def test_what_is_not_a_duration(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("kind", "per", "retry_after", "wait", "daily"),
    [
        ("tokens", "minute", 2, 2.0, False),
        ("requests", "minute", 7.2, 8.0, False),  # retry-after comes in whole seconds
        ("tokens", "day", 432.5, 433.0, True),
        ("requests", "day", 5400, 5400.0, True),
    ],
)
def test_what_a_groq_429_says(kind, per, retry_after, wait, daily):
    limit = rate_limit_of(rate_limit_error(rate_limit_reply(per=per, kind=kind, retry_after=2)))
    assert limit.wait_secs == 2.0 and limit.period == per
    limit = rate_limit_of(
        rate_limit_error(rate_limit_reply(per=per, kind=kind, retry_after=retry_after))
    )
    assert (limit.wait_secs, limit.daily) == (wait, daily)


def test_without_retry_after_the_words_say_how_long():
    reply = rate_limit_reply(per="day", kind="tokens", retry_after=432.5)
    del reply.headers["retry-after"]
    assert rate_limit_of(rate_limit_error(reply)).wait_secs == 432.5


@pytest.mark.parametrize(
    ("secs", "words"),
    [(3, "about 5 seconds"), (41, "about 45 seconds"), (432.5, "about 7 minutes"),
     (3 * 3600 + 100, "about 3 hours"), (60, "about 1 minute")],
)  # fmt: skip
def test_waits_are_said_roughly(secs, words):
    assert about(secs) == words


async def test_a_short_limit_is_waited_out_and_answered(headless, fake_groq, fake_cartesia):
    fake_groq.reply_rate_limit(per="minute", kind="tokens", retry_after=1)
    fake_groq.reply_text("Here is your answer.")
    async with headless.session() as live:
        await live.user_says("what is on my list")
        rows = await live.wait_for_messages(
            lambda rows: any(m.content == "Here is your answer." for m in rows)
        )
        await fake_cartesia.wait_for(lambda: "your answer" in spoken(fake_cartesia), timeout=10)
    said = spoken(fake_cartesia)
    assert said.index(ONE_MOMENT) < said.index("Here is your answer.")
    first, second = fake_groq.chat_requests
    assert first == second  # the same request, once the limit allowed it
    # "One moment" is about the service, not part of the conversation.
    assert [(m.role, m.content) for m in rows] == [
        ("user", "what is on my list"),
        ("assistant", "Here is your answer."),
    ]


@pytest.mark.parametrize(
    ("per", "retry_after", "message", "daily"),
    [
        (
            "day",
            432.5,
            "The language service's daily limit is used up; it resets in about 7 minutes.",
            True,
        ),
        (
            "minute",
            40,
            "The language service's per-minute limit is used up; it resets in about 40 seconds.",
            False,
        ),
    ],
    ids=["daily", "longer-than-a-turn"],
)
async def test_a_long_limit_is_said_once_and_the_page_told_at_each_turn(
    headless, fake_groq, fake_cartesia, per, retry_after, message, daily
):
    fake_groq.reply_rate_limit(per=per, kind="tokens", retry_after=retry_after)
    async with headless.session() as live:
        notices: list[dict] = []
        noticed = asyncio.Condition()
        notify = live.session.notify

        async def record(notice: dict) -> None:
            async with noticed:
                notices.append(notice)
                noticed.notify_all()
            await notify(notice)

        live.session.notify = record

        async def limit_notices(n: int) -> list[dict]:
            async with asyncio.timeout(15), noticed:
                await noticed.wait_for(
                    lambda: len([x for x in notices if x["type"] == "llm-limit"]) >= n
                )
            return [x for x in notices if x["type"] == "llm-limit"]

        await live.user_says("what is on my list")
        [first] = await limit_notices(1)
        await fake_cartesia.wait_for(lambda: message in spoken(fake_cartesia), timeout=10)
        await live.user_says("hello, are you there")
        second = (await limit_notices(2))[1]
        # Anything said now is said after whatever that turn made the assistant say.
        await live.session.say("Marker.")
        await fake_cartesia.wait_for(lambda: "Marker." in spoken(fake_cartesia), timeout=10)
        rows = await live.wait_for_messages(lambda rows: any(m.content == "Marker." for m in rows))

    assert first == {
        "type": "llm-limit",
        "message": message,
        "daily": daily,
        "resets_in_secs": math.ceil(retry_after),  # Groq sends whole seconds
    }
    assert second["message"] == first["message"] and second["type"] == "llm-limit"
    assert 0 < second["resets_in_secs"] <= first["resets_in_secs"]
    assert spoken(fake_cartesia).count(message) == 1  # heard once, not at every turn
    assert len(fake_groq.chat_requests) == 1  # Groq not asked again before the reset
    # Both turns' words are kept for when the service is back; the notice is not.
    assert [(m.role, m.content) for m in rows if m.role == "user"] == [
        ("user", "what is on my list"),
        ("user", "hello, are you there"),
    ]
    assert not any(m.content == message for m in rows)
