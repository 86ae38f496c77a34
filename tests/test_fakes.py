"""The fakes in fakes/, checked against the real clients that will talk to them.

Nothing here hand-crafts requests: the fakes are driven by the ``openai``, ``groq`` and
``cartesia`` SDKs and by pipecat's own GroqLLMService, GroqSTTService and
CartesiaTTSService, so a fake that drifts from what those clients send or expect
fails here first.
"""

from __future__ import annotations

import array
import asyncio
import io
import json
import math
import wave
from collections.abc import Callable

import groq
import openai
import pytest
import websockets
from cartesia import AsyncCartesia
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.cartesia.tts import CartesiaTTSService, GenerationConfig
from pipecat.services.groq.llm import GroqLLMService
from pipecat.services.groq.stt import GroqSTTService
from pipecat.services.llm_service import FunctionCallParams
from pipecat.services.tts_service import TextAggregationMode
from pipecat.workers.runner import WorkerRunner

from fakes import FakeCartesia, FakeGroq
from fakes.groq import ToolCall

MODEL = "llama-3.3-70b-versatile"
VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
async def make_client():
    """Build SDK clients that are closed after the test (an open httpx pool warns later)."""
    made = []

    def make(cls, **kwargs):
        client = cls(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    n = int(seconds * rate)
    pcm = array.array("h", (int(8000 * math.sin(2 * math.pi * 220 * i / rate)) for i in range(n)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def rms(pcm: bytes) -> float:
    samples = array.array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Poll a condition on pipeline state (frames, LLM context) that nothing signals."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class _Collector(FrameProcessor):
    def __init__(self, frames: list[Frame], direction: FrameDirection):
        super().__init__(enable_direct_mode=True)
        self._frames = frames
        self._direction = direction

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == self._direction:
            self._frames.append(frame)
        await self.push_frame(frame, direction)


class Run:
    """Runs processors in a PipelineWorker, collecting the frames that reach either end."""

    def __init__(self, *processors: FrameProcessor):
        self.down: list[Frame] = []
        self.up: list[Frame] = []
        pipeline = Pipeline(
            [
                _Collector(self.up, FrameDirection.UPSTREAM),
                *processors,
                _Collector(self.down, FrameDirection.DOWNSTREAM),
            ]
        )
        self.worker = PipelineWorker(
            pipeline, params=PipelineParams(), cancel_on_idle_timeout=False
        )
        self._task: asyncio.Task | None = None

    def of(self, kind: type, up: bool = False) -> list:
        return [f for f in (self.up if up else self.down) if isinstance(f, kind)]

    async def send(self, *frames: Frame) -> None:
        for frame in frames:
            await self.worker.queue_frame(frame)

    async def __aenter__(self) -> Run:
        started = asyncio.Event()

        @self.worker.event_handler("on_pipeline_started")
        async def _started(worker, frame):
            started.set()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        self._task = asyncio.create_task(runner.run())
        async with asyncio.timeout(5):
            await started.wait()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        assert self._task is not None
        if exc_type is None:
            await self.worker.queue_frame(EndFrame())
        else:
            await self.worker.cancel()
        async with asyncio.timeout(10):
            await self._task


# --------------------------------------------------------------------------- openai / groq SDKs


async def test_openai_sdk_streams_text(fake_groq: FakeGroq, make_client):
    fake_groq.reply_text("Hello there, how can I help?")
    client = make_client(openai.AsyncOpenAI, base_url=fake_groq.base_url, api_key="gsk_test")
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there, how can I help?"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert {c.id for c in chunks} == {chunks[0].id}
    assert fake_groq.chat_requests[0]["messages"] == [{"role": "user", "content": "hi"}]
    assert fake_groq.chat_request_headers[0]["Authorization"] == "Bearer gsk_test"


async def test_openai_sdk_streams_parallel_tool_calls(fake_groq: FakeGroq, make_client):
    fake_groq.reply_tool_calls(
        [
            ("take_note", {"content": "buy milk and eggs for the weekend"}),
            ToolCall("set_reminder", {"text": "call mum", "when": "tomorrow 9am"}, id="call_2"),
        ]
    )
    client = make_client(openai.AsyncOpenAI, base_url=fake_groq.base_url, api_key="gsk_test")
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "note and remind"}], stream=True
    )
    calls: dict[int, dict] = {}
    fragments = 0
    finish = None
    async for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            # Real streams carry one call per chunk; pipecat only reads tool_calls[0].
            assert len(choice.delta.tool_calls) == 1
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            if delta.function.name:
                call["name"] += delta.function.name
            if delta.function.arguments:
                call["arguments"] += delta.function.arguments
                fragments += 1

    assert finish == "tool_calls"
    assert fragments > 4  # arguments arrive in pieces, as from the real API
    assert calls[0]["name"] == "take_note" and calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["arguments"]) == {"content": "buy milk and eggs for the weekend"}
    assert calls[1]["id"] == "call_2" and calls[1]["name"] == "set_reminder"
    assert json.loads(calls[1]["arguments"]) == {"text": "call mum", "when": "tomorrow 9am"}


