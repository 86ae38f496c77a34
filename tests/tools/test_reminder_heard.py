"""A reminder is delivered once its words reached the page, in live headless sessions.

The fake Cartesia holds audio back (`hold_audio`) to open a window between queueing a
reminder's words and their audio going out; the page hangs up in it as the server ends a
session whose peer went away (`worker.cancel()`)."""

from __future__ import annotations

import asyncio
import contextlib
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pipecat.frames.frames import InterruptionFrame

from assistant.pipeline.tts import AssistantTTS
from assistant.runtime.reminders import ReminderScheduler
from assistant.store.models import ReminderStatus
from assistant.store.repository import ReminderRepository, UserRepository
from fakes.harness import LiveSession
from fakes.rtc_client import RTCClient
from tests.live_server import pin_ice_to_loopback, running_server
from tests.tools.test_reminder_delivery import Clock, Ticks, count_ticks

POLL = 0.05
STRETCH = "Reminder: stretch your legs"


@pytest.fixture
def ticks(monkeypatch) -> Ticks:
    return count_ticks(monkeypatch)


@pytest.fixture
def patient_tts(monkeypatch) -> None:
    """pipecat ends a TTS context that gets no audio for 3 s, showing its words as text (which
    is heard, as with the voice out). Here it waits while Cartesia holds the audio, so the
    window is there however slow this machine is."""
    real_init = AssistantTTS.__init__

    def init(self, **kwargs):
        real_init(self, stop_frame_timeout_s=3600, **kwargs)

    monkeypatch.setattr(AssistantTTS, "__init__", init)


@pytest.fixture
def clock(headless) -> Clock:
    """The sessions' clock, moved by the test (reminders come due when it says)."""
    clock = Clock(datetime.now(UTC))
    headless.now = clock
    headless.session_hooks = [ReminderScheduler(headless.db, POLL).attach]
    return clock


@contextlib.contextmanager
def audio_held(fake_cartesia):
    """Cartesia holds back all audio inside. Nested in a session's block, so that a failing
    test lets the audio go before the session ends (an EndFrame waits for held audio)."""
    fake_cartesia.hold_audio()
    try:
        yield
    finally:
        fake_cartesia.release_audio()


def spoken(fake_cartesia) -> str:
    return " ".join(r.get("transcript", "") for r in fake_cartesia.requests)


async def add_reminder(headless, user_id: int, text: str, due: datetime) -> int:
    return await add_reminder_to(headless.db, user_id, text, due)


async def add_reminder_to(db, user_id: int, text: str, due: datetime) -> int:
    async with db.transaction() as store:
        return (await ReminderRepository(store, user_id).add(text, due, "UTC")).id


async def status(headless, user_id: int, reminder_id: int) -> ReminderStatus:
    async with headless.db.transaction() as store:
        return (await ReminderRepository(store, user_id).get(reminder_id)).status


async def hang_up(live: LiveSession) -> None:
    """The page goes away: the server cancels its session (VoiceBots, on disconnect)."""
    await live.session.worker.cancel()
    await asyncio.wait_for(asyncio.shield(live.task), 10)


async def test_the_page_hangs_up_before_a_reminder_is_spoken(
    headless, fake_cartesia, clock, patient_tts
):
    """Queued, sent to Cartesia, but the page hung up before any audio came back: not
    delivered. The next session's greeting says it, and then it is."""
    spec = await headless.open_conversation("alice")
    due = clock.at + timedelta(seconds=10)
    reminder = await add_reminder(headless, spec.user_id, "stretch your legs", due)
    async with headless.session(conversation_id=spec.conversation_id) as live:
        with audio_held(fake_cartesia):
            clock.at += timedelta(seconds=11)
            await fake_cartesia.wait_for(lambda: STRETCH in spoken(fake_cartesia), timeout=10)
            assert await status(headless, spec.user_id, reminder) is ReminderStatus.DELIVERING
            await hang_up(live)
        assert live.capture.audio_frames == 0  # nothing of it reached the page
    assert await status(headless, spec.user_id, reminder) is ReminderStatus.PENDING

    clock.at += timedelta(minutes=1)
    async with headless.session(conversation_id=spec.conversation_id, greet=True) as live:
        assert await asyncio.wait_for(live.session.greeting_heard, 10) is True
    assert "While you were away, a reminder came due: stretch your legs" in spoken(fake_cartesia)
    assert await status(headless, spec.user_id, reminder) is ReminderStatus.DELIVERED
    # Nothing of the first session was stored: none of its words went out.
    assert [(m.role, m.content) for m in await live.messages()] == [
        (
            "assistant",
            "Hi alice! What can I do for you? While you were away, a reminder came due: "
            f"stretch your legs, today at {due.hour}:{due.minute:02d}.",
        )
    ]


async def test_a_greeting_cut_off_by_a_hang_up_keeps_its_missed_reminders_due(
    headless, fake_cartesia, clock, patient_tts
):
    """Missed reminders named in a greeting follow the same rule: the page hung up before the
    greeting went out, so the next greeting names them again, and then they are delivered."""
    spec = await headless.open_conversation("alice")
    reminder = await add_reminder(
        headless, spec.user_id, "call mom", clock.at - timedelta(minutes=5)
    )
    async with headless.session(conversation_id=spec.conversation_id) as live:
        with audio_held(fake_cartesia):
            await live.session.greet()
            await fake_cartesia.wait_for(lambda: "call mom" in spoken(fake_cartesia), timeout=10)
            assert await status(headless, spec.user_id, reminder) is ReminderStatus.DELIVERING
            await hang_up(live)
        assert live.session.greeting_heard.result() is False
    assert await status(headless, spec.user_id, reminder) is ReminderStatus.PENDING

    before = len(fake_cartesia.requests)
    async with headless.session(conversation_id=spec.conversation_id, greet=True) as live:
        assert await asyncio.wait_for(live.session.greeting_heard, 10) is True
    again = " ".join(r.get("transcript", "") for r in fake_cartesia.requests[before:])
    assert "While you were away, a reminder came due: call mom" in again
    assert await status(headless, spec.user_id, reminder) is ReminderStatus.DELIVERED


