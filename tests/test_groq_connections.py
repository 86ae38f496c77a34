"""Turns don't wait for a new connection to Groq: one is opened while the greeting plays, and
idle connections are kept between turns (the openai SDK's default drops them after 5 s)."""

from __future__ import annotations

import asyncio

TRANSCRIBE = ("POST", "/openai/v1/audio/transcriptions")
CHAT = ("POST", "/openai/v1/chat/completions")
MODELS = ("GET", "/openai/v1/models")


def ports(fake_groq, method_path: tuple[str, str]) -> list[int]:
    return [port for method, path, port in fake_groq.request_log if (method, path) == method_path]


async def test_the_first_turn_finds_both_connections_open(headless, fake_groq, fake_cartesia):
    fake_groq.reply_text("Hello there.")
    async with headless.session() as live:
        await fake_groq.wait_for(lambda: len(ports(fake_groq, MODELS)) == 2)
        opened = set(ports(fake_groq, MODELS))

        await live.user_says("hello there")
        await live.wait_for_messages(lambda rows: any(m.role == "assistant" for m in rows))

    assert len(opened) == 2  # one for Whisper, one for the LLM
    assert set(ports(fake_groq, TRANSCRIBE)) < opened
    assert set(ports(fake_groq, CHAT)) < opened
    assert ports(fake_groq, TRANSCRIBE) != ports(fake_groq, CHAT)


async def test_whisper_keeps_its_connection_across_a_pause(headless, fake_groq, fake_cartesia):
    fake_groq.reply_text("One.")
    fake_groq.reply_text("Two.")
    async with headless.session() as live:
        await live.user_says("first thing")
        await live.wait_for_messages(lambda rows: sum(m.role == "assistant" for m in rows) == 1)
        await asyncio.sleep(5.5)  # longer than the SDK's default keep-alive
        await live.user_says("second thing")
        await live.wait_for_messages(lambda rows: sum(m.role == "assistant" for m in rows) == 2)

    first, second = ports(fake_groq, TRANSCRIBE)
    assert first == second