async def test_openai_sdk_non_streaming_and_reply_with(fake_groq: FakeGroq, make_client):
    fake_groq.reply_tool_call("take_note", {"content": "x"})
    fake_groq.reply_with(lambda req: "echo: " + req["messages"][-1]["content"])
    client = make_client(openai.AsyncOpenAI, base_url=fake_groq.base_url, api_key="gsk_test")

    first = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "note x"}]
    )
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "take_note" and json.loads(call.function.arguments) == {
        "content": "x"
    }

    second = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "ping"}]
    )
    assert second.choices[0].message.content == "echo: ping"
    third = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "again"}]
    )
    assert third.choices[0].message.content == "OK."  # the default reply
    assert fake_groq.protocol_errors == []


async def test_groq_sdk_uses_root_url(fake_groq: FakeGroq, make_client):
    fake_groq.reply_text("Hi from groq.")
    fake_groq.transcribe("take a note buy milk")
    client = make_client(groq.AsyncGroq, base_url=fake_groq.root_url, api_key="gsk_test")

    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hi from groq."

    result = await client.audio.transcriptions.create(
        file=("audio.wav", wav_bytes(0.5), "audio/wav"), model="whisper-large-v3-turbo"
    )
    assert result.text == "take a note buy milk"
    assert fake_groq.transcription_requests[0].duration == pytest.approx(0.5)


async def test_openai_sdk_transcriptions_formats(fake_groq: FakeGroq, make_client):
    fake_groq.transcribe("take a note buy milk")
    fake_groq.transcribe("remind me tomorrow")
    fake_groq.transcribe("plain text")
    client = make_client(openai.AsyncOpenAI, base_url=fake_groq.base_url, api_key="gsk_test")
    audio = ("audio.wav", wav_bytes(1.25), "audio/wav")

    as_json = await client.audio.transcriptions.create(
        file=audio, model="whisper-large-v3-turbo", language="en", prompt="notes", temperature=0
    )
    verbose = await client.audio.transcriptions.create(
        file=audio, model="whisper-large-v3-turbo", response_format="verbose_json"
    )
    text = await client.audio.transcriptions.create(
        file=audio, model="whisper-large-v3-turbo", response_format="text"
    )

    assert as_json.text == "take a note buy milk"
    assert verbose.text == "remind me tomorrow" and verbose.duration == pytest.approx(1.25)
    assert verbose.segments[0].end == pytest.approx(1.25)
    assert text.strip() == "plain text"
    first = fake_groq.transcription_requests[0]
    assert first["model"] == "whisper-large-v3-turbo"
    assert first["language"] == "en" and first["prompt"] == "notes"
    assert first.filename == "audio.wav" and first.wav["sample_rate"] == 16000
    assert fake_groq.transcription_requests[1]["response_format"] == "verbose_json"


async def test_auth_is_required(make_client):
    async with FakeGroq(api_keys={"gsk_right"}) as fake:
        client = make_client(
            openai.AsyncOpenAI, base_url=fake.base_url, api_key="gsk_wrong", max_retries=0
        )
        with pytest.raises(openai.AuthenticationError) as err:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
        assert err.value.body["code"] == "invalid_api_key"
        assert fake.auth_failures == 1 and fake.chat_requests == []