async def test_a_reminder_is_said_once_in_a_session_heard_or_not(
    headless, fake_cartesia, clock, patient_tts, ticks
):
    """While its audio is held back, tick after tick, a claimed reminder is not said again; once
    heard it is delivered, and still not said again. One the user cut off before it went out is
    not said again in that session either, and is due again once the session ends."""
    spec = await headless.open_conversation("alice")
    heard = await add_reminder(
        headless, spec.user_id, "stretch your legs", clock.at + timedelta(seconds=10)
    )
    cut_off = await add_reminder(
        headless, spec.user_id, "drink water", clock.at + timedelta(seconds=20)
    )

    def times_said(words: str) -> int:
        return sum(words in r.get("transcript", "") for r in fake_cartesia.requests)

    async with headless.session(conversation_id=spec.conversation_id) as live:
        with audio_held(fake_cartesia):
            clock.at += timedelta(seconds=11)
            await fake_cartesia.wait_for(lambda: times_said(STRETCH) == 1, timeout=10)
            await ticks.wait()
            assert times_said(STRETCH) == 1
        await live.wait_for_messages(lambda rows: any(m.content == STRETCH for m in rows))
        await ticks.wait()
        assert times_said(STRETCH) == 1

        with audio_held(fake_cartesia):
            clock.at += timedelta(seconds=10)
            await fake_cartesia.wait_for(
                lambda: times_said("Reminder: drink water") == 1, timeout=10
            )
            await live.session.worker.queue_frame(InterruptionFrame())  # the user cuts in
            await fake_cartesia.wait_for(
                lambda: any(c.cancelled for c in fake_cartesia.contexts.values()), timeout=10
            )
        await ticks.wait()
        assert times_said("Reminder: drink water") == 1
        assert await status(headless, spec.user_id, cut_off) is ReminderStatus.DELIVERING
    assert await status(headless, spec.user_id, heard) is ReminderStatus.DELIVERED
    assert await status(headless, spec.user_id, cut_off) is ReminderStatus.PENDING


async def test_with_the_voice_out_a_reminder_shown_as_text_is_delivered(
    headless, fake_cartesia, clock
):
    """pipecat gave up on the TTS: replies are shown, not said. A reminder shown is heard."""
    spec = await headless.open_conversation("alice")
    reminder = await add_reminder(
        headless, spec.user_id, "stretch your legs", clock.at + timedelta(seconds=10)
    )
    async with headless.session(conversation_id=spec.conversation_id) as live:
        await live.session.processors["tts"].set_usable(False)
        clock.at += timedelta(seconds=11)
        await live.wait_for_messages(lambda rows: any(m.content == STRETCH for m in rows))
    assert STRETCH not in spoken(fake_cartesia)
    assert await status(headless, spec.user_id, reminder) is ReminderStatus.DELIVERED


async def wait_for_status(db, user_id: int, reminder_id: int, wanted: ReminderStatus) -> None:
    """Poll the store until the reminder is ``wanted`` (a server session settles it as it
    ends, which the client doesn't see)."""
    async with asyncio.timeout(20):
        while True:
            async with db.transaction() as store:
                reminder = await ReminderRepository(store, user_id).get(reminder_id)
            if reminder.status is wanted:
                return
            await asyncio.sleep(0.05)


def silence_wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(int(16000 * seconds) * 2))
    return path


async def test_over_webrtc_the_page_hangs_up_before_the_greeting_and_the_next_one_says_it(
    settings, db, fake_cartesia, patient_tts, monkeypatch, tmp_path
):
    """The real server and output transport (SmallWebRTC: audio paced out, words on their own
    clock). A page that closes while the greeting's audio is held back leaves its missed
    reminder due; the next page's greeting goes out in full, and then it is delivered."""
    pin_ice_to_loopback(monkeypatch)
    quiet = silence_wav(tmp_path / "quiet.wav", 30)
    async with running_server(settings, db, lambda context: []) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.post("/api/session", json={"user": "alice", "timezone": "UTC"})
            response.raise_for_status()
            async with db.transaction() as store:
                user_id = (await UserRepository(store).get_by_name("alice")).id
            due = datetime.now(UTC) - timedelta(hours=1)
            reminder = await add_reminder_to(db, user_id, "call mom", due)

            client = RTCClient(http)
            with audio_held(fake_cartesia):
                try:
                    await client.connect(quiet)
                    await fake_cartesia.wait_for(lambda: "call mom" in spoken(fake_cartesia), 30)
                finally:
                    await client.close()
                await wait_for_status(db, user_id, reminder, ReminderStatus.PENDING)

            client = RTCClient(http)
            try:
                await client.connect(quiet)
                await client.wait_until(lambda: "call mom" in client.bot_said(), timeout=30)
                await wait_for_status(db, user_id, reminder, ReminderStatus.DELIVERED)
            finally:
                await client.close()
