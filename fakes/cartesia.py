"""A local, scriptable fake of Cartesia's TTS websocket (``wss://api.cartesia.ai/tts/websocket``).

``async with FakeCartesia() as fake:`` serves ``fake.url``
(``ws://127.0.0.1:PORT/tts/websocket``), which is what pipecat's
``CartesiaTTSService(url=...)`` takes as is.

Handshake: the path must be ``/tts/websocket``; the API key comes from the
``X-API-Key`` header (what pipecat sends) or the ``api_key`` query parameter, the
version from the ``Cartesia-Version`` header (pipecat sends ``2026-03-01``) or the
``cartesia_version`` query parameter. A missing key is refused with HTTP 401, a
missing version with 400.

Client messages (JSON text frames), as in the Cartesia SDK's ``GenerationRequestParam``
and ``CancelContextRequest``:

* generation request: ``context_id``, ``model_id``, ``transcript``,
  ``voice {mode: "id", id}``, ``output_format {container: "raw", encoding, sample_rate}``,
  and optionally ``continue`` (default false), ``flush``, ``add_timestamps``,
  ``use_normalized_timestamps``, ``language``, ``generation_config {volume, speed,
  emotion}``, ``max_buffer_delay_ms``, ``pronunciation_dict_id``, ``speed``, ...
  Unknown keys, bad values, a changed model/voice/format/language within a context, or
  text sent to a context that was already closed with ``continue: false`` are answered
  with an ``error`` message and recorded in ``fake.protocol_errors``.
* cancel: ``{"context_id": ..., "cancel": true}``: nothing more is sent for the context
  (no ``done``).

Server messages, per context, shaped like the SDK's ``WebsocketResponse``:

* ``chunk``: ``{type, context_id, data (base64 audio), done: false, status_code: 206,
  step_time, flush_id}``: a non-silent tone in the requested encoding
  (``pcm_s16le``, ``pcm_f32le``, ``pcm_mulaw``, ``pcm_alaw``) and sample rate, lasting
  ``ms_per_word`` per word, cut in ``chunk_ms`` pieces;
* ``timestamps`` (when ``add_timestamps``): ``word_timestamps {words, start, end}``,
  one message per word, the words of the transcript split on whitespace, times in
  seconds from the start of the context's audio;
* ``flush_done``: ``{flush_id, flush_done: true}`` after each submission's audio when
  ``max_buffer_delay_ms == 0`` (custom buffering, what pipecat asks for in sentence
  mode) or when ``flush: true`` was sent. With managed buffering (``max_buffer_delay_ms``
  unset or > 0) text is buffered until a flush, the final message, or
  ``fake.buffer_delay`` seconds of quiet;
* ``done``: ``{done: true, status_code: 200}`` once the final message
  (``continue: false``) has arrived and all the context's audio has been sent;
* ``error``: ``{done: true, status_code, title, message, error_code, error}``.

Failures are scriptable: ``fail_next("drop" | "close" | "close_normal" | "error")``
breaks the next synthesis after some chunks, ``fail_next_connection(status)`` refuses
the next handshake(s). ``hold_audio()`` holds every synthesis back (requests are taken and
recorded, nothing is sent for them) until ``release_audio()``: a window between a request
and its audio. Everything is recorded: ``requests`` (every client message,
parsed, in order), ``connections`` (path, query, headers), ``sent`` (every server
message), ``contexts`` (per-context summary).
"""

# The wait helpers take a timeout= on purpose: tests read better with it.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import base64
import json
import math
import secrets
import ssl as ssl_module
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["CartesiaConnection", "CartesiaContext", "FakeCartesia"]

WS_PATH = "/tts/websocket"

GENERATION_KEYS = frozenset(
    {
        "context_id",
        "model_id",
        "transcript",
        "voice",
        "output_format",
        "continue",
        "flush",
        "add_timestamps",
        "add_phoneme_timestamps",
        "use_normalized_timestamps",
        "language",
        "generation_config",
        "max_buffer_delay_ms",
        "pronunciation_dict_id",
        "speed",
        "duration",
    }
)
ENCODINGS = {"pcm_s16le": 2, "pcm_f32le": 4, "pcm_mulaw": 1, "pcm_alaw": 1}
SAMPLE_RATES = frozenset({8000, 16000, 22050, 24000, 44100, 48000})
# Settings a context keeps from its first message.
LOCKED_KEYS = ("model_id", "voice", "output_format", "language")