async def test_rejects_what_groq_rejects(fake_groq: FakeGroq, make_client):
    client = make_client(
        openai.AsyncOpenAI, base_url=fake_groq.base_url, api_key="gsk_test", max_retries=0
    )

    async def rejected(messages, **kwargs) -> str:
        with pytest.raises(openai.BadRequestError) as err:
            await client.chat.completions.create(model=MODEL, messages=messages, **kwargs)
        return err.value.body["message"]

    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assert "property 'refusal' is unsupported" in await rejected(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "refusal": None}]
    )
    assert "must be a response to a preceding message with 'tool_calls'" in await rejected(
        [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "x", "content": "1"}]
    )
    assert "did not have response messages: call_1" in await rejected(
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "user", "content": "well?"},
        ]
    )
    assert "property 'store_me' is unsupported" in await rejected(
        [{"role": "user", "content": "hi"}], extra_body={"store_me": True}
    )
    assert len(fake_groq.protocol_errors) == 4

    # A well-formed tool round trip is accepted.
    fake_groq.protocol_errors.clear()
    await client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'},
        ],
    )
    assert fake_groq.protocol_errors == []


async def test_scripted_errors_and_delays(fake_groq: FakeGroq, make_client):
    client = make_client(openai.AsyncOpenAI, base_url=fake_groq.base_url, api_key="gsk_test")
    messages = [{"role": "user", "content": "hi"}]

    # The SDK retries a 429 twice (honouring retry-after) before giving up.
    fake_groq.reply_error(429, times=3)
    with pytest.raises(openai.RateLimitError) as err:
        await client.chat.completions.create(model=MODEL, messages=messages)
    assert err.value.body["code"] == "rate_limit_exceeded"
    assert len(fake_groq.chat_requests) == 3

    # One 429 is absorbed by the SDK's retry: the caller sees the next reply.
    fake_groq.reply_error(429)
    fake_groq.reply_text("after retry")
    ok = await client.chat.completions.create(model=MODEL, messages=messages)
    assert ok.choices[0].message.content == "after retry"

    fake_groq.reply_tool_use_failed("<function=take_note>{}")
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    assert err.value.body["code"] == "tool_use_failed"
    assert err.value.body["failed_generation"] == "<function=take_note>{}"

    fake_groq.reply_error(500, in_stream=True)
    stream = await client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass

    fake_groq.reply_delay(2.0)
    impatient = make_client(
        openai.AsyncOpenAI,
        base_url=fake_groq.base_url,
        api_key="gsk_test",
        timeout=0.2,
        max_retries=0,
    )
    with pytest.raises(openai.APITimeoutError):
        await impatient.chat.completions.create(model=MODEL, messages=messages, stream=True)


async def test_client_hanging_up_mid_stream_is_recorded(fake_groq: FakeGroq, make_client):
    fake_groq.reply_text(" ".join(["word"] * 200), chunk_delay=0.005)
    client = make_client(openai.AsyncOpenAI, base_url=fake_groq.base_url, api_key="gsk_test")
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "talk"}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()
    await fake_groq.wait_for(lambda: fake_groq.disconnects == 1)


# --------------------------------------------------------------------------- pipecat + Groq


def _llm(fake: FakeGroq) -> GroqLLMService:
    return GroqLLMService(
        api_key="gsk_test",
        base_url=fake.base_url,
        settings=GroqLLMService.Settings(model=MODEL),
    )


def _tools() -> ToolsSchema:
    return ToolsSchema(
        standard_tools=[
            FunctionSchema(
                name="take_note",
                description="Save a note.",
                properties={"content": {"type": "string"}},
                required=["content"],
            )
        ]
    )


