"""Typing in a real browser: a note typed without a call shows in the Notes pane; a message
typed during a call is answered by voice (the fake Cartesia's audio reaches the page); each
reply shows its timings."""

from __future__ import annotations

import re

from playwright.async_api import async_playwright, expect

from assistant.store.repository import NoteRepository, UserRepository
from assistant.tools.registry import default_tools
from fakes.speech import speech_wav
from tests.live_server import pin_ice_to_loopback, running_server
from tests.test_browser import (
    ARTIFACTS,
    INBOUND_AUDIO_ENERGY,
    _browser_available,  # noqa: F401 (autouse: Chromium and the speech tools are there)
    chromium_page,
    sign_in,
    start_talking,
)

DURATION = r"(\d+ ms|\d+\.\d\d s)"  # how the page shows a timing


async def send_typed(page, text: str) -> None:
    await page.get_by_test_id("type-text").fill(text)
    await page.get_by_test_id("type-text").press("Enter")


async def test_type_a_note_without_a_call(settings, db, fake_groq, fake_cartesia, monkeypatch):
    pin_ice_to_loopback(monkeypatch)
    ARTIFACTS.mkdir(exist_ok=True)
    fake_groq.reply_tool_call("take_note", {"content": "buy oat milk"})
    fake_groq.reply_text("Noted: buy oat milk.", chunk_delay=0.01)
    wav = speech_wav("hello", lead_silence=30.0)  # never used: no call is made
    async with running_server(settings, db, default_tools) as base_url, async_playwright() as pw:
        async with chromium_page(pw, wav) as (page, errors):
            await page.goto(base_url + "/")
            await sign_in(page)
            await send_typed(page, "note that I need to buy oat milk")

            await expect(page.get_by_test_id("transcript-user").last).to_have_text(
                "note that I need to buy oat milk"
            )
            reply = page.get_by_test_id("transcript-assistant").last
            await expect(reply).to_have_text("Noted: buy oat milk.", timeout=20_000)
            await expect(page.get_by_test_id("note-item").first).to_contain_text(
                "buy oat milk", timeout=10_000
            )
            # The reply's timings: on hover (title), and a line under it on tap.
            await expect(reply).to_have_attribute("title", re.compile(rf"^first token {DURATION}$"))
            await reply.click()
            timings = page.get_by_test_id("reply-timings").last
            await expect(timings).to_be_visible()
            await expect(timings).not_to_contain_text("speech to text")
            await expect(page.get_by_test_id("status")).to_have_text("idle")  # no call
            await page.screenshot(path=ARTIFACTS / "browser-typed-note.png", full_page=True)

    async with db.transaction() as store:
        alice = await UserRepository(store).get_by_name("alice")
        notes = await NoteRepository(store, alice.id).recent()
    assert [n.content for n in notes] == ["buy oat milk"]
    assert fake_cartesia.connections == []  # no voice needed
    assert errors == []


async def test_type_during_a_call_and_hear_the_reply(
    settings, db, fake_groq, fake_cartesia, monkeypatch
):
    pin_ice_to_loopback(monkeypatch)
    ARTIFACTS.mkdir(exist_ok=True)
    wav = speech_wav("hello", lead_silence=30.0)  # a quiet microphone: nobody speaks
    async with running_server(settings, db, default_tools) as base_url, async_playwright() as pw:
        async with chromium_page(pw, wav) as (page, errors):
            await page.goto(base_url + "/")
            await sign_in(page)
            await start_talking(page)
            await expect(page.get_by_test_id("transcript-assistant").last).to_contain_text(
                "What can I do for you", timeout=20_000
            )
            # The greeting has been heard; what the page hears next is the typed turn's reply.
            await page.wait_for_function(f"({INBOUND_AUDIO_ENERGY})().then(e => e > 0.01)")
            before = await page.evaluate(INBOUND_AUDIO_ENERGY)

            fake_groq.reply_text("Yes, I can hear you type.")
            await send_typed(page, "can you read this?")

            await expect(page.get_by_test_id("transcript-user").last).to_have_text(
                "can you read this?"
            )
            reply = page.get_by_test_id("transcript-assistant").last
            await expect(reply).to_contain_text("I can hear you type", timeout=20_000)
            await page.wait_for_function(
                f"({INBOUND_AUDIO_ENERGY})().then(e => e > {before} + 0.01)", timeout=20_000
            )
            await expect(reply).to_have_attribute(
                "title",
                re.compile(rf"^first token {DURATION} · first audio {DURATION}$"),
                timeout=20_000,
            )
            await expect(page.get_by_test_id("status")).to_have_text("connected")
            await page.screenshot(path=ARTIFACTS / "browser-typed-in-call.png", full_page=True)
            request = fake_groq.chat_requests[-1]["messages"]
            assert request[-1]["role"] == "user" and "can you read this?" in request[-1]["content"]
    assert errors == []