@dataclass
class CartesiaConnection:
    """One accepted websocket connection."""

    index: int
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    api_key: str | None
    version: str | None
    closed: bool = False


@dataclass
class CartesiaContext:
    """What the fake knows about one context."""

    context_id: str
    connection: int
    first_request: dict[str, Any]
    transcripts: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # words synthesized (sent as timestamps)
    audio: bytearray = field(default_factory=bytearray)
    seconds: float = 0.0  # audio duration sent so far
    flushes: int = 0
    final_received: bool = False  # a message with continue: false arrived
    done: bool = False  # the done message was sent
    cancelled: bool = False
    error: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.transcripts)

    @property
    def closed(self) -> bool:
        return self.final_received or self.cancelled or self.error is not None


@dataclass
class _Failure:
    mode: str
    after_chunks: int
    status_code: int
    message: str


class _ContextWorker:
    """Synthesizes one context's submissions in order, on its own task."""

    def __init__(self, session: _Session, ctx: CartesiaContext, request: dict[str, Any]):
        self.session = session
        self.fake = session.fake
        self.ctx = ctx
        self.request = request
        fmt = request["output_format"]
        self.sample_rate: int = fmt["sample_rate"]
        self.encoding: str = fmt["encoding"]
        self.add_timestamps = bool(request.get("add_timestamps"))
        delay = request.get("max_buffer_delay_ms")
        self.managed_buffering = delay is None or delay > 0
        self.queue: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue()
        self.phase = 0  # sample index, so the tone is continuous across chunks
        self.task = asyncio.create_task(self._run(), name=f"cartesia-ctx-{ctx.context_id}")

    def submit(self, transcript: str, flush: bool, final: bool) -> None:
        self.queue.put_nowait(("final" if final else "text", transcript, flush))

    async def _run(self) -> None:
        buffered = ""
        try:
            while True:
                timeout = self.fake.buffer_delay if (buffered and self.managed_buffering) else None
                try:
                    async with asyncio.timeout(timeout):
                        kind, text, flush = await self.queue.get()
                except TimeoutError:
                    await self._synthesize(buffered)
                    buffered = ""
                    continue
                if self.managed_buffering:
                    buffered += text
                    if flush or kind == "final":
                        await self._synthesize(buffered)
                        buffered = ""
                        if flush:
                            await self._flush_done()
                else:
                    await self._synthesize(text)
                    if text.strip() or flush:
                        await self._flush_done()
                if kind == "final":
                    await self.session.send(
                        {
                            "type": "done",
                            "context_id": self.ctx.context_id,
                            "done": True,
                            "status_code": 200,
                        }
                    )
                    self.ctx.done = True
                    await self.fake._notify()
                    return
        except _Stop:
            return
        except Exception as e:  # a bug in the fake must fail the test, not vanish
            self.fake.protocol_errors.append(f"fake internal error: {e!r}")
            raise

    async def _flush_done(self) -> None:
        self.ctx.flushes += 1
        await self.session.send(
            {
                "type": "flush_done",
                "context_id": self.ctx.context_id,
                "flush_id": self.ctx.flushes,
                "flush_done": True,
                "done": False,
                "status_code": 206,
            }
        )

    async def _synthesize(self, text: str) -> None:
        words = text.split()
        if not words:
            return
        await self.fake._audio_flowing.wait()
        failure = self.fake._failures.pop(0) if self.fake._failures else None
        sent_chunks = 0
        flush_id = self.ctx.flushes + 1
        chunk_samples = max(1, int(self.sample_rate * self.fake.chunk_ms / 1000))
        for word in words:
            start = self.ctx.seconds
            n = max(1, round(self.sample_rate * self.fake.ms_per_word / 1000))
            duration = n / self.sample_rate
            if self.add_timestamps:
                await self.session.send(
                    {
                        "type": "timestamps",
                        "context_id": self.ctx.context_id,
                        "done": False,
                        "status_code": 206,
                        "flush_id": flush_id,
                        "word_timestamps": {
                            "words": [word],
                            "start": [round(start, 4)],
                            "end": [round(start + duration, 4)],
                        },
                    }
                )
            self.ctx.words.append(word)
            remaining = n
            while remaining > 0:
                if failure and sent_chunks >= failure.after_chunks:
                    await self._fail(failure)
                count = min(chunk_samples, remaining)
                audio = self._tone(count)
                remaining -= count
                self.ctx.audio += audio
                self.ctx.seconds += count / self.sample_rate
                await self.session.send(
                    {
                        "type": "chunk",
                        "context_id": self.ctx.context_id,
                        "data": base64.b64encode(audio).decode(),
                        "done": False,
                        "status_code": 206,
                        "step_time": 1.0,
                        "flush_id": flush_id,
                    }
                )
                sent_chunks += 1
                # Let cancel messages in between chunks, as the real service does.
                await asyncio.sleep(self.fake.chunk_delay)
        if failure:
            await self._fail(failure)

    async def _fail(self, failure: _Failure) -> None:
        ws = self.session.ws
        if failure.mode == "error":
            self.ctx.error = failure.message
            await self.session.send(
                _error(self.ctx.context_id, failure.status_code, failure.message)
            )
            await self.fake._notify()
            raise _Stop
        if failure.mode == "drop":
            ws.transport.abort()
        elif failure.mode == "close":
            await ws.close(1011, failure.message)
        else:  # close_normal
            await ws.close(1000, "")
        raise _Stop

    def _tone(self, count: int) -> bytes:
        freq, rate, amp = self.fake.tone_hz, self.sample_rate, self.fake.amplitude
        samples = [
            amp * math.sin(2 * math.pi * freq * (self.phase + i) / rate) for i in range(count)
        ]
        self.phase += count
        if self.encoding == "pcm_f32le":
            return struct.pack(f"<{count}f", *samples)
        ints = [int(s * 32767) for s in samples]
        if self.encoding == "pcm_mulaw":
            return bytes(_mulaw(v) for v in ints)
        if self.encoding == "pcm_alaw":
            return bytes(_alaw(v) for v in ints)
        return struct.pack(f"<{count}h", *ints)