async def test_pipecat_groq_llm_text_and_function_call(fake_groq: FakeGroq):
    fake_groq.reply_tool_call("take_note", {"content": "buy milk"})
    fake_groq.reply_text("Noted: buy milk.")
    context = LLMContext(
        messages=[{"role": "user", "content": "take a note buy milk"}], tools=_tools()
    )
    user, assistant = LLMContextAggregatorPair(context)
    llm = _llm(fake_groq)
    notes: list[dict] = []

    async def take_note(params: FunctionCallParams):
        notes.append(dict(params.arguments))
        await params.result_callback({"saved": True})

    llm.register_function("take_note", take_note)

    async with Run(user, llm, assistant) as run:
        await run.send(LLMRunFrame())
        await fake_groq.wait_for_chat_requests(2)
        await until(lambda: context.get_messages()[-1].get("content") == "Noted: buy milk.")

    assert notes == [{"content": "buy milk"}]
    first, second = fake_groq.chat_requests
    assert first["model"] == MODEL and first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert first["tools"][0]["function"]["name"] == "take_note"
    # The second request carries the call and its result, paired the way Groq requires.
    call_msg, result_msg = second["messages"][-2:]
    assert call_msg["role"] == "assistant"
    assert call_msg["tool_calls"][0]["function"]["name"] == "take_note"
    assert result_msg == {
        "role": "tool",
        "tool_call_id": call_msg["tool_calls"][0]["id"],
        "content": json.dumps({"saved": True}),
    }
    assert fake_groq.protocol_errors == []
    assert run.of(ErrorFrame, up=True) == []


async def test_pipecat_groq_llm_tool_use_failed_is_reported(fake_groq: FakeGroq):
    fake_groq.reply_tool_use_failed()
    fake_groq.reply_text("Second try works.")
    context = LLMContext(messages=[{"role": "user", "content": "note"}], tools=_tools())
    llm = _llm(fake_groq)

    async with Run(llm) as run:
        await run.send(LLMRunFrame(), LLMContextFrame(context=context))
        await until(lambda: len(run.of(LLMFullResponseEndFrame)) >= 1)
        await run.send(LLMContextFrame(context=context))
        await until(lambda: len(run.of(LLMFullResponseEndFrame)) >= 2)

    errors = run.of(ErrorFrame, up=True)
    assert len(errors) == 1 and errors[0].exception.body["code"] == "tool_use_failed"
    # A 400 is an INVALID_REQUEST, a "permanent" category: pipecat marks the service
    # unusable, but GroqLLMService still serves the next context.
    assert llm.is_usable is False
    assert "".join(f.text for f in run.of(LLMTextFrame)) == "Second try works."
    assert run.of(LLMFullResponseStartFrame)


async def test_pipecat_groq_llm_retry_on_timeout(fake_groq: FakeGroq):
    fake_groq.reply_delay(5.0, "too slow")
    fake_groq.reply_text("Fast enough.")
    llm = GroqLLMService(
        api_key="gsk_test",
        base_url=fake_groq.base_url,
        settings=GroqLLMService.Settings(model=MODEL),
        retry_on_timeout=True,
        retry_timeout_secs=0.2,
    )
    context = LLMContext(messages=[{"role": "user", "content": "hi"}])

    async with Run(llm) as run:
        await run.send(LLMContextFrame(context=context))
        await until(lambda: bool(run.of(LLMFullResponseEndFrame)))

    assert "".join(f.text for f in run.of(LLMTextFrame)) == "Fast enough."
    assert len(fake_groq.chat_requests) == 2  # the abandoned attempt, then the retry


async def test_pipecat_groq_stt_transcribes_a_segment(fake_groq: FakeGroq):
    fake_groq.transcribe("take a note buy milk")
    stt = GroqSTTService(api_key="gsk_test", base_url=fake_groq.base_url)
    pcm = wave.open(io.BytesIO(wav_bytes(0.6)), "rb").readframes(10**6)

    async with Run(stt) as run:
        await run.send(VADUserStartedSpeakingFrame())
        for i in range(0, len(pcm), 640):  # 20 ms frames
            await run.send(InputAudioRawFrame(pcm[i : i + 640], 16000, 1))
        await run.send(VADUserStoppedSpeakingFrame())
        await until(lambda: bool(run.of(TranscriptionFrame)))

    assert [f.text for f in run.of(TranscriptionFrame)] == ["take a note buy milk"]
    request = fake_groq.transcription_requests[0]
    assert request["model"] == "whisper-large-v3-turbo"
    assert request["response_format"] == "json" and request["language"] == "en"
    assert request.wav["sample_rate"] == 16000 and request.wav["channels"] == 1
    assert request.duration >= 0.6  # the segment, plus pipecat's trailing silence


