"""End to end in a real browser: Debian's Chromium, a fake microphone, the real server, the fakes.

Speech reaches VAD and STT, the scripted LLM takes a note, the note shows in the page and in the
database, the fake TTS audio reaches the browser, and a reload + resume carries the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from assistant.store.repository import (
    ConversationRepository,
    NoteRepository,
    UsageRepository,
    UserRepository,
)
from assistant.tools.registry import default_tools
from fakes.speech import require_speech_tools, speech_wav
from tests.live_server import pin_ice_to_loopback, running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(autouse=True)
def _browser_available():
    require_speech_tools()
    if not Path(CHROMIUM).exists():
        reason = "needs Debian's chromium (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def chromium_args(wav: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
    ]


INBOUND_AUDIO_ENERGY = """async () => {
  const pc = window.assistantUI.state.session && window.assistantUI.state.session.pc;
  if (!pc) return 0;
  let energy = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'audio') energy += r.totalAudioEnergy || 0;
  });
  return energy;
}"""


@contextlib.asynccontextmanager
async def chromium_page(pw, wav: Path):
    """A page in Debian's Chromium whose microphone plays ``wav``, and the page errors it
    raises (each test asserts there were none); the browser is closed on the way out."""
    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args(wav))
    try:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page, errors
    finally:
        await browser.close()


async def sign_in(page, user: str = "alice") -> None:
    await page.get_by_test_id("user-name").fill(user)
    await page.get_by_test_id("user-continue").click()


async def start_talking(page) -> None:
    from playwright.async_api import expect

    await page.get_by_test_id("connect").click()
    await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=20_000)


# Records each state the page's voice status takes ("out", "back", "none" when hidden).
RECORD_VOICE_STATUS = """() => {
  const node = document.querySelector('[data-testid="voice-status"]');
  window.voiceStatusChanges = [];
  new MutationObserver(() => window.voiceStatusChanges.push(node.dataset.voice || 'none'))
    .observe(node, { attributes: true, attributeFilter: ['data-voice'] });
}"""


async def test_talk_take_a_note_and_resume_in_chromium(
    settings, db, fake_groq, fake_cartesia, monkeypatch
):
    from playwright.async_api import async_playwright, expect

    pin_ice_to_loopback(monkeypatch)
    ARTIFACTS.mkdir(exist_ok=True)
    wav = speech_wav("please take a note buy oat milk", lead_silence=3.0, tail_silence=2.0)
    fake_groq.transcribe("please take a note: buy oat milk")
    fake_groq.reply_tool_call("take_note", {"content": "buy oat milk"})
    fake_groq.reply_text("Done. I noted: buy oat milk.")

    foreign_requests: list[str] = []
    async with running_server(settings, db, default_tools) as base_url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args(wav))
        context = await browser.new_context(viewport={"width": 1280, "height": 800})

        async def guard(route):
            host = urlsplit(route.request.url).hostname
            if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
                await route.continue_()
            else:
                foreign_requests.append(route.request.url)
                await route.abort()

        await context.route("**/*", guard)
        page = await context.new_page()
        console_errors: list[str] = []
        page.on("pageerror", lambda error: console_errors.append(str(error)))
        try:
            await page.goto(base_url + "/")
            await sign_in(page)
            await start_talking(page)

            # Speech → VAD → STT → LLM tool call → note in the pane and in the database.
            await expect(page.get_by_test_id("note-item").first).to_contain_text(
                "buy oat milk", timeout=30_000
            )
            await expect(page.get_by_test_id("transcript-user").first).to_contain_text(
                "buy oat milk", timeout=10_000
            )
            await expect(page.get_by_test_id("transcript-assistant").last).to_contain_text(
                "I noted", timeout=15_000
            )
            await page.wait_for_function(f"({INBOUND_AUDIO_ENERGY})().then(e => e > 0.01)")
            await page.screenshot(path=ARTIFACTS / "browser-conversation.png", full_page=True)

            async with db.transaction() as store:
                alice = await UserRepository(store).get_by_name("alice")
                notes = await NoteRepository(store, alice.id).recent()
            assert [n.content for n in notes] == ["buy oat milk"]
            second = fake_groq.chat_requests[1]["messages"]
            assert any(m["role"] == "tool" and "buy oat milk" in m["content"] for m in second)

            # Reload, resume that conversation from the list, speak again.
            await page.get_by_test_id("disconnect").click()
            await expect(page.get_by_test_id("status")).to_have_text("idle", timeout=10_000)
            fake_groq.transcribe("what did I ask you to note")
            fake_groq.reply_text("You asked me to note: buy oat milk.")
            await page.reload()
            if await page.get_by_test_id("user-continue").is_visible():
                await sign_in(page)
            item = page.get_by_test_id("conversation-item").filter(has_text="take a note")
            await item.get_by_test_id("resume").click()
            await expect(page.get_by_test_id("transcript-user").first).to_contain_text(
                "buy oat milk"
            )
            await start_talking(page)
            await fake_groq.wait_for_chat_requests(3, timeout=30)
            history = str(fake_groq.chat_requests[2]["messages"])
            assert "please take a note: buy oat milk" in history
            assert "I noted: buy oat milk" in history
            await page.screenshot(path=ARTIFACTS / "browser-resumed.png", full_page=True)
        finally:
            await browser.close()

    assert foreign_requests == []
    assert console_errors == []
    assert fake_groq.protocol_errors == []


async def test_a_second_tab_takes_the_conversation_over(
    settings, db, fake_groq, fake_cartesia, monkeypatch
):
    from playwright.async_api import async_playwright, expect

    pin_ice_to_loopback(monkeypatch)
    wav = speech_wav("hello", lead_silence=30.0)  # a quiet microphone: nobody speaks
    async with running_server(settings, db, default_tools) as base_url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args(wav))
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        first = await context.new_page()
        console_errors: list[str] = []
        first.on("pageerror", lambda error: console_errors.append(str(error)))
        try:
            await first.goto(base_url + "/")
            await sign_in(first)
            await start_talking(first)

            conversation_id = await first.evaluate("window.assistantUI.state.conversationId")
            for _ in range(100):  # listed once it has a message: the greeting, once spoken
                listed = await (await first.request.get(base_url + "/api/conversations")).json()
                if any(c["id"] == conversation_id and c["message_count"] for c in listed):
                    break
                await first.wait_for_timeout(100)

            # Same browser and user, another tab, resuming that conversation from the list.
            second = await context.new_page()
            second.on("pageerror", lambda error: console_errors.append(str(error)))
            await second.goto(base_url + "/")
            await sign_in(second)
            item = second.locator(f'[data-conversation-id="{conversation_id}"]')
            await item.get_by_test_id("resume").click()
            await start_talking(second)

            # The first tab is told, and its call ends without "the assistant hung up".
            toast = first.get_by_test_id("toast").filter(has_text="Continued elsewhere")
            await expect(toast).to_be_visible(timeout=10_000)
            await expect(first.get_by_test_id("status")).to_have_text("idle", timeout=10_000)
            await expect(first.get_by_test_id("toast").filter(has_text="hung up")).to_have_count(0)
            await expect(second.get_by_test_id("status")).to_have_text("connected")
            await first.screenshot(path=ARTIFACTS / "browser-moved.png", full_page=True)
        finally:
            await browser.close()

    assert console_errors == []


# What pipecat last reports in each outage, once nothing more will change: it gave up
# reconnecting, or the greeting (all there is to say: nobody speaks) was shown without audio.
SETTLED = {"mid-call": "failed to reconnect", "from the start": "completed with no audio"}


@pytest.mark.parametrize("when", ["mid-call", "from the start"])
async def test_the_page_says_when_voice_is_out(
    settings, db, fake_groq, fake_cartesia, monkeypatch, when
):
    """Cartesia drops and refuses to reconnect, or refuses from the start: the page says, in one
    place and once, that replies are shown as text, and the call goes on."""
    from playwright.async_api import async_playwright, expect

    from assistant.pipeline import tts

    monkeypatch.setattr(tts, "RECONNECT_BACKOFF_SECS", (0.05, 0.1))
    pin_ice_to_loopback(monkeypatch)
    wav = speech_wav("hello", lead_silence=30.0)  # a quiet microphone: nobody speaks
    async with running_server(settings, db, default_tools) as base_url, async_playwright() as pw:
        async with chromium_page(pw, wav) as (page, console_errors):
            warnings: list[str] = []
            page.on("console", lambda message: warnings.append(message.text))
            await page.goto(base_url + "/")
            await sign_in(page)
            await page.evaluate(RECORD_VOICE_STATUS)
            if when == "from the start":
                fake_cartesia.fail_next_connection(503, times=1000)
            await start_talking(page)
            if when == "mid-call":
                # Once the greeting is synthesized: then only pipecat's reconnects try Cartesia.
                await fake_cartesia.wait_for_done(timeout=15)
                fake_cartesia.fail_next_connection(503, times=1000)
                await fake_cartesia.drop_connections()

            status = page.get_by_test_id("voice-status")
            await expect(status).to_be_visible(timeout=15_000)
            await expect(status).to_contain_text("Voice unavailable")
            await expect(status).to_contain_text("shown here as text")
            # pipecat's own errors on the way (refused connects, silent replies) reached the
            # page and stayed in the console; the last of them says the outage has settled.
            for _ in range(200):
                if any(SETTLED[when] in text for text in warnings):
                    break
                await page.wait_for_timeout(100)
            assert any(SETTLED[when] in text for text in warnings), warnings
            assert await page.evaluate("window.voiceStatusChanges") == ["out"]
            await expect(page.get_by_test_id("toast")).to_have_count(0)
            await expect(page.get_by_test_id("status")).to_have_text("connected")
            # The greeting is shown, and not as if it were still being said.
            greeting = page.locator(".row.assistant").filter(has_text="What can I do for you?")
            await expect(greeting).to_have_count(1)
            await expect(page.locator(".row.assistant.live")).to_have_count(0)
            # ...and stored: the conversation is listed.
            await expect(page.get_by_test_id("conversation-item")).to_have_count(1)
            shot = f"browser-voice-out-{when.replace(' ', '-')}.png"
            await page.screenshot(path=ARTIFACTS / shot, full_page=True)

    assert console_errors == []


async def test_connect_clicked_while_a_resume_is_loading(
    settings, db, fake_groq, fake_cartesia, monkeypatch
):
    """Connect clicked right after Resume, before the server has answered which conversation
    it is: the click shows at once (connecting), and the call starts in the resumed
    conversation once it is chosen. (The click used to do nothing at all.)"""
    from playwright.async_api import async_playwright, expect

    pin_ice_to_loopback(monkeypatch)
    async with db.transaction() as store:
        alice = await UserRepository(store).get_or_create("alice")
        conversations = ConversationRepository(store, alice.id)
        earlier = (await conversations.create()).id
        await conversations.append(earlier, "user", "my favourite colour is green")
        await conversations.append(earlier, "assistant", "Green it is.")
    wav = speech_wav("hello", lead_silence=30.0)  # a quiet microphone: nobody speaks
    async with running_server(settings, db, default_tools) as base_url, async_playwright() as pw:
        async with chromium_page(pw, wav) as (page, console_errors):
            # The server's answer to the Resume waits until Connect has been clicked.
            asked = asyncio.Event()
            answer = asyncio.Event()

            async def hold(route):
                asked.set()
                await answer.wait()
                await route.continue_()

            try:
                await page.goto(base_url + "/")
                await sign_in(page)
                item = page.locator(f'[data-conversation-id="{earlier}"]')
                await expect(item).to_be_visible()
                await page.route("**/api/session", hold)
                await item.get_by_test_id("resume").click()
                await asyncio.wait_for(asked.wait(), 10)
                await page.get_by_test_id("connect").click()
                await expect(page.get_by_test_id("status")).to_have_text("connecting")
                answer.set()

                await expect(page.get_by_test_id("status")).to_have_text(
                    "connected", timeout=20_000
                )
                assert await page.evaluate("window.assistantUI.state.conversationId") == earlier
                await expect(page.get_by_test_id("transcript-assistant").last).to_contain_text(
                    "Welcome back", timeout=15_000
                )
            finally:
                answer.set()

    assert console_errors == []


async def test_the_page_shows_a_spent_limit_and_the_tokens_used(
    settings, db, fake_groq, fake_cartesia, monkeypatch
):
    """Groq's daily limit is spent: the assistant says so and the page keeps showing it; the
    conversation's tokens are shown on request."""
    from playwright.async_api import async_playwright, expect

    pin_ice_to_loopback(monkeypatch)
    wav = speech_wav("what is on my list today", lead_silence=3.0, tail_silence=2.0)
    fake_groq.transcribe("what is on my list today")
    fake_groq.reply_rate_limit(per="day", kind="tokens", retry_after=3 * 3600)
    said = "The language service's daily limit is used up; it resets in about 3 hours."
    async with running_server(settings, db, default_tools) as base_url, async_playwright() as pw:
        async with chromium_page(pw, wav) as (page, console_errors):
            await page.goto(base_url + "/")
            await sign_in(page)
            await start_talking(page)

            await expect(page.get_by_test_id("llm-limit")).to_have_text(said, timeout=30_000)
            await expect(page.get_by_test_id("transcript-assistant").last).to_have_text(
                said, timeout=15_000
            )

            conversation_id = await page.evaluate("window.assistantUI.state.conversationId")
            async with db.transaction() as store:
                alice = await UserRepository(store).get_by_name("alice")
                await UsageRepository(store, alice.id).add(conversation_id, 1800, 40)
            await expect(page.get_by_test_id("usage-line")).to_be_hidden()
            await page.get_by_test_id("usage-toggle").click()
            await expect(page.get_by_test_id("usage-line")).to_contain_text(
                "1,840 tokens in 1 request (1,800 prompt, 40 reply)"
            )
            await page.screenshot(path=ARTIFACTS / "browser-limit-and-usage.png", full_page=True)

    assert console_errors == []
    assert len(fake_groq.chat_requests) == 1