class _Stop(Exception):
    """Ends a context worker (cancelled, failed)."""


class _Session:
    """One websocket connection: routes messages to per-context workers."""

    def __init__(self, fake: FakeCartesia, ws: ServerConnection, conn: CartesiaConnection):
        self.fake = fake
        self.ws = ws
        self.conn = conn
        self.workers: dict[str, _ContextWorker] = {}

    async def send(self, message: dict[str, Any]) -> None:
        try:
            await self.ws.send(json.dumps(message))
        except ConnectionClosed:
            raise _Stop from None
        self.fake.sent.append(message)
        await self.fake._notify()

    async def error(self, context_id: str | None, message: str, status: int = 400) -> None:
        self.fake.protocol_errors.append(message)
        try:
            await self.send(_error(context_id, status, message))
        except _Stop:
            pass
        await self.fake._notify()

    async def handle(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            await self.error(None, "binary messages are not supported")
            return
        try:
            msg = json.loads(raw)
        except json.JSONDecodeError:
            await self.error(None, f"invalid JSON: {raw[:80]!r}")
            return
        if not isinstance(msg, dict):
            await self.error(None, "message must be a JSON object")
            return
        self.fake.requests.append(msg)
        await self.fake._notify()

        context_id = msg.get("context_id")
        if msg.get("cancel") is True:
            await self._cancel(context_id)
            return
        problem = _validate(msg, self.fake.models)
        if problem:
            await self.error(context_id if isinstance(context_id, str) else None, problem)
            return

        ctx = self.fake.contexts.get(context_id)
        worker = self.workers.get(context_id)
        if ctx is not None and ctx.closed:
            if ctx.cancelled:
                self.fake.late_messages.append(msg)
                return
            await self.error(context_id, f"context {context_id} is already closed")
            return
        if ctx is None or worker is None:
            ctx = CartesiaContext(context_id, self.conn.index, msg)
            self.fake.contexts[context_id] = ctx
            worker = _ContextWorker(self, ctx, msg)
            self.workers[context_id] = worker
        else:
            for key in LOCKED_KEYS:
                if msg.get(key) != ctx.first_request.get(key):
                    await self.error(
                        context_id, f"{key} cannot change within a context ({context_id})"
                    )
                    return

        final = not msg.get("continue", False)
        ctx.transcripts.append(msg["transcript"])
        if final:
            ctx.final_received = True
        worker.submit(msg["transcript"], bool(msg.get("flush")), final)

    async def _cancel(self, context_id: Any) -> None:
        if not isinstance(context_id, str) or not context_id:
            await self.error(None, "cancel requires a context_id")
            return
        ctx = self.fake.contexts.get(context_id)
        if ctx is not None:
            ctx.cancelled = True
        worker = self.workers.pop(context_id, None)
        if worker is not None:
            worker.task.cancel()
        await self.fake._notify()

    async def close(self) -> None:
        self.conn.closed = True
        workers = list(self.workers.values())
        for worker in workers:
            worker.task.cancel()
        for worker in workers:
            try:
                await worker.task
            except (asyncio.CancelledError, _Stop, ConnectionClosed):
                pass
        await self.fake._notify()


class FakeCartesia:
    """Fake Cartesia TTS websocket server. ``async with FakeCartesia() as fake: fake.url``.

    Args:
        ms_per_word: Audio generated per word, in milliseconds.
        chunk_ms: Audio per ``chunk`` message, in milliseconds.
        chunk_delay: Seconds to sleep after each chunk (0 just yields to the loop).
        buffer_delay: With managed buffering, seconds of quiet before buffered text
            is synthesized (stands in for the real ``max_buffer_delay_ms``).
        api_keys: If given, only these keys are accepted (HTTP 401 otherwise).
        models: If given, only these ``model_id`` values are accepted.
        ssl: If given, a server TLS context: the fake serves ``wss://``, as Cartesia does.
    """

    def __init__(
        self,
        *,
        ms_per_word: float = 60.0,
        chunk_ms: float = 20.0,
        chunk_delay: float = 0.0,
        buffer_delay: float = 0.05,
        tone_hz: float = 440.0,
        amplitude: float = 0.3,
        api_keys: set[str] | None = None,
        models: set[str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ):
        self.ms_per_word = ms_per_word
        self.chunk_ms = chunk_ms
        self.chunk_delay = chunk_delay
        self.buffer_delay = buffer_delay
        self.tone_hz = tone_hz
        self.amplitude = amplitude
        self.api_keys = api_keys
        self.models = models
        self.ssl = ssl  # serve wss:// with this server context

        self.requests: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.connections: list[CartesiaConnection] = []
        self.rejected_connections: list[dict[str, Any]] = []
        self.contexts: dict[str, CartesiaContext] = {}
        self.protocol_errors: list[str] = []
        self.late_messages: list[dict[str, Any]] = []  # sent to already-cancelled contexts

        self._failures: list[_Failure] = []
        self._connection_failures: list[int] = []
        self._audio_flowing = asyncio.Event()
        self._audio_flowing.set()
        self._sessions: set[_Session] = set()
        self._changed = asyncio.Condition()
        self._server: Server | None = None
        self.port: int | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> FakeCartesia:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            max_size=None,
            ssl=self.ssl,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeCartesia:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def websocket_base_url(self) -> str:
        """What ``cartesia.AsyncCartesia(websocket_base_url=...)`` takes (it adds the path)."""
        return f"{'wss' if self.ssl else 'ws'}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The websocket URL for ``CartesiaTTSService(url=...)``."""
        return f"{self.websocket_base_url}{WS_PATH}"

    # ---------------------------------------------------------------- scripting

    def fail_next(
        self,
        mode: str = "drop",
        *,
        after_chunks: int = 1,
        status_code: int = 500,
        message: str = "Internal server error",
    ) -> None:
        """Break the next synthesis (of any context) after ``after_chunks`` chunks.

        Modes: ``drop`` (TCP abort, no close frame: the client sees code 1006),
        ``close`` (close frame 1011), ``close_normal`` (close frame 1000), ``error``
        (an ``error`` message for the context, which then gets nothing more).
        """
        if mode not in {"drop", "close", "close_normal", "error"}:
            raise ValueError(f"unknown failure mode {mode!r}")
        self._failures.append(_Failure(mode, after_chunks, status_code, message))

    def hold_audio(self) -> None:
        """Send nothing for any synthesis (no audio, timestamps or ``done``) until
        ``release_audio``; requests still arrive and are recorded."""
        self._audio_flowing.clear()

    def release_audio(self) -> None:
        self._audio_flowing.set()

    def fail_next_connection(self, status: int = 503, times: int = 1) -> None:
        """Refuse the next ``times`` handshakes with HTTP ``status``."""
        self._connection_failures.extend([status] * times)

    def accept_connections(self) -> None:
        """Stop refusing handshakes (what ``fail_next_connection`` still had queued)."""
        self._connection_failures.clear()

    async def drop_connections(self) -> None:
        """Abort every open connection (like a network drop)."""
        for session in list(self._sessions):
            session.ws.transport.abort()

    # ---------------------------------------------------------------- inspection

    @property
    def connection_count(self) -> int:
        return len(self.connections)

    def requests_for(self, context_id: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("context_id") == context_id]

    def sent_for(self, context_id: str, type: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.sent
            if m.get("context_id") == context_id and (type is None or m["type"] == type)
        ]

    def sent_of_type(self, type: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["type"] == type]

    def audio_for(self, context_id: str) -> bytes:
        return bytes(self.contexts[context_id].audio)

    def clear(self) -> None:
        self.requests.clear()
        self.sent.clear()
        self.connections.clear()
        self.rejected_connections.clear()
        self.contexts.clear()
        self.protocol_errors.clear()
        self.late_messages.clear()
        self._failures.clear()
        self._connection_failures.clear()

    # ---------------------------------------------------------------- waiting

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true (re-checked after each message in or out)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        await self.wait_for(lambda: len(self.requests) >= n, timeout)
        return self.requests

    async def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        await self.wait_for(lambda: len(self.connections) >= n, timeout)

    async def wait_for_done(self, context_id: str | None = None, timeout: float = 5.0) -> None:
        """Wait until ``context_id`` (or, without one, any context) got its ``done``."""

        def done() -> bool:
            if context_id is None:
                return any(c.done for c in self.contexts.values())
            ctx = self.contexts.get(context_id)
            return ctx is not None and ctx.done

        await self.wait_for(done, timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---------------------------------------------------------------- server

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query))
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        info = {"path": request.path, "query": query, "headers": headers}
        if parts.path != WS_PATH:
            self.rejected_connections.append({**info, "status": 404})
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        if self._connection_failures:
            status = self._connection_failures.pop(0)
            self.rejected_connections.append({**info, "status": status})
            return connection.respond(HTTPStatus(status), f"{HTTPStatus(status).phrase}\n")
        api_key = headers.get("x-api-key") or query.get("api_key")
        if not api_key:
            bearer = headers.get("authorization", "")
            api_key = bearer[7:] if bearer.lower().startswith("bearer ") else None
        if not api_key or (self.api_keys is not None and api_key not in self.api_keys):
            self.rejected_connections.append({**info, "status": 401})
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Invalid API key\n")
        version = headers.get("cartesia-version") or query.get("cartesia_version")
        if not version:
            self.rejected_connections.append({**info, "status": 400})
            return connection.respond(
                HTTPStatus.BAD_REQUEST, "Cartesia-Version header is required\n"
            )
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query))
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        conn = CartesiaConnection(
            index=len(self.connections),
            path=parts.path,
            query=query,
            headers=headers,
            api_key=headers.get("x-api-key") or query.get("api_key"),
            version=headers.get("cartesia-version") or query.get("cartesia_version"),
        )
        self.connections.append(conn)
        session = _Session(self, ws, conn)
        self._sessions.add(session)
        await self._notify()
        try:
            async for raw in ws:
                await session.handle(raw)
        except ConnectionClosed:
            pass
        finally:
            self._sessions.discard(session)
            await session.close()