# --------------------------------------------------------------------------- Cartesia SDK


async def test_cartesia_sdk_context(fake_cartesia: FakeCartesia, make_client):
    client = make_client(
        AsyncCartesia, api_key="sk_test", websocket_base_url=fake_cartesia.websocket_base_url
    )
    async with client.tts.websocket_connect() as conn:
        ctx = conn.context(
            model_id="sonic-3",
            voice={"mode": "id", "id": VOICE},
            output_format={"container": "raw", "encoding": "pcm_s16le", "sample_rate": 16000},
            add_timestamps=True,
        )
        await ctx.push("Hello there, ")
        await ctx.push("friend.")
        await ctx.no_more_inputs()
        events = [event async for event in ctx.receive()]

    types = [e.type for e in events]
    assert types[-1] == "done" and "error" not in types
    audio = b"".join(e.audio for e in events if e.type == "chunk")
    assert len(audio) == 2 * 16000 * 3 * 60 // 1000  # 3 words x 60 ms of 16-bit samples
    assert rms(audio) > 1000
    words = [w for e in events if e.type == "timestamps" for w in e.word_timestamps.words]
    assert words == ["Hello", "there,", "friend."]
    starts = [s for e in events if e.type == "timestamps" for s in e.word_timestamps.start]
    assert starts == sorted(starts) and starts[0] == 0
    # The SDK authenticates with a bearer token and its own API version.
    conn_info = fake_cartesia.connections[0]
    assert conn_info.api_key is None and conn_info.headers["authorization"] == "Bearer sk_test"
    assert conn_info.version
    assert fake_cartesia.protocol_errors == []


async def test_cartesia_sdk_flush_buffering_and_errors(fake_cartesia: FakeCartesia, make_client):
    client = make_client(
        AsyncCartesia, api_key="sk_test", websocket_base_url=fake_cartesia.websocket_base_url
    )
    voice = {"mode": "id", "id": VOICE}
    fmt = {"container": "raw", "encoding": "pcm_f32le", "sample_rate": 44100}
    async with client.tts.websocket_connect() as conn:
        # Managed buffering: text waits for a flush (or the end of the context).
        ctx = conn.context(model_id="sonic-3", voice=voice, output_format=fmt)
        await ctx.push("Hello there.", flush=True)
        await ctx.push(" Bye now.")
        await ctx.no_more_inputs()
        events = [event async for event in ctx.receive()]

        bad = conn.context(model_id="sonic-3", voice=voice, output_format={**fmt, "sample_rate": 1})
        await bad.push("Hi.")
        errors = [event async for event in bad.receive()]

    types = [e.type for e in events]
    assert types.index("flush_done") < types.index("done") == len(types) - 1
    flush_done = events[types.index("flush_done")]
    assert flush_done.flush_id == 1 and flush_done.flush_done is True
    chunks = [e for e in events if e.type == "chunk"]
    assert {c.flush_id for c in chunks} == {1, 2}
    assert sum(len(c.audio) for c in chunks) == 4 * 4 * 44100 * 60 // 1000  # 4 words, f32
    assert [e.type for e in errors] == ["error"] and "sample_rate" in errors[0].message
    assert len(fake_cartesia.protocol_errors) == 1

    fake_cartesia.fail_next_connection(503)
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with client.tts.websocket_connect() as conn:
            pass
    assert fake_cartesia.rejected_connections[-1]["status"] == 503