async def test_the_memory_pane_shows_edits_and_forgets_what_was_remembered(
    settings, db, fake_groq, fake_cartesia, monkeypatch
):
    from playwright.async_api import async_playwright, expect

    from assistant.store.memories import MemoryRepository

    async def current(user_id: int) -> list[tuple[str, bool]]:
        async with db.session() as store:
            return [(m.text, m.pinned) for m in await MemoryRepository(store).current(user_id)]

    pin_ice_to_loopback(monkeypatch)
    ARTIFACTS.mkdir(exist_ok=True)
    wav = speech_wav("remember that my sister is called Ana", lead_silence=3.0, tail_silence=2.0)
    fake_groq.transcribe("remember that my sister is called Ana")
    fake_groq.reply_tool_call("remember", {"fact": "my sister is called Ana"})
    fake_groq.reply_text("I'll remember that your sister is called Ana.")

    async with (
        running_server(settings, db, default_tools) as base_url,
        async_playwright() as pw,
        chromium_page(pw, wav) as (page, errors),
    ):
        await page.goto(base_url + "/")
        await sign_in(page)
        await expect(page.get_by_test_id("memory-list")).to_be_empty()
        await start_talking(page)

        # Remembered by voice: the pane shows it as soon as the tool says memory changed.
        fact = page.get_by_test_id("memory-item")
        await expect(fact).to_contain_text("my sister is called Ana", timeout=30_000)
        await expect(fact).to_contain_text("Remembered just now")
        async with db.session() as store:
            alice = await UserRepository(store).get_by_name("alice")
        assert await current(alice.id) == [("my sister is called Ana", False)]
        await page.get_by_test_id("disconnect").click()
        await expect(page.get_by_test_id("status")).to_have_text("idle", timeout=10_000)

        # Its link opens the conversation it came from.
        await fact.get_by_test_id("memory-source").click()
        await expect(page.get_by_test_id("transcript-user").first).to_contain_text(
            "remember that my sister is called Ana"
        )

        # Pin, edit, delete.
        await fact.get_by_test_id("memory-pin").click()
        await expect(fact.get_by_test_id("memory-pin")).to_have_attribute("aria-pressed", "true")
        assert await current(alice.id) == [("my sister is called Ana", True)]
        await fact.get_by_test_id("memory-edit").click()
        await page.get_by_test_id("memory-edit-text").fill("my sister is called Anna")
        await page.get_by_test_id("memory-save").click()
        await expect(fact).to_contain_text("my sister is called Anna")
        assert await current(alice.id) == [("my sister is called Anna", True)]
        await fact.get_by_test_id("memory-delete").click()
        await expect(page.get_by_test_id("memory-item")).to_have_count(0)
        assert await current(alice.id) == []

        # Forget everything: asked first; cancelling keeps everything.
        async with db.transaction() as store:
            for text in ("I live in Lyon", "I take my coffee black"):
                await MemoryRepository(store).remember(alice.id, text)
        await page.evaluate("window.assistantUI.memory.load()")
        await expect(page.get_by_test_id("memory-item")).to_have_count(2)
        await page.get_by_test_id("forget-all").click()
        await expect(page.locator("#forget-question")).to_contain_text("Forget all 2 facts")
        await page.get_by_test_id("forget-no").click()
        assert len(await current(alice.id)) == 2
        await page.get_by_test_id("forget-all").click()
        await page.get_by_test_id("forget-yes").click()
        await expect(page.get_by_test_id("memory-item")).to_have_count(0)
        assert await current(alice.id) == []
        await page.screenshot(path=ARTIFACTS / "browser-memory.png", full_page=True)
        assert errors == []
    assert fake_groq.protocol_errors == []
