"""Faults: when Groq or Cartesia fail mid-conversation the session stays up, the user hears a short
apology, the next turn works, and nothing already said is lost.

Each test resumes a conversation that already holds an exchange, breaks one turn, then checks the
next turn is answered, spoken and stored, and that the model's next request still carries
everything said before (the failed turn's words included).
"""

from __future__ import annotations

import asyncio
import wave

import pytest
from pipecat.frames.frames import Frame, TTSAudioRawFrame, TTSStoppedFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.utils.errors import ErrorCategory

from assistant.pipeline.outages import APOLOGIES
from assistant.pipeline.stt import STT_RETRIES
from assistant.store.repository import ConversationRepository
from fakes import harness
from fakes.groq import TextReply
from fakes.harness import CHUNK_SECS, LiveSession, without_clock
from fakes.speech import SAMPLE_RATE, speech_wav

EARLIER = [
    ("user", "my favourite colour is green"),
    ("assistant", "Green it is, I'll remember that."),
]
FAILED_TURN = "which colour"
NEXT_TURN = "once more"
NEXT_REPLY = "Your favourite colour is green."


async def say(live: LiveSession, text: str, transcript: str | None = None) -> None:
    """Speak `text` into the session in real time, with just enough silence to end the turn.

    Unlike `LiveSession.user_says` it queues no transcript unless given one, so a test can
    script the STT itself.
    """
    from pipecat.frames.frames import InputAudioRawFrame

    if transcript is not None:
        live.fake_groq.transcribe(transcript)
    with wave.open(str(speech_wav(text, lead_silence=0.1, tail_silence=0.45)), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
    step = int(SAMPLE_RATE * CHUNK_SECS) * 2
    for start in range(0, len(pcm), step):
        await live.session.worker.queue_frame(
            InputAudioRawFrame(pcm[start : start + step], sample_rate=SAMPLE_RATE, num_channels=1)
        )
        await asyncio.sleep(CHUNK_SECS)


def spoken(fake_cartesia) -> str:
    """Everything sent to Cartesia to be said."""
    return " ".join(r.get("transcript", "") for r in fake_cartesia.requests)


async def hears(fake_cartesia, words: str, timeout: float = 10.0) -> None:
    await fake_cartesia.wait_for(lambda: words in spoken(fake_cartesia), timeout=timeout)


async def seeded_conversation(headless, user: str = "alice") -> str:
    """A conversation that already holds an exchange."""
    spec = await headless.open_conversation(user)
    async with headless.db.transaction() as store:
        repo = ConversationRepository(store, spec.user_id)
        for role, content in EARLIER:
            await repo.append(spec.conversation_id, role, content)
    return spec.conversation_id


async def next_turn_works(live: LiveSession, fake_groq, fake_cartesia) -> list[tuple[str, str]]:
    """The turn after the fault is answered, spoken and stored; returns the stored messages."""
    assert live.task is not None and not live.task.done(), "the session ended"
    fake_groq.reply_text(NEXT_REPLY)
    await say(live, NEXT_TURN, transcript=NEXT_TURN)
    rows = await live.wait_for_messages(lambda rows: any(m.content == NEXT_REPLY for m in rows))
    await hears(fake_cartesia, NEXT_REPLY)
    assert not live.task.done(), "the session ended"
    return [(m.role.value, m.content) for m in rows]


def last_request_history(fake_groq) -> list[tuple[str, str]]:
    messages = fake_groq.chat_requests[-1]["messages"]
    return [(m["role"], without_clock(m.get("content"))) for m in messages if m["role"] != "system"]


def watch_voice(live: LiveSession) -> tuple[list[dict], asyncio.Event]:
    """The session's voice messages to the page, and an event set once pipecat gives up on the
    TTS."""
    notices: list[dict] = []
    given_up = asyncio.Event()
    notify = live.session.notify

    async def record(message: dict) -> None:
        if message["type"] != "turn-timings":
            notices.append(message)
        await notify(message)

    @live.session.processors["tts"].event_handler("on_usable_changed")
    async def _usable_changed(_tts, usable: bool):
        if not usable:
            given_up.set()

    live.session.notify = record
    return notices, given_up


class HeldOutput(FrameProcessor):
    """Stands where the output transport would, as the harness's AudioCapture does, and holds
    the bot's audio until `release` is set: the TTS keeps what it received queued to play, as
    it does while a real output is still playing earlier audio."""

    def __init__(self) -> None:
        # Direct mode: the TTS's playback waits on this processor, so nothing more is played.
        super().__init__(enable_direct_mode=True)
        self.audio = bytearray()
        self.audio_frames = 0
        self.changed = asyncio.Event()
        self.release = asyncio.Event()
        self.holding = asyncio.Event()  # audio is waiting here
        self.stopped = asyncio.Event()  # a TTS context was played to its end

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            if not self.release.is_set():
                self.holding.set()
                await self.release.wait()
            self.audio.extend(frame.audio)
            self.audio_frames += 1
            self.changed.set()
        elif isinstance(frame, TTSStoppedFrame):
            self.stopped.set()
        await self.push_frame(frame, direction)


VOICE_OUT = {"type": "voice-available", "available": False}
VOICE_BACK = {"type": "voice-available", "available": True}


@pytest.mark.parametrize(
    ("status", "apology"),
    [(429, APOLOGIES[ErrorCategory.RATE_LIMIT]), (500, APOLOGIES["llm"])],
    ids=["429", "500"],
)
async def test_llm_http_error(headless, fake_groq, fake_cartesia, status, apology):
    conversation_id = await seeded_conversation(headless)
    fake_groq.reply_error(status, times=3)  # the SDK's two retries fail too
    async with headless.session(conversation_id=conversation_id) as live:
        await say(live, FAILED_TURN, transcript=FAILED_TURN)
        await hears(fake_cartesia, apology)
        assert live.session.llm.is_usable
        rows = await next_turn_works(live, fake_groq, fake_cartesia)
    assert rows == [
        *EARLIER,
        ("user", FAILED_TURN),
        ("assistant", apology),
        ("user", NEXT_TURN),
        ("assistant", NEXT_REPLY),
    ]
    assert last_request_history(fake_groq) == rows[:-1]
    assert live.session.llm.is_usable
    assert fake_groq.protocol_errors == []


# A stall longer than the LLM bound the tests set (1 s) and shorter than the default (10 s):
# the reply comes if nothing ends the wait, so hearing the timeout's apology instead (and never
# the reply) shows the configured bound ended it, whatever the machine's speed. Both timers run
# on one event loop, which fires them in order of their deadlines.
LLM_STALL_SECS = 5.0


@pytest.mark.parametrize("stall", ["before-headers", "mid-stream"])
async def test_llm_stall_is_bounded(headless, fake_groq, fake_cartesia, stall):
    """Groq accepts the request and then goes quiet: the turn ends after LLM_TIMEOUT_SECS."""
    headless.settings = headless.settings.model_copy(update={"llm_timeout_secs": 1.0})
    conversation_id = await seeded_conversation(headless)
    if stall == "before-headers":
        fake_groq.reply_delay(LLM_STALL_SECS, "Too late.")
    else:  # the stream opens, then nothing more comes for a while
        fake_groq.reply(TextReply("Too late.", chunk_delay=LLM_STALL_SECS))
    async with headless.session(conversation_id=conversation_id) as live:
        await say(live, FAILED_TURN, transcript=FAILED_TURN)
        await hears(fake_cartesia, APOLOGIES["timeout"], timeout=30)
        assert live.session.llm.is_usable
        rows = await next_turn_works(live, fake_groq, fake_cartesia)
    assert rows == [
        *EARLIER,
        ("user", FAILED_TURN),
        ("assistant", APOLOGIES["timeout"]),
        ("user", NEXT_TURN),
        ("assistant", NEXT_REPLY),
    ]
    assert "Too late." not in spoken(fake_cartesia)
    # One request per turn: no retry of the stalled request took the next turn's reply.
    assert len(fake_groq.chat_requests) == 2
    assert last_request_history(fake_groq) == rows[:-1]


# Longer than the STT bound the test sets (0.5 s), shorter than the default (5 s): as with the
# LLM, the transcript comes unless the configured bound ends each attempt first.
STT_STALL_SECS = 3.0


async def test_stt_failure_and_stall(headless, fake_groq, fake_cartesia):
    """Whisper answers 500, then hangs: each time the user hears they weren't understood."""
    headless.settings = headless.settings.model_copy(update={"stt_timeout_secs": 0.5})
    conversation_id = await seeded_conversation(headless)
    attempts = STT_RETRIES + 1
    async with headless.session(conversation_id=conversation_id) as live:
        fake_groq.transcribe_error(500, times=attempts)
        await say(live, FAILED_TURN)
        await hears(fake_cartesia, APOLOGIES["stt"])
        fake_groq.transcribe(FAILED_TURN, delay=STT_STALL_SECS, times=attempts)
        await say(live, FAILED_TURN)
        await fake_cartesia.wait_for(
            lambda: spoken(fake_cartesia).count(APOLOGIES["stt"]) == 2, timeout=30
        )
        assert live.session.processors["stt"].is_usable
        rows = await next_turn_works(live, fake_groq, fake_cartesia)
    # Nothing was understood, so nothing of those turns can be stored; the rest is all there.
    assert rows == [
        *EARLIER,
        ("assistant", APOLOGIES["stt"]),
        ("assistant", APOLOGIES["stt"]),
        ("user", NEXT_TURN),
        ("assistant", NEXT_REPLY),
    ]
    assert len(fake_groq.transcription_requests) == 2 * attempts + 1
    assert len(fake_groq.chat_requests) == 1
    assert last_request_history(fake_groq)[:2] == EARLIER


async def test_tool_use_failed(headless, fake_groq, fake_cartesia):
    """Groq's 400 for a malformed tool call is the model's slip, not a broken service."""
    conversation_id = await seeded_conversation(headless)
    fake_groq.reply_tool_use_failed()
    async with headless.session(conversation_id=conversation_id) as live:
        await say(live, FAILED_TURN, transcript=FAILED_TURN)
        await hears(fake_cartesia, APOLOGIES["tool_use_failed"])
        assert live.session.llm.is_usable
        rows = await next_turn_works(live, fake_groq, fake_cartesia)
    assert rows == [
        *EARLIER,
        ("user", FAILED_TURN),
        ("assistant", APOLOGIES["tool_use_failed"]),
        ("user", NEXT_TURN),
        ("assistant", NEXT_REPLY),
    ]
    assert last_request_history(fake_groq) == rows[:-1]
    assert live.session.llm.is_usable


async def test_cartesia_drop_mid_utterance(headless, fake_groq, fake_cartesia):
    """The TTS websocket dies two audio chunks into the reply: pipecat reconnects, and the
    reply is said again, after an apology, on the new connection."""
    conversation_id = await seeded_conversation(headless)
    reply = "Your favourite colour is green. Green like fresh grass in spring."
    fake_groq.reply_text(reply)
    fake_cartesia.fail_next("drop", after_chunks=2)
    async with headless.session(conversation_id=conversation_id) as live:
        await say(live, FAILED_TURN, transcript=FAILED_TURN)
        await fake_cartesia.wait_for_connections(2, timeout=10)
        await hears(fake_cartesia, APOLOGIES["tts"])
        again = next(c for c in fake_cartesia.contexts.values() if APOLOGIES["tts"] in c.text)
        assert again.connection == 1
        assert " ".join(again.text.split()) == f"{APOLOGIES['tts']} {reply}"
        await fake_cartesia.wait_for_done(again.context_id)  # all of it synthesized this time
        assert len(again.words) == len(again.text.split())
        rows = await next_turn_works(live, fake_groq, fake_cartesia)
    # Stored once, as the model said it: the repeat is not a new message.
    assert rows == [
        *EARLIER,
        ("user", FAILED_TURN),
        ("assistant", reply),
        ("user", NEXT_TURN),
        ("assistant", NEXT_REPLY),
    ]
    assert fake_cartesia.protocol_errors == []


async def test_cartesia_unreachable_then_back(headless, fake_groq, fake_cartesia, monkeypatch):
    """Cartesia drops and refuses every reconnect, so pipecat gives up on it: the page is told
    voice is out, and replies are still answered and stored. Once Cartesia takes connections
    again, the next reply reconnects and is spoken, and the page is told voice is back."""
    from assistant.pipeline import tts

    monkeypatch.setattr(tts, "RECONNECT_BACKOFF_SECS", (0.05, 0.1))
    conversation_id = await seeded_conversation(headless)
    async with headless.session(conversation_id=conversation_id) as live:
        notices, given_up = watch_voice(live)
        await fake_cartesia.wait_for_connections(1, timeout=10)
        fake_cartesia.fail_next_connection(503, times=1000)  # until accept_connections
        await fake_cartesia.drop_connections()
        await asyncio.wait_for(given_up.wait(), 10)
        # Told once, at the first refused reconnect, not at each of them.
        assert notices == [VOICE_OUT]

        reply = "Your favourite colour is green."
        fake_groq.reply_text(reply)
        await say(live, FAILED_TURN, transcript=FAILED_TURN)
        await live.wait_for_messages(lambda rows: any(m.content == reply for m in rows))
        assert reply not in spoken(fake_cartesia)

        fake_cartesia.accept_connections()
        rows = await next_turn_works(live, fake_groq, fake_cartesia)
        assert live.session.processors["tts"].is_usable
        assert notices == [VOICE_OUT, VOICE_BACK]
    assert rows == [
        *EARLIER,
        ("user", FAILED_TURN),
        ("assistant", reply),
        ("user", NEXT_TURN),
        ("assistant", NEXT_REPLY),
    ]


async def test_cartesia_refusing_reconnects_briefly(
    headless, fake_groq, fake_cartesia, monkeypatch
):
    """Cartesia drops mid-reply and refuses the next two connects: the reply is said again once,
    after one apology, when a connect works (a connect that failed dropped nothing to repeat)."""
    from assistant.pipeline import tts

    monkeypatch.setattr(tts, "RECONNECT_BACKOFF_SECS", (0.05, 0.1))
    conversation_id = await seeded_conversation(headless)
    reply = "Your favourite colour is green. Green like fresh grass. Green like spring leaves."
    fake_groq.reply_text(reply)
    fake_cartesia.fail_next("drop", after_chunks=2)
    async with headless.session(conversation_id=conversation_id) as live:
        await fake_cartesia.wait_for_connections(1, timeout=10)
        fake_cartesia.fail_next_connection(503, times=2)
        await say(live, FAILED_TURN, transcript=FAILED_TURN)
        await hears(fake_cartesia, APOLOGIES["tts"])
        again = next(c for c in fake_cartesia.contexts.values() if APOLOGIES["tts"] in c.text)
        await fake_cartesia.wait_for_done(again.context_id)
        assert "spring leaves" in again.text
        rows = await next_turn_works(live, fake_groq, fake_cartesia)
    assert spoken(fake_cartesia).count(APOLOGIES["tts"]) == 1
    assert ("assistant", reply) in rows


async def test_cartesia_silent_replies_then_back(headless, fake_groq, fake_cartesia):
    """Cartesia stays connected but answers three replies in a row with an error and no audio,
    so pipecat stops giving it work: the page is told voice is out. Each later reply tries it
    again on the open connection; a silent one changes nothing for the page, and the first one
    spoken tells it voice is back."""
    conversation_id = await seeded_conversation(headless)
    async with headless.session(conversation_id=conversation_id) as live:
        notices, given_up = watch_voice(live)
        for n in range(3):
            fake_cartesia.fail_next("error", after_chunks=0)
            fake_groq.reply_text(f"Silent reply {n}.")
            await say(live, FAILED_TURN, transcript=FAILED_TURN)
            await live.wait_for_messages(
                lambda rows, n=n: any(m.content == f"Silent reply {n}." for m in rows)
            )
        await asyncio.wait_for(given_up.wait(), 5)
        assert notices == [VOICE_OUT]

        fake_cartesia.fail_next("error", after_chunks=0)
        fake_groq.reply_text("Still silent.")
        await say(live, FAILED_TURN, transcript=FAILED_TURN)
        await live.wait_for_messages(lambda rows: any(m.content == "Still silent." for m in rows))
        await fake_cartesia.wait_for(lambda: "Still silent." in spoken(fake_cartesia))
        assert notices == [VOICE_OUT]

        await next_turn_works(live, fake_groq, fake_cartesia)
        assert live.session.processors["tts"].is_usable
        assert fake_cartesia.connection_count == 1
        assert notices == [VOICE_OUT, VOICE_BACK]


async def test_cartesia_refusing_right_after_a_drop(
    headless, fake_groq, fake_cartesia, monkeypatch
):
    """Cartesia drops once a reply was synthesized but before all of it was played, and refuses
    the reconnects: the page is told voice is out, once. The rest of that reply, played after
    that, came from the connection that is gone: it is not the voice coming back (it was:
    out, back, and out again at the next refused connect). The voice is back when a new
    connection speaks."""
    from assistant.pipeline import tts

    monkeypatch.setattr(tts, "RECONNECT_BACKOFF_SECS", (0.05, 0.1))
    monkeypatch.setattr(harness, "AudioCapture", HeldOutput)
    conversation_id = await seeded_conversation(headless)
    reply = "Your favourite colour is green. Green like fresh grass."
    async with headless.session(conversation_id=conversation_id) as live:
        output = live.capture
        assert isinstance(output, HeldOutput)
        try:
            notices, given_up = watch_voice(live)
            await fake_cartesia.wait_for_connections(1, timeout=10)
            fake_groq.reply_text(reply)
            await say(live, FAILED_TURN, transcript=FAILED_TURN)
            await fake_cartesia.wait_for_done(timeout=10)  # all of it sent to the TTS
            await asyncio.wait_for(output.holding.wait(), 10)  # and its audio is not all played
            fake_cartesia.fail_next_connection(503, times=1000)  # until accept_connections
            await fake_cartesia.drop_connections()
            await asyncio.wait_for(given_up.wait(), 10)
            assert notices == [VOICE_OUT]

            output.release.set()  # the dropped connection's audio plays now
            await asyncio.wait_for(output.stopped.wait(), 10)
            assert output.audio_frames > 1
            # The next reply tries a connect, refused: nothing changes for the page.
            fake_groq.reply_text("Shown, not said.")
            await say(live, NEXT_TURN, transcript=NEXT_TURN)
            await live.wait_for_messages(
                lambda rows: any(m.content == "Shown, not said." for m in rows)
            )
            assert notices == [VOICE_OUT]

            fake_cartesia.accept_connections()
            await next_turn_works(live, fake_groq, fake_cartesia)
            assert notices == [VOICE_OUT, VOICE_BACK]
        finally:
            output.release.set()