# --------------------------------------------------------------------------- helpers


def _error(context_id: str | None, status: int, message: str) -> dict[str, Any]:
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    msg: dict[str, Any] = {
        "type": "error",
        "done": True,
        "status_code": status,
        "title": title,
        "message": message,
        "error_code": "invalid_request" if status < 500 else "internal_error",
        "request_id": "req_" + secrets.token_hex(8),
        "error": message,
    }
    if context_id is not None:
        msg["context_id"] = context_id
    return msg


def _validate(msg: dict[str, Any], models: set[str] | None) -> str | None:
    """Return what Cartesia would complain about in a generation request, or None."""
    for key in msg:
        if key not in GENERATION_KEYS:
            return f"unknown field {key!r}"
    for key in ("context_id", "model_id", "transcript", "voice", "output_format"):
        if key not in msg:
            return f"missing required field {key!r}"
    if not isinstance(msg["context_id"], str) or not msg["context_id"]:
        return "context_id must be a non-empty string"
    if not isinstance(msg["model_id"], str) or not msg["model_id"]:
        return "model_id must be a non-empty string"
    if models is not None and msg["model_id"] not in models:
        return f"model {msg['model_id']!r} not found"
    if not isinstance(msg["transcript"], str):
        return "transcript must be a string"
    voice = msg["voice"]
    if not isinstance(voice, dict) or voice.get("mode") not in {"id", "embedding"}:
        return "voice.mode must be 'id' or 'embedding'"
    if voice["mode"] == "id" and (not isinstance(voice.get("id"), str) or not voice["id"]):
        return "voice.id must be a non-empty string"
    fmt = msg["output_format"]
    if not isinstance(fmt, dict):
        return "output_format must be an object"
    if fmt.get("container") != "raw":
        return "output_format.container must be 'raw' on the websocket"
    if fmt.get("encoding") not in ENCODINGS:
        return f"output_format.encoding must be one of {sorted(ENCODINGS)}"
    if fmt.get("sample_rate") not in SAMPLE_RATES:
        return f"output_format.sample_rate must be one of {sorted(SAMPLE_RATES)}"
    for key in ("continue", "flush", "add_timestamps", "use_normalized_timestamps"):
        if key in msg and msg[key] is not None and not isinstance(msg[key], bool):
            return f"{key} must be a boolean"
    delay = msg.get("max_buffer_delay_ms")
    if delay is not None and (not isinstance(delay, int) or not 0 <= delay <= 5000):
        return "max_buffer_delay_ms must be an integer in [0, 5000]"
    if "language" in msg and not isinstance(msg["language"], str):
        return "language must be a string"
    config = msg.get("generation_config")
    if config is not None:
        if not isinstance(config, dict):
            return "generation_config must be an object"
        for key, value in config.items():
            if key == "volume" and not 0.5 <= value <= 2.0:
                return "generation_config.volume must be in [0.5, 2.0]"
            if key == "speed" and not 0.6 <= value <= 1.5:
                return "generation_config.speed must be in [0.6, 1.5]"
            if key == "emotion" and not isinstance(value, str):
                return "generation_config.emotion must be a string"
            if key not in {"volume", "speed", "emotion"}:
                return f"generation_config.{key} is not supported"
    return None


def _mulaw(sample: int) -> int:
    """G.711 mu-law encode one 16-bit sample."""
    value = sample >> 2  # 14-bit
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + 0x21
    segment = next((i for i, end in enumerate(_MULAW_SEGMENT_ENDS) if value <= end), 8)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


_MULAW_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def _alaw(sample: int) -> int:
    """G.711 A-law encode one 16-bit sample."""
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        value = -value - 1
    segment = next((i for i, end in enumerate(_ALAW_SEGMENT_ENDS) if value <= end), 8)
    if segment >= 8:
        return 0x7F ^ mask
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> shift) & 0x0F)) ^ mask


_ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
