"""Limits: at most MAX_VOICE_SESSIONS live voice sessions per server and two per user; the next
offer gets a 503 whose message the page shows."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from assistant.runtime.live_sessions import TooManySessions, VoiceBots
from fakes.rtc_client import RTCClient
from fakes.speech import require_speech_tools, speech_wav
from tests.live_server import pin_ice_to_loopback, running_server


def test_slots_count_per_server_and_per_user(settings, db):
    bots = VoiceBots(settings.model_copy(update={"max_voice_sessions": 3}), db, None)
    first = bots.reserve(1, "a1")
    bots.reserve(1, "a2")
    with pytest.raises(TooManySessions, match="You already have 2 voice sessions"):
        bots.reserve(1, "a3")
    # Taking a1 over from another tab: that session ends as this one starts, so it is not counted.
    taken_over = bots.reserve(1, "a1")
    bots.release(first)
    bots.reserve(2, "b1")
    with pytest.raises(TooManySessions, match="busy: 3 voice sessions are live"):
        bots.reserve(3, "c1")
    taken_over.pc_id = "pc-1"
    assert bots.serves("pc-1") and not bots.serves(None) and not bots.serves("pc-2")
    bots.release(taken_over)
    assert not bots.serves("pc-1")
    bots.reserve(3, "c1")


async def test_the_next_offer_gets_503_and_a_freed_slot_is_taken(
    settings, db, fake_groq, fake_cartesia, monkeypatch
):
    require_speech_tools()
    pin_ice_to_loopback(monkeypatch)
    limited = settings.model_copy(update={"max_voice_sessions": 3})
    quiet = speech_wav("hello", lead_silence=30.0)  # nobody speaks
    async with running_server(limited, db, lambda context: []) as base_url:
        async with contextlib.AsyncExitStack() as stack:

            async def tab(user: str) -> RTCClient:
                http = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url))
                response = await http.post("/api/session", json={"user": user})
                response.raise_for_status()
                client = RTCClient(http)
                stack.push_async_callback(client.close)
                return client

            async def refused(client: RTCClient) -> str:
                with pytest.raises(httpx.HTTPStatusError) as error:
                    await client.connect(quiet)
                assert error.value.response.status_code == 503
                return error.value.response.json()["detail"]

            alice_1, alice_2 = await tab("alice"), await tab("alice")
            await alice_1.connect(quiet)
            await alice_2.connect(quiet)
            detail = await refused(await tab("alice"))
            assert detail.startswith("You already have 2 voice sessions open")
            await (await tab("bob")).connect(quiet)
            assert (await refused(await tab("carol"))).startswith("The assistant is busy")

            # Alice hangs up one: once its session is over, carol gets in.
            await alice_1.close()
            async with httpx.AsyncClient(base_url=base_url) as http:
                for _ in range(600):  # polled: the server's side of a hang-up has no event here
                    if (await http.get("/healthz")).json()["voice_sessions"] == 2:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("alice's first session never ended")
            carol = await tab("carol")
            await carol.connect(quiet)
            await carol.wait_until(lambda: carol.server_messages("session"))
