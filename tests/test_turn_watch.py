"""Where a turn ends (pipeline/turns.py), frame by frame: a response that called tools does
not end it; a typed turn's reply is complete only once the assistant aggregator has ended the
response (its handler, which the recorder stores the reply from, runs first); an LLM error is
the turn's failure; the worker's zeros at start are no measurement."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from pipecat.frames.frames import (
    ErrorFrame,
    FunctionCallsStartedFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
)
from pipecat.metrics.metrics import ProcessingMetricsData, TTFBMetricsData

from assistant.pipeline.turns import TurnWatch


class Events:
    """Stands for a pipecat processor's event handlers."""

    def __init__(self, name: str = "processor") -> None:
        self.name = name
        self.handlers: dict[str, list] = {}

    def add_event_handler(self, event: str, handler) -> None:
        self.handlers.setdefault(event, []).append(handler)

    async def fire(self, event: str, *args) -> None:
        for handler in self.handlers.get(event, []):
            await handler(self, *args)


def response(watch: TurnWatch, *frames) -> LLMFullResponseEndFrame:
    """One LLM response through both taps (`frames` between its start and end)."""
    end = LLMFullResponseEndFrame()
    for frame in (LLMFullResponseStartFrame(), *frames, end):
        watch._after_llm(frame)
    watch._at_end(end)
    return end


async def yield_to_loop() -> None:
    await asyncio.sleep(0)  # lets what was scheduled run; no wall-clock wait


def watch_with(llm: Events, assistant: Events, sent: list) -> TurnWatch:
    async def notify(message):
        sent.append(message)

    return TurnWatch("conv", {"stt": None, "llm": llm, "tts": None}, assistant, notify)


async def test_the_reply_is_complete_after_the_aggregator_ends_it_not_before():
    llm, assistant, sent = Events("llm#0"), Events(), []
    watch = watch_with(llm, assistant, sent)
    await watch.claim()
    reply = watch.begin("note milk")

    call = SimpleNamespace(function_name="take_note", tool_call_id="1")
    response(watch, FunctionCallsStartedFrame(function_calls=[call]))
    await assistant.fire("on_assistant_turn_stopped", None)
    assert not reply.done.is_set()  # the tool's result runs the model again

    response(watch, LLMTextFrame("Noted"), LLMTextFrame(" milk."))
    await yield_to_loop()
    assert not reply.done.is_set()  # the aggregator has not ended it (nor stored it) yet
    await assistant.fire("on_assistant_turn_stopped", None)
    assert reply.done.is_set() and reply.failure is None
    assert reply.reply == "Noted milk."
    assert [reply.events.get_nowait() for _ in range(2)] == [("text", "Noted"), ("text", " milk.")]
    assert watch.idle_now


async def test_an_llm_error_is_the_typed_turns_failure_and_the_next_turn_works():
    llm, assistant, sent = Events("llm#0"), Events(), []
    watch = watch_with(llm, assistant, sent)
    await watch.claim()
    failed = watch.begin("hello")
    await llm.fire("on_error", ErrorFrame("Error code: 500 - Internal Server Error"))
    response(watch)
    await assistant.fire("on_assistant_turn_stopped", None)
    assert failed.done.is_set()
    assert failed.failure.status == 502 and "language service failed" in failed.failure.message

    await watch.claim()  # free again
    again = watch.begin("hello again")
    response(watch, LLMTextFrame("Hi."))
    await assistant.fire("on_assistant_turn_stopped", None)
    assert again.failure is None and again.reply == "Hi."


async def test_timings_are_the_services_measures_not_the_workers_zeros():
    llm, assistant, sent = Events("llm#0"), Events(), []
    watch = watch_with(llm, assistant, sent)
    # At start the worker reports zeros for every processor with metrics in one frame (a text
    # session's LLM alone, a call's STT, LLM and TTS).
    watch._at_end(
        MetricsFrame(
            data=[
                TTFBMetricsData(processor="llm#0", value=0.0),
                ProcessingMetricsData(processor="llm#0", value=0.0),
            ]
        )
    )
    watch._at_end(MetricsFrame(data=[TTFBMetricsData(processor="llm#0", value=0.42)]))
    watch._at_end(MetricsFrame(data=[TTFBMetricsData(processor="llm#0", value=0.9)]))  # 2nd
    await watch.claim()
    reply = watch.begin("hi")
    response(watch, LLMTextFrame("Hi."))
    await assistant.fire("on_assistant_turn_stopped", None)
    assert reply.timings == {"llm": 0.42}  # the turn's first request
    await yield_to_loop()
    assert sent == [{"type": "turn-timings", "llm_secs": 0.42}]
