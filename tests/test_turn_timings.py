"""Per-turn timings: speech to text, the model's first token and the first audio of each reply,
taken from pipecat's TTFB metrics frames, logged at INFO and sent to the page; and a typed turn
into a live headless session, answered by voice."""

from __future__ import annotations

import asyncio

import pytest
from loguru import logger
from pipecat.frames.frames import MetricsFrame
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed

from fakes.harness import without_clock


class TTFBs(BaseObserver):
    """Every TTFB value pipecat's processors report, by processor name, in order."""

    def __init__(self) -> None:
        super().__init__(observe_every_push=False)
        self.values: list[tuple[str, float]] = []

    async def on_push_frame(self, data: FramePushed) -> None:
        if isinstance(data.frame, MetricsFrame):
            for item in data.frame.data:
                # Measured by the processor that pushes it (not the worker's zeros at start).
                if isinstance(item, TTFBMetricsData) and item.processor == data.source.name:
                    self.values.append((item.processor, item.value))


@pytest.fixture
def info_log():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    yield lines
    logger.remove(sink)


class PageMessages(list):
    """What the session sends the page (RTVI server-messages), recorded."""

    def __init__(self, live) -> None:
        super().__init__()
        self.changed = asyncio.Event()
        send = live.session.notify

        async def notify(message):
            self.append(message)
            self.changed.set()
            await send(message)

        live.session.notify = notify

    async def first(self, message_type: str, timeout: float = 20.0) -> dict:
        async def loop():
            while not any(m["type"] == message_type for m in self):
                self.changed.clear()
                await self.changed.wait()
            return next(m for m in self if m["type"] == message_type)

        return await asyncio.wait_for(loop(), timeout)


async def test_a_spoken_turns_timings_are_pipecats_ttfb_metrics(headless, fake_groq, info_log):
    fake_groq.reply_text("Sure, it is sunny today.")
    async with headless.session() as live:
        ttfbs = TTFBs()
        live.session.worker.add_observer(ttfbs)
        sent = PageMessages(live)
        await live.user_says("how is the weather")
        timing = await sent.first("turn-timings")

    names = {role: live.session.processors[role].name for role in ("stt", "llm", "tts")}
    reported = {
        role: [value for name, value in ttfbs.values if name == names[role]] for role in names
    }
    assert all(values and min(values) > 0 for values in reported.values()), reported
    # Each number is the one pipecat measured: the transcription's, the request's, the
    # reply's first audio (the first of each in the turn).
    assert timing == {
        "type": "turn-timings",
        "stt_secs": round(reported["stt"][-1], 3),
        "llm_secs": round(reported["llm"][0], 3),
        "tts_secs": round(reported["tts"][0], 3),
    }
    conversation = live.spec.conversation_id
    line = f"turn timings in {conversation}: speech to text {reported['stt'][-1]:.3f} s, "
    line += f"first token {reported['llm'][0]:.3f} s, first audio {reported['tts'][0]:.3f} s"
    assert line in info_log


async def test_a_typed_turn_in_a_live_session_is_answered_by_voice(headless, fake_groq, info_log):
    fake_groq.reply_text("Typed words, spoken reply.")
    async with headless.session() as live:
        sent = PageMessages(live)
        reply = await live.session.send_text("hello from the keyboard")
        await asyncio.wait_for(reply.done.wait(), 20)
        assert reply.failure is None
        assert reply.reply == "Typed words, spoken reply."
        assert len(live.capture.audio) > 0  # complete means said: its audio went out first
        # Complete means stored, once the recorder's writes are through: no waiting for it.
        await live.session.recorder.flush()
        rows = await live.messages()
        timing = await sent.first("turn-timings")

    assert [(m.role, m.content) for m in rows] == [
        ("user", "hello from the keyboard"),
        ("assistant", "Typed words, spoken reply."),
    ]
    request = fake_groq.chat_requests[-1]["messages"]
    assert without_clock(request[-1]["content"]) == "hello from the keyboard"
    assert set(timing) == {"type", "llm_secs", "tts_secs"}  # no speech was transcribed
    assert reply.timings.keys() == {"llm", "tts"}
    assert any(line.startswith(f"turn timings in {live.spec.conversation_id}") for line in info_log)


async def test_a_typed_turn_the_llm_fails_keeps_the_call_going(headless, fake_groq):
    fake_groq.reply_error(500, times=3)  # past the SDK's retries
    fake_groq.reply_text("Back on track.")
    async with headless.session() as live:
        failed = await live.session.send_text("first try")
        await asyncio.wait_for(failed.done.wait(), 20)
        assert failed.failure is not None and failed.failure.status == 502
        await live.wait_for_audio()  # the apology, said in the call

        again = await live.session.send_text("second try")
        await asyncio.wait_for(again.done.wait(), 20)
        assert again.failure is None and again.reply == "Back on track."
        rows = await live.wait_for_messages(lambda rows: rows[-1].content == "Back on track.")

    said = [(m.role, m.content) for m in rows]
    assert said[0] == ("user", "first try")
    assert said[-2:] == [("user", "second try"), ("assistant", "Back on track.")]