async def test_cartesia_cancel_stops_the_context(fake_cartesia: FakeCartesia, make_client):
    fake_cartesia.chunk_delay = 0.005
    client = make_client(
        AsyncCartesia, api_key="sk_test", websocket_base_url=fake_cartesia.websocket_base_url
    )
    async with client.tts.websocket_connect() as conn:
        ctx = conn.context(
            model_id="sonic-3",
            voice={"mode": "id", "id": VOICE},
            output_format={"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
        )
        await ctx.send(
            transcript=" ".join(["word"] * 200), voice={"mode": "id", "id": VOICE}, continue_=False
        )
        await fake_cartesia.wait_for(lambda: len(fake_cartesia.sent_of_type("chunk")) >= 3)
        await ctx.cancel()
        await fake_cartesia.wait_for(lambda: fake_cartesia.contexts[ctx._context_id].cancelled)

    state = fake_cartesia.contexts[ctx._context_id]
    assert state.cancelled and not state.done
    assert fake_cartesia.sent_for(ctx._context_id, "done") == []
    assert len(fake_cartesia.sent_for(ctx._context_id, "chunk")) < 600  # it stopped early


# --------------------------------------------------------------------------- pipecat + Cartesia


def _tts(fake: FakeCartesia, **settings) -> CartesiaTTSService:
    return CartesiaTTSService(
        api_key="sk_test",
        url=fake.url,
        settings=CartesiaTTSService.Settings(voice=VOICE, model="sonic-3", **settings),
    )


async def test_pipecat_cartesia_tts(fake_cartesia: FakeCartesia):
    tts = _tts(fake_cartesia, generation_config=GenerationConfig(speed=1.1, emotion="calm"))

    async with Run(tts) as run:
        await run.send(TTSSpeakFrame("Hello there. Your note is saved."))
        await until(lambda: bool(run.of(TTSStoppedFrame)))

    audio = b"".join(f.audio for f in run.of(TTSAudioRawFrame))
    assert rms(audio) > 1000
    assert all(f.sample_rate == 24000 for f in run.of(TTSAudioRawFrame))
    assert [f.text for f in run.of(TTSTextFrame)] == [
        "Hello",
        "there.",
        "Your",
        "note",
        "is",
        "saved.",
    ]

    requests = fake_cartesia.requests
    first, last = requests[0], requests[-1]
    assert first["model_id"] == "sonic-3"
    assert first["voice"] == {"mode": "id", "id": VOICE}
    assert first["output_format"] == {
        "container": "raw",
        "encoding": "pcm_s16le",
        "sample_rate": 24000,
    }
    assert first["generation_config"] == {"speed": 1.1, "emotion": "calm"}
    assert first["continue"] is True and first["add_timestamps"] is True
    assert first["language"] == "en" and first["max_buffer_delay_ms"] == 0
    # The utterance is closed by an empty transcript with continue: false, and done
    # comes only after it.
    assert last["transcript"] == "" and last["continue"] is False
    ctx = fake_cartesia.contexts[first["context_id"]]
    assert ctx.done and ctx.text.split() == ["Hello", "there.", "Your", "note", "is", "saved."]
    sent_types = [m["type"] for m in fake_cartesia.sent_for(first["context_id"])]
    assert sent_types[-1] == "done" and sent_types.count("done") == 1
    conn = fake_cartesia.connections[0]
    assert conn.headers["x-api-key"] == "sk_test"
    assert conn.headers["cartesia-version"] == "2026-03-01"
    assert fake_cartesia.protocol_errors == []


async def test_pipecat_cartesia_default_model_and_no_generation_config(
    fake_cartesia: FakeCartesia,
):
    tts = CartesiaTTSService(
        api_key="sk_test", url=fake_cartesia.url, settings=CartesiaTTSService.Settings(voice=VOICE)
    )
    async with Run(tts) as run:
        await run.send(TTSSpeakFrame("Hi."))
        await until(lambda: bool(run.of(TTSStoppedFrame)))

    first = fake_cartesia.requests[0]
    assert first["model_id"] == "sonic-3.6"  # pipecat 1.14's default
    assert "generation_config" not in first


async def _speak_llm_turn(run: Run, tokens: list[str]) -> None:
    await run.send(LLMFullResponseStartFrame())
    for token in tokens:
        await run.send(LLMTextFrame(token))
    await run.send(LLMFullResponseEndFrame())
    await until(lambda: bool(run.of(TTSStoppedFrame)))


TURN = ["Sure", ".", " I", " saved", " your", " note", ".", " Anything", " else", "?"]


async def test_pipecat_cartesia_llm_turn_is_one_context(fake_cartesia: FakeCartesia):
    tts = _tts(fake_cartesia)
    async with Run(tts) as run:
        await _speak_llm_turn(run, TURN)

    # Sentence aggregation: one message per sentence (stripped: each is generated on its
    # own since max_buffer_delay_ms is 0), all in one context, then an empty
    # continue: false.
    transcripts = [(r["transcript"], r["continue"]) for r in fake_cartesia.requests]
    assert [t for t, _ in transcripts if t] == ["Sure.", "I saved your note.", "Anything else?"]
    assert transcripts[-1] == ("", False) and all(c for _, c in transcripts[:-1])
    assert len({r["context_id"] for r in fake_cartesia.requests}) == 1
    words = [f.text for f in run.of(TTSTextFrame)]
    assert words == ["Sure.", "I", "saved", "your", "note.", "Anything", "else?"]
    flush_ids = [m["flush_id"] for m in fake_cartesia.sent_of_type("flush_done")]
    assert flush_ids == [1, 2, 3]
    starts = [
        s for m in fake_cartesia.sent_of_type("timestamps") for s in m["word_timestamps"]["start"]
    ]
    assert starts == sorted(starts)  # times run on across the context's submissions
    assert fake_cartesia.protocol_errors == []


async def test_pipecat_cartesia_token_mode_uses_server_buffering(fake_cartesia: FakeCartesia):
    tts = CartesiaTTSService(
        api_key="sk_test",
        url=fake_cartesia.url,
        settings=CartesiaTTSService.Settings(voice=VOICE),
        text_aggregation_mode=TextAggregationMode.TOKEN,
    )
    async with Run(tts) as run:
        await _speak_llm_turn(run, TURN)

    assert all("max_buffer_delay_ms" not in r for r in fake_cartesia.requests)
    ctx = next(iter(fake_cartesia.contexts.values()))
    assert ctx.done and " ".join(ctx.words) == "Sure. I saved your note. Anything else?"
    assert "".join(f.text + " " for f in run.of(TTSTextFrame)).split() == ctx.words
    assert fake_cartesia.protocol_errors == []


async def test_pipecat_cartesia_interruption_sends_cancel(fake_cartesia: FakeCartesia):
    fake_cartesia.chunk_delay = 0.005
    tts = _tts(fake_cartesia)

    async with Run(tts) as run:
        await run.send(TTSSpeakFrame(" ".join(["blah"] * 100) + "."))
        await fake_cartesia.wait_for(lambda: len(fake_cartesia.sent_of_type("chunk")) >= 3)
        await run.send(InterruptionFrame())
        await fake_cartesia.wait_for(lambda: any("cancel" in r for r in fake_cartesia.requests))

    cancel = next(r for r in fake_cartesia.requests if "cancel" in r)
    assert cancel == {"context_id": fake_cartesia.requests[0]["context_id"], "cancel": True}
    ctx = fake_cartesia.contexts[cancel["context_id"]]
    assert ctx.cancelled and not ctx.done
    assert fake_cartesia.protocol_errors == []


async def test_pipecat_cartesia_reconnects_after_a_drop(fake_cartesia: FakeCartesia):
    tts = _tts(fake_cartesia)
    fake_cartesia.fail_next("drop", after_chunks=2)

    async with Run(tts) as run:
        await run.send(TTSSpeakFrame("This one gets cut off."))
        await fake_cartesia.wait_for_connections(2)
        await run.send(TTSSpeakFrame("This one arrives."))
        await fake_cartesia.wait_for(
            lambda: any(c.done and c.connection == 1 for c in fake_cartesia.contexts.values())
        )
        await until(lambda: "arrives." in [f.text for f in run.of(TTSTextFrame)])

    dropped, ok = list(fake_cartesia.contexts.values())
    assert dropped.connection == 0 and not dropped.done
    assert ok.connection == 1 and ok.done and ok.text.strip() == "This one arrives."
    assert fake_cartesia.protocol_errors == []
