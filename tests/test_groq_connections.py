"""Turns don't wait for a new connection to Groq: one is opened while the greeting plays, and
idle connections are kept between turns (the openai SDK's default drops them after 5 s)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import httpcore2._async.http11

TRANSCRIBE = ("POST", "/openai/v1/audio/transcriptions")
CHAT = ("POST", "/openai/v1/chat/completions")
MODELS = ("GET", "/openai/v1/models")


def ports(fake_groq, method_path: tuple[str, str]) -> list[int]:
    return [port for method, path, port in fake_groq.request_log if (method, path) == method_path]


async def test_the_first_turn_finds_both_connections_open(headless, fake_groq, fake_cartesia):
    fake_groq.reply_text("Hello there.")
    async with headless.session() as live:
        # Only a guard against hanging: a session's start is slow on a loaded machine.
        await fake_groq.wait_for(lambda: len(ports(fake_groq, MODELS)) == 2, timeout=30)
        opened = set(ports(fake_groq, MODELS))

        await live.user_says("hello there")
        await live.wait_for_messages(lambda rows: any(m.role == "assistant" for m in rows))

    assert len(opened) == 2  # one for Whisper, one for the LLM
    assert set(ports(fake_groq, TRANSCRIBE)) < opened
    assert set(ports(fake_groq, CHAT)) < opened
    assert ports(fake_groq, TRANSCRIBE) != ports(fake_groq, CHAT)


class SkewedClock:
    """The clock the openai SDK's HTTP/1.1 connections (httpx2, httpcore2) read to expire idle
    ones, moved on at will. The test checks it was read, so a library that stops reading it
    fails the test instead of passing it unchecked."""

    def __init__(self) -> None:
        self.skew = 0.0
        self.reads = 0

    def monotonic(self) -> float:
        self.reads += 1
        return time.monotonic() + self.skew


async def test_whisper_keeps_its_connection_across_a_pause(
    headless, fake_groq, fake_cartesia, monkeypatch
):
    clock = SkewedClock()
    monkeypatch.setattr(httpcore2._async.http11, "time", SimpleNamespace(monotonic=clock.monotonic))
    fake_groq.reply_text("One.")
    fake_groq.reply_text("Two.")
    async with headless.session() as live:
        await live.user_says("first thing")
        await live.wait_for_messages(lambda rows: sum(m.role == "assistant" for m in rows) == 1)
        clock.skew += 3600  # an hour's pause, far past the SDK's default keep-alive (5 s)
        reads = clock.reads
        await live.user_says("second thing")
        await live.wait_for_messages(lambda rows: sum(m.role == "assistant" for m in rows) == 2)

    assert clock.reads > reads  # the pool looked at the moved clock before reusing a connection
    first, second = ports(fake_groq, TRANSCRIBE)
    assert first == second
