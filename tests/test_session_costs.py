"""What a session costs the event loop every live session shares.

Building one must not block it: the model loads (Silero VAD, smart-turn) and the TLS contexts of
the STT and LLM clients happen in a worker thread. Running one must not carry the microphone's
audio past its last consumer, the user aggregator, nor feed observers nothing reads."""

from __future__ import annotations

import collections
import threading

import pipecat.audio.turn.smart_turn.local_smart_turn_v3 as smart_turn_module
from pipecat.frames.frames import InputAudioRawFrame
from pipecat.observers.base_observer import BaseObserver, FrameProcessed

import assistant.pipeline.builder as builder
from assistant.config import TurnDetection
from assistant.store.repository import ConversationRepository, UserRepository


async def test_blocking_parts_of_the_build_run_off_the_loop(settings, db, monkeypatch):
    built_in: dict[str, threading.Thread] = {}

    def recorded(name, make):
        def construct(*args, **kwargs):
            built_in[name] = threading.current_thread()
            return make(*args, **kwargs)

        return construct

    monkeypatch.setattr(builder, "SileroVADAnalyzer", recorded("vad", builder.SileroVADAnalyzer))
    monkeypatch.setattr(  # what pipecat's default turn strategies construct
        smart_turn_module,
        "LocalSmartTurnAnalyzerV3",
        recorded("smart-turn", smart_turn_module.LocalSmartTurnAnalyzerV3),
    )
    monkeypatch.setattr(builder, "create_stt", recorded("stt", builder.create_stt))
    monkeypatch.setattr(builder, "create_llm", recorded("llm", builder.create_llm))

    async with db.transaction() as store:
        user = await UserRepository(store).get_or_create("alice")
        conversation = await ConversationRepository(store, user.id).create()
    spec = builder.SessionSpec(user.id, user.name, conversation.id)
    smart = settings.model_copy(update={"turn_detection": TurnDetection.SMART_TURN})

    session = await builder.build_voice_session(smart, db, spec)

    loop_thread = threading.current_thread()
    assert set(built_in) == {"vad", "smart-turn", "stt", "llm"}
    assert all(thread is not loop_thread for thread in built_in.values()), built_in
    # and what was built off the loop is what the session uses
    assert session.processors["stt"] is not None and session.llm is session.processors["llm"]


async def test_mic_audio_stops_at_the_user_aggregator(headless, fake_groq, fake_cartesia):
    fake_groq.reply_text("Hello there.")
    async with headless.session() as live:
        heard: dict[str, int] = {}
        where = {"user": live.session.processors["user"], "llm": live.session.llm}
        where["output"] = live.capture
        for name, processor in where.items():
            heard[name] = 0

            def counting(real, name=name):
                async def process_frame(frame, direction):
                    if isinstance(frame, InputAudioRawFrame):
                        heard[name] += 1
                    await real(frame, direction)

                return process_frame

            processor.process_frame = counting(processor.process_frame)

        await live.user_says("hello there")
        await live.wait_for_messages(lambda rows: any(m.role == "assistant" for m in rows))

    # The turn was heard and answered, and the audio went no further than it had to.
    assert heard["user"] > 0
    assert heard["llm"] == 0 and heard["output"] == 0


async def test_no_observer_whose_output_nothing_reads(settings, db):
    # Every observer is a queue put and a task wake-up per pushed frame, 50 mic frames a second
    # included. pipecat's turn tracking feeds only tracing and audio recording, unused here.
    async with db.transaction() as store:
        user = await UserRepository(store).get_or_create("alice")
        conversation = await ConversationRepository(store, user.id).create()
    session = await builder.build_voice_session(
        settings, db, builder.SessionSpec(user.id, user.name, conversation.id)
    )
    assert session.worker.turn_tracking_observer is None


class _ProcessingWatcher(BaseObserver):
    """An observer that does handle "frame processed" events."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0

    async def on_process_frame(self, data: FrameProcessed) -> None:
        self.processed += 1


async def test_processed_frame_events_reach_only_observers_that_handle_them(
    headless, fake_groq, fake_cartesia
):
    # pipecat queues every processing of every frame to every observer (8.5 a mic frame), a
    # queue put and a task wake-up each; the session's observers only look at pushes.
    fake_groq.reply_text("Hello there.")
    async with headless.session() as live:
        watcher = _ProcessingWatcher()
        live.session.worker.add_observer(watcher)
        delivered: collections.Counter[tuple[str, str]] = collections.Counter()
        for observer, proxy in live.session.worker._observer._proxies.items():
            name = type(observer).__name__

            def counting(data, put=proxy.queue.put, name=name):
                delivered[(name, type(data).__name__)] += 1
                return put(data)

            proxy.queue.put = counting

        await live.user_says("hello there")
        await live.wait_for_messages(lambda rows: any(m.role == "assistant" for m in rows))

    observers = {name for name, _ in delivered}
    assert {"RTVIObserver", "_RecorderObserver", "VoiceDropWatch"} <= observers
    for name in observers - {"_ProcessingWatcher"}:
        assert delivered[(name, "FramePushed")] > 0
        assert delivered[(name, "FrameProcessed")] == 0, name
    assert watcher.processed > 0
