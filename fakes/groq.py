"""A local, scriptable fake of Groq's OpenAI-compatible HTTP API.

Serves, on ``127.0.0.1`` (port 0), under the same base path Groq uses
(``https://api.groq.com/openai/v1``)::

    POST /openai/v1/chat/completions      stream=true (SSE) and stream=false
    POST /openai/v1/audio/transcriptions  multipart; json / verbose_json / text

so ``fake.base_url`` (``http://127.0.0.1:PORT/openai/v1``) is what the ``openai`` SDK,
pipecat's ``GroqLLMService(base_url=...)`` and ``GroqSTTService(base_url=...)`` take,
while ``fake.root_url`` (``http://127.0.0.1:PORT``) is what the ``groq`` SDK takes
(it appends ``/openai/v1`` itself).

Chat streaming follows OpenAI's ``chat.completion.chunk`` shape: a first chunk with
``delta.role="assistant"``, content deltas word by word, tool calls one per chunk
(first ``{index, id, type, function:{name, arguments:""}}``, then argument fragments
``{index, function:{arguments}}``), a chunk with an empty delta and ``finish_reason``
(carrying Groq's ``x_groq``), a usage chunk with ``choices: []`` when
``stream_options.include_usage`` is set, then ``data: [DONE]``.

Like the real API it requires ``Authorization: Bearer <key>`` (401 otherwise) and
rejects, with a 400 OpenAI-style error body, what Groq rejects: unsupported
top-level properties, unsupported message properties per role, a ``tool`` message
that does not answer a tool call of the assistant message before it, an assistant
``tool_calls`` message not followed by a result for each call. Every rejection is
also recorded in ``fake.protocol_errors`` so a test can assert there were none.

With ``context_limit`` set it answers, like a model's context window, a request whose prompt
(estimated as ``usage`` counts it) plus its ``max_tokens`` exceeds it with Groq's 400
``context_length_exceeded``, before any scripted reply is taken; ``context_refusals`` counts them.

Replies are scripted per test with a FIFO queue (``reply_text``, ``reply_tool_call``,
``reply_tool_calls``, ``reply_error``, ``reply_rate_limit``, ``reply_tool_use_failed``,
``reply_delay``, ``reply_with``); when it is empty ``default_reply`` is used. Transcriptions
likewise (``transcribe``, ``transcribe_error``, ``default_transcript``). Note that the
``openai`` SDK retries 408/409/429/5xx (and dropped connections) twice by default:
queue an error ``times=3`` to make it reach the caller.
"""

# The wait helpers take a timeout= on purpose: tests read better with it.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import inspect
import io
import json
import math
import re
import secrets
import time
import uuid
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "ErrorReply",
    "FakeGroq",
    "TextReply",
    "ToolCall",
    "ToolCallsReply",
    "TranscriptReply",
]

API_PREFIX = "/openai/v1"

# Top-level chat completion properties Groq accepts. Anything else gets Groq's
# "property 'x' is unsupported" 400.
CHAT_PARAMS = frozenset(
    {
        "messages",
        "model",
        "citation_options",
        "compound_custom",
        "disable_tool_validation",
        "documents",
        "exclude_domains",
        "frequency_penalty",
        "function_call",
        "functions",
        "include_domains",
        "include_reasoning",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "n",
        "parallel_tool_calls",
        "presence_penalty",
        "reasoning_effort",
        "reasoning_format",
        "response_format",
        "search_settings",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
    }
)

# Message properties per role, as Groq's request schema has them.
ROLE_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "function_call", "reasoning"}),
    "tool": frozenset({"role", "content", "tool_call_id", "name"}),
    "function": frozenset({"role", "content", "name"}),
}
CONTENT_PART_TYPES: dict[str, frozenset[str]] = {
    "system": frozenset({"text"}),
    "developer": frozenset({"text"}),
    "user": frozenset({"text", "image_url"}),
    "assistant": frozenset({"text"}),
    "tool": frozenset({"text"}),
    "function": frozenset({"text"}),
}
TRANSCRIPTION_FORMATS = frozenset({"json", "verbose_json", "text"})


# --------------------------------------------------------------------------- replies


@dataclass
class ToolCall:
    """One function call the fake model makes. ``arguments`` may be a dict or raw JSON text."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass
class TextReply:
    """An assistant text answer, streamed one word per chunk."""

    text: str
    delay: float = 0.0  # before the response headers are sent
    chunk_delay: float = 0.0  # between streamed chunks
    finish_reason: str = "stop"


@dataclass
class ToolCallsReply:
    """One or more tool calls (optionally after some text), finish_reason ``tool_calls``."""

    calls: list[ToolCall]
    text: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0


@dataclass
class ErrorReply:
    """An HTTP error (or, with ``in_stream``, an SSE ``error`` event after a 200)."""

    status: int
    body: Any = None  # dict -> JSON, str -> sent as is; None -> a Groq-like body
    headers: dict[str, str] | None = None
    delay: float = 0.0
    in_stream: bool = False


@dataclass
class TranscriptReply:
    """A transcription result, or an error when ``status`` is not 200."""

    text: str = ""
    status: int = 200
    body: Any = None
    delay: float = 0.0
    language: str | None = None


ChatReply = TextReply | ToolCallsReply | ErrorReply
ReplyFn = Callable[[dict[str, Any]], "ChatReply | str | Awaitable[ChatReply | str]"]


def _as_reply(value: Any) -> ChatReply:
    if isinstance(value, str):
        return TextReply(value)
    if isinstance(value, ToolCall):
        return ToolCallsReply([value])
    if isinstance(value, TextReply | ToolCallsReply | ErrorReply):
        return value
    raise TypeError(f"not a chat reply: {value!r}")


def default_error_body(status: int) -> dict[str, Any]:
    """A Groq-looking error body for an HTTP status."""
    if status == 400:
        error = {"message": "Bad request", "type": "invalid_request_error"}
    elif status == 401:
        error = {
            "message": "Invalid API Key",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    elif status == 404:
        error = {
            "message": "The model does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "code": "model_not_found",
        }
    elif status == 413:
        error = {
            "message": "Request Entity Too Large",
            "type": "invalid_request_error",
            "code": "request_too_large",
        }
    elif status == 429:
        error = {
            "message": (
                "Rate limit reached for model `llama-3.3-70b-versatile` in organization "
                "`org_fake` service tier `on_demand` on tokens per minute (TPM): Limit 6000, "
                "Used 6000, Requested 100. Please try again in 1s."
            ),
            "type": "tokens",
            "code": "rate_limit_exceeded",
        }
    elif status == 498:
        error = {
            "message": "Flex tier capacity exceeded. This is a temporary error.",
            "type": "internal_server_error",
            "code": "capacity_exceeded",
        }
    elif status == 503:
        error = {
            "message": "Service Unavailable",
            "type": "internal_server_error",
            "code": "service_unavailable",
        }
    else:
        error = {"message": "Internal Server Error", "type": "internal_server_error"}
    return {"error": error}


# llama-3.3-70b-versatile on a free key.
FREE_LIMITS = {
    ("requests", "minute"): 30,
    ("requests", "day"): 1000,
    ("tokens", "minute"): 12000,
    ("tokens", "day"): 100000,
}


def groq_duration(secs: float) -> str:
    """Groq's way of writing a wait: "7m12.5s", "59.56s", "2h3m0s"."""
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{seconds:.2f}".rstrip("0").rstrip(".") + "s"
    if minutes or hours:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


def rate_limit_reply(*, per: str, kind: str, retry_after: float) -> ErrorReply:
    """Groq's 429 when the ``kind`` per ``per`` limit is spent.

    Groq's own headers: ``x-ratelimit-limit-requests``/``-remaining-requests``/
    ``-reset-requests`` are about requests per day, the ``-tokens`` ones about tokens per
    minute, whichever limit was hit; ``retry-after`` only comes with a 429.
    """
    if (kind, per) not in FREE_LIMITS:
        raise ValueError(f"no such Groq limit: {kind} per {per}")
    limit = FREE_LIMITS[kind, per]
    code = f"{kind[0].upper()}P{per[0].upper()}"
    requested = 1203 if kind == "tokens" else 1
    message = (
        "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_fake` "
        f"service tier `on_demand` on {kind} per {per} ({code}): Limit {limit}, "
        f"Used {limit - requested // 2}, Requested {requested}. Please try again in "
        f"{groq_duration(retry_after)}. Need more tokens? Upgrade to Dev Tier today at "
        "https://console.groq.com/settings/billing"
    )
    day_requests_spent = (kind, per) == ("requests", "day")
    minute_tokens_spent = (kind, per) == ("tokens", "minute")
    headers = {
        "retry-after": str(math.ceil(retry_after)),
        "x-ratelimit-limit-requests": str(FREE_LIMITS["requests", "day"]),
        "x-ratelimit-limit-tokens": str(FREE_LIMITS["tokens", "minute"]),
        "x-ratelimit-remaining-requests": "0" if day_requests_spent else "977",
        "x-ratelimit-remaining-tokens": "0" if minute_tokens_spent else "10797",
        "x-ratelimit-reset-requests": groq_duration(retry_after if day_requests_spent else 86.4),
        "x-ratelimit-reset-tokens": groq_duration(retry_after if minute_tokens_spent else 6.02),
    }
    body = {"error": {"message": message, "type": kind, "code": "rate_limit_exceeded"}}
    return ErrorReply(429, body, headers=headers)


def _tokens(text: str) -> list[str]:
    """Split text the way a model streams it: each word with its leading whitespace."""
    parts = re.findall(r"\s*\S+", text)
    rest = text[len("".join(parts)) :]
    if rest:
        parts.append(rest)
    return parts


def _fragments(text: str, size: int) -> list[str]:
    if size <= 0 or len(text) <= size:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


def _rough_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value)) // 4)


def prompt_tokens(body: dict[str, Any]) -> int:
    """A chat request's prompt size as the fake estimates it: its messages and tools."""
    return _rough_tokens(body.get("messages", [])) + _rough_tokens(body.get("tools") or [])


def _wav_info(data: bytes) -> dict[str, Any] | None:
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            frames = w.getnframes()
            rate = w.getframerate()
            return {
                "sample_rate": rate,
                "channels": w.getnchannels(),
                "sample_width": w.getsampwidth(),
                "frames": frames,
                "duration": frames / rate if rate else 0.0,
            }
    except (wave.Error, EOFError):
        return None


@dataclass
class TranscriptionRequest:
    """What the fake saw in one ``/audio/transcriptions`` request."""

    fields: dict[str, str]  # every non-file form field (model, language, response_format, ...)
    filename: str | None
    content_type: str | None
    audio: bytes
    wav: dict[str, Any] | None  # sample_rate/channels/sample_width/frames/duration if a WAV

    @property
    def audio_bytes(self) -> int:
        return len(self.audio)

    @property
    def duration(self) -> float | None:
        return self.wav["duration"] if self.wav else None

    def as_dict(self) -> dict[str, Any]:
        """The form fields plus ``filename``, ``content_type``, ``audio_bytes``, ``duration``
        and ``sample_rate``/``channels`` (the last three None unless the file is a WAV)."""
        wav = self.wav or {}
        return {
            **self.fields,
            "filename": self.filename,
            "content_type": self.content_type,
            "audio_bytes": self.audio_bytes,
            "duration": self.duration,
            "sample_rate": wav.get("sample_rate"),
            "channels": wav.get("channels"),
        }

    def __getitem__(self, key: str) -> Any:  # dict-style access, see as_dict()
        return self.as_dict()[key]

    def __contains__(self, key: str) -> bool:
        return key in self.as_dict()

    def get(self, key: str, default: Any = None) -> Any:
        return self.as_dict().get(key, default)


# --------------------------------------------------------------------------- the fake


class FakeGroq:
    """Fake Groq API server. Use as ``async with FakeGroq() as fake: ... fake.base_url``.

    Args:
        default_reply: What the model answers when the reply queue is empty: a string,
            a reply object, or a callable ``fn(request_json)`` returning one.
        default_transcript: The transcript when the transcription queue is empty.
        api_keys: If given, only these bearer tokens are accepted (401 otherwise);
            by default any non-empty token is.
        models: If given, only these model ids exist (404 ``model_not_found`` otherwise).
        tool_args_fragment_size: Characters per streamed tool-argument fragment
            (OpenAI fragments arguments; Groq itself sends them whole: use 0 for that).
        validate: Reject malformed chat requests with a 400, as Groq does.
        context_limit: The model's context window in (estimated) tokens; None: unlimited.
    """

    def __init__(
        self,
        *,
        default_reply: ChatReply | str | ReplyFn = "OK.",
        default_transcript: str = "",
        api_keys: set[str] | None = None,
        models: set[str] | None = None,
        tool_args_fragment_size: int = 8,
        validate: bool = True,
        context_limit: int | None = None,
    ):
        self.default_reply = default_reply
        self.default_transcript = default_transcript
        self.api_keys = api_keys
        self.models = models
        self.tool_args_fragment_size = tool_args_fragment_size
        self.validate = validate
        self.context_limit = context_limit
        self.context_refusals = 0

        self.chat_requests: list[dict[str, Any]] = []
        self.chat_request_headers: list[dict[str, str]] = []
        self.transcription_requests: list[TranscriptionRequest] = []
        self.protocol_errors: list[str] = []
        self.auth_failures = 0
        self.disconnects = 0  # streams the client hung up on before [DONE]
        # (method, path, client port) of every request: the port tells the TCP connections apart.
        self.request_log: list[tuple[str, str, int]] = []
        # The `usage` of each completion sent in full (streamed ones: when include_usage asked).
        self.usage_reported: list[dict[str, Any]] = []

        self._replies: list[ChatReply | ReplyFn] = []
        self._routes: list[tuple[Callable[[dict[str, Any]], bool], ChatReply | ReplyFn]] = []
        self._transcripts: list[TranscriptReply] = []
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> FakeGroq:
        @web.middleware
        async def log_request(request: web.Request, handler):
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self.request_log.append((request.method, request.path, peer[1] if peer else -1))
            await self._notify()  # `wait_for` on the log (e.g. /models, which notifies nothing)
            return await handler(request)

        app = web.Application(client_max_size=100 * 1024 * 1024, middlewares=[log_request])
        app.router.add_post(f"{API_PREFIX}/chat/completions", self._chat)
        app.router.add_post(f"{API_PREFIX}/audio/transcriptions", self._transcriptions)
        app.router.add_get(f"{API_PREFIX}/models", self._models)
        self._closing.clear()
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._closing.set()  # ends scripted delays still running
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGroq:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        """Scheme, host and port: what ``groq.AsyncGroq(base_url=...)`` takes."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``openai.AsyncOpenAI`` and pipecat's Groq services take as ``base_url``."""
        return f"{self.root_url}{API_PREFIX}"

    # ---------------------------------------------------------------- scripting

    def reply(self, reply: ChatReply | str | ToolCall, times: int = 1) -> None:
        """Queue a reply object (or plain text) ``times`` times."""
        for _ in range(times):
            self._replies.append(_as_reply(reply))

    def reply_text(self, text: str, *, delay: float = 0.0, chunk_delay: float = 0.0) -> None:
        self.reply(TextReply(text, delay=delay, chunk_delay=chunk_delay))

    def reply_tool_call(
        self,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        id: str | None = None,
        text: str | None = None,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
    ) -> None:
        call = ToolCall(name, arguments if arguments is not None else {}, id=id)
        self.reply(ToolCallsReply([call], text=text, delay=delay, chunk_delay=chunk_delay))

    def reply_tool_calls(
        self,
        calls: list[ToolCall | tuple[str, dict[str, Any] | str]],
        *,
        text: str | None = None,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
    ) -> None:
        """Queue one reply calling several tools (parallel tool calls)."""
        parsed = [c if isinstance(c, ToolCall) else ToolCall(c[0], c[1]) for c in calls]
        self.reply(ToolCallsReply(parsed, text=text, delay=delay, chunk_delay=chunk_delay))

    def reply_error(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
        in_stream: bool = False,
        retry_after: float | None = 0.01,
    ) -> None:
        """Queue an error. A 429 gets ``retry-after: <retry_after>`` unless headers say otherwise.

        Real Groq sends whole seconds in ``retry-after``; the default here is tiny so
        that the SDK's automatic retries stay fast. Use ``times`` > the SDK's
        ``max_retries`` (2) for the error to reach the caller.
        """
        hdrs = dict(headers or {})
        if status == 429 and retry_after is not None:
            hdrs.setdefault("retry-after", f"{retry_after:g}")
        for _ in range(times):
            self._replies.append(
                ErrorReply(status, body, headers=hdrs, delay=delay, in_stream=in_stream)
            )

    def reply_rate_limit(
        self,
        *,
        per: str = "minute",
        kind: str = "tokens",
        retry_after: float = 2.0,
        times: int = 1,
    ) -> None:
        """Queue Groq's 429 for a spent limit (``kind`` "tokens" or "requests", ``per``
        "minute" or "day"), with the headers and body Groq sends: ``retry-after`` in whole
        seconds, the ``x-ratelimit-*`` headers, and a message naming the limit and the wait."""
        for _ in range(times):
            self._replies.append(rate_limit_reply(per=per, kind=kind, retry_after=retry_after))

    def reply_tool_use_failed(
        self, failed_generation: str = '<function=take_note{"content": "x"}</function>'
    ) -> None:
        """Queue Groq's 400 ``tool_use_failed`` (the model produced a malformed tool call)."""
        self.reply_error(
            400,
            {
                "error": {
                    "message": (
                        "Failed to call a function. Please adjust your prompt. "
                        "See 'failed_generation' for more details."
                    ),
                    "type": "invalid_request_error",
                    "code": "tool_use_failed",
                    "failed_generation": failed_generation,
                }
            },
        )

    def reply_delay(self, seconds: float, text: str | None = None) -> None:
        """Queue a reply that waits ``seconds`` before even sending its headers."""
        if text is None:
            default = self.default_reply if not callable(self.default_reply) else "OK."
            reply = _as_reply(default)
        else:
            reply = TextReply(text)
        self.reply(_with_delay(reply, seconds))

    def reply_with(self, fn: ReplyFn, times: int = 1) -> None:
        """Queue ``fn(request_json)`` (sync or async) to build the reply when it's due."""
        for _ in range(times):
            self._replies.append(fn)

    def transcribe(
        self, text: str, *, delay: float = 0.0, language: str | None = None, times: int = 1
    ) -> None:
        for _ in range(times):
            self._transcripts.append(TranscriptReply(text, delay=delay, language=language))

    def transcribe_error(
        self, status: int, body: Any = None, *, delay: float = 0.0, times: int = 1
    ) -> None:
        for _ in range(times):
            self._transcripts.append(TranscriptReply(status=status, body=body, delay=delay))

    def route(
        self, matches: Callable[[dict[str, Any]], bool], reply: ChatReply | str | ReplyFn
    ) -> None:
        """Answer every request ``matches(request_json)`` picks with ``reply`` (a reply, text,
        or ``fn(request_json)``), outside the queue: for requests made in the background (an
        end-of-session pass) whose place among the conversation's turns a test can't know."""
        self._routes.append((matches, reply if callable(reply) else _as_reply(reply)))

    @property
    def pending_replies(self) -> int:
        return len(self._replies)

    @property
    def pending_transcripts(self) -> int:
        return len(self._transcripts)

    def clear(self) -> None:
        """Forget scripted replies and everything recorded."""
        self._replies.clear()
        self._routes.clear()
        self._transcripts.clear()
        self.chat_requests.clear()
        self.chat_request_headers.clear()
        self.transcription_requests.clear()
        self.protocol_errors.clear()
        self.auth_failures = 0
        self.disconnects = 0
        self.context_refusals = 0
        self.request_log.clear()
        self.usage_reported.clear()

    # ---------------------------------------------------------------- waiting

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true (re-checked after every request)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def wait_for_chat_requests(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        await self.wait_for(lambda: len(self.chat_requests) >= n, timeout)
        return self.chat_requests

    async def wait_for_transcription_requests(
        self, n: int, timeout: float = 5.0
    ) -> list[TranscriptionRequest]:
        await self.wait_for(lambda: len(self.transcription_requests) >= n, timeout)
        return self.transcription_requests

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the server is stopping."""
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            pass

    # ---------------------------------------------------------------- helpers

    def _check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or token == "None":
            self.auth_failures += 1
            return _error_response(401, default_error_body(401))
        if self.api_keys is not None and token not in self.api_keys:
            self.auth_failures += 1
            return _error_response(401, default_error_body(401))
        return None

    def _reject(self, message: str, code: str | None = None, param: str | None = None):
        self.protocol_errors.append(message)
        error: dict[str, Any] = {"message": message, "type": "invalid_request_error"}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        return _error_response(400, {"error": error})

    def _model_missing(self, model: Any) -> web.Response | None:
        if self.models is not None and model not in self.models:
            return _error_response(
                404,
                {
                    "error": {
                        "message": (
                            f"The model `{model}` does not exist or you do not have access to it."
                        ),
                        "type": "invalid_request_error",
                        "code": "model_not_found",
                    }
                },
            )
        return None

    def _over_context_limit(self, body: dict[str, Any]) -> web.Response | None:
        if self.context_limit is None:
            return None
        completion = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        if prompt_tokens(body) + completion <= self.context_limit:
            return None
        self.context_refusals += 1
        return _error_response(
            400,
            {
                "error": {
                    "message": "Please reduce the length of the messages or completion.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
        )

    async def _next_reply(self, body: dict[str, Any]) -> ChatReply:
        routed = next((reply for matches, reply in self._routes if matches(body)), None)
        if routed is not None:
            item: ChatReply | ReplyFn = routed
        else:
            item = self._replies.pop(0) if self._replies else self.default_reply
        if callable(item) and not isinstance(item, TextReply | ToolCallsReply | ErrorReply):
            result = item(body)
            if inspect.isawaitable(result):
                result = await result
            return _as_reply(result)
        return _as_reply(item)

    def _report(self, usage: dict[str, Any]) -> dict[str, Any]:
        self.usage_reported.append(usage)
        return usage

    # ---------------------------------------------------------------- chat

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        models = sorted(self.models or {"llama-3.3-70b-versatile", "whisper-large-v3-turbo"})
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "Fake", "active": True}
            for m in models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._reject("We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return self._reject("'$' : value must be an object")
        self.chat_requests.append(body)
        self.chat_request_headers.append(dict(request.headers))
        await self._notify()

        if self.validate:
            problem = validate_chat_request(body)
            if problem:
                return self._reject(problem)
        if (missing := self._model_missing(body.get("model"))) is not None:
            return missing
        if (too_long := self._over_context_limit(body)) is not None:
            return too_long

        reply = await self._next_reply(body)
        if reply.delay:
            await self._sleep(reply.delay)

        if isinstance(reply, ErrorReply) and not reply.in_stream:
            return _error_response(
                reply.status,
                reply.body if reply.body is not None else default_error_body(reply.status),
                reply.headers,
            )
        if body.get("stream"):
            return await self._stream(request, body, reply)
        if isinstance(reply, ErrorReply):  # in_stream makes no sense without a stream
            return _error_response(
                reply.status, reply.body or default_error_body(reply.status), reply.headers
            )
        return web.json_response(self._completion(body, reply), headers=_groq_headers())

    def _completion(self, body: dict[str, Any], reply: TextReply | ToolCallsReply):
        message: dict[str, Any] = {"role": "assistant"}
        if isinstance(reply, TextReply):
            message["content"] = reply.text
            finish = reply.finish_reason
            completion = reply.text
        else:
            if reply.text:
                message["content"] = reply.text
            message["tool_calls"] = [
                {
                    "id": call.id or _call_id(),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }
                for call in reply.calls
            ]
            finish = "tool_calls"
            completion = message["tool_calls"]
        return {
            "id": f"chatcmpl-{uuid.uuid4()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": self._report(_usage(body, completion)),
            "usage_breakdown": None,
            "system_fingerprint": "fp_fake",
            "x_groq": {"id": _request_id()},
            "service_tier": "on_demand",
        }

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: ChatReply
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **_groq_headers(),
            },
        )
        await response.prepare(request)
        completion_id = f"chatcmpl-{uuid.uuid4()}"
        created = int(time.time())
        model = body.get("model")
        x_groq_id = _request_id()
        chunk_delay = getattr(reply, "chunk_delay", 0.0)

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any):
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            data.update(extra)
            return data

        events: list[dict[str, Any]] = []
        completion_for_usage: Any = ""
        if isinstance(reply, ErrorReply):
            error = reply.body if reply.body is not None else default_error_body(reply.status)
            events.append(chunk({"role": "assistant", "content": ""}, x_groq={"id": x_groq_id}))
            events.append(
                error if isinstance(error, dict) and "error" in error else {"error": error}
            )
            finish = None
        elif isinstance(reply, TextReply):
            events.append(chunk({"role": "assistant", "content": ""}, x_groq={"id": x_groq_id}))
            events.extend(chunk({"content": token}) for token in _tokens(reply.text))
            finish = reply.finish_reason
            completion_for_usage = reply.text
        else:
            first: dict[str, Any] = {"role": "assistant", "content": None}
            if reply.text:
                first["content"] = ""
            events.append(chunk(first, x_groq={"id": x_groq_id}))
            if reply.text:
                events.extend(chunk({"content": token}) for token in _tokens(reply.text))
            for index, call in enumerate(reply.calls):
                args = call.arguments_json()
                fragments = _fragments(args, self.tool_args_fragment_size)
                head = {
                    "index": index,
                    "id": call.id or _call_id(),
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
                if self.tool_args_fragment_size <= 0:
                    head["function"]["arguments"] = args
                    fragments = []
                events.append(chunk({"tool_calls": [head]}))
                events.extend(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": f}}]})
                    for f in fragments
                )
            finish = "tool_calls"
            completion_for_usage = [c.arguments_json() for c in reply.calls]

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        usage = _usage(body, completion_for_usage)
        if finish is not None:
            events.append(chunk({}, finish, x_groq={"id": x_groq_id, "usage": usage}))
            if include_usage:
                last = chunk({}, None, usage=usage)
                last["choices"] = []
                events.append(last)

        try:
            for event in events:
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
                if chunk_delay:
                    await self._sleep(chunk_delay)
            if finish is not None:
                await response.write(b"data: [DONE]\n\n")
                if include_usage:
                    self.usage_reported.append(usage)
            await response.write_eof()
        except ConnectionError:  # the client hung up (e.g. pipecat was interrupted)
            self.disconnects += 1
            await self._notify()
        except asyncio.CancelledError:
            self.disconnects += 1
            raise
        return response

    # ---------------------------------------------------------------- transcriptions

    async def _transcriptions(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        if not request.content_type.startswith("multipart/"):
            return self._reject("request Content-Type isn't multipart/form-data")
        fields: dict[str, str] = {}
        audio = b""
        filename = content_type = None
        has_file = False
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.name == "file":
                has_file = True
                filename = part.filename
                content_type = part.headers.get("Content-Type")
                audio = await part.read()
            elif part.name:
                fields[part.name] = await part.text()
        record = TranscriptionRequest(fields, filename, content_type, audio, _wav_info(audio))
        self.transcription_requests.append(record)
        await self._notify()

        if not has_file and "url" not in fields:
            return self._reject("either file or url must be provided")
        if "model" not in fields:
            return self._reject("property 'model' is missing", param="model")
        if (missing := self._model_missing(fields["model"])) is not None:
            return missing
        response_format = fields.get("response_format", "json")
        if response_format not in TRANSCRIPTION_FORMATS:
            return self._reject(
                f"response_format must be one of {sorted(TRANSCRIPTION_FORMATS)}",
                param="response_format",
            )
        language = fields.get("language")
        if language is not None and not re.fullmatch(r"[a-z]{2,3}", language):
            return self._reject(f"invalid language: {language!r}", param="language")
        if "temperature" in fields:
            try:
                float(fields["temperature"])
            except ValueError:
                return self._reject("temperature must be a number", param="temperature")

        script = (
            self._transcripts.pop(0)
            if self._transcripts
            else TranscriptReply(self.default_transcript)
        )
        if script.delay:
            await self._sleep(script.delay)
        if script.status != 200:
            body = script.body if script.body is not None else default_error_body(script.status)
            return _error_response(script.status, body)

        duration = record.duration or 0.0
        if response_format == "text":
            return web.Response(text=script.text, content_type="text/plain")
        if response_format == "json":
            return web.json_response({"text": script.text, "x_groq": {"id": _request_id()}})
        segment = {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": round(duration, 2),
            "text": f" {script.text}" if script.text else "",
            "tokens": [50365 + i for i in range(len(script.text.split()))],
            "temperature": float(fields.get("temperature", 0) or 0),
            "avg_logprob": -0.1,
            "compression_ratio": 1.0,
            "no_speech_prob": 0.01 if script.text else 0.9,
        }
        return web.json_response(
            {
                "task": "transcribe",
                "language": script.language or _LANGUAGE_NAMES.get(language or "", "English"),
                "duration": round(duration, 2),
                "text": script.text,
                "segments": [segment] if script.text else [],
                "x_groq": {"id": _request_id()},
            }
        )


# --------------------------------------------------------------------------- validation


def validate_chat_request(body: dict[str, Any]) -> str | None:
    """Return Groq's complaint about a chat completion request, or None if it's fine."""
    for key in body:
        if key not in CHAT_PARAMS:
            return f"property '{key}' is unsupported"
    if "model" not in body:
        return "property 'model' is missing"
    if not isinstance(body["model"], str) or not body["model"]:
        return "'model' : value must be a non-empty string"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' : minimum number of items is 1"
    if body.get("stream_options") is not None and not body.get("stream"):
        return "stream_options can only be set when stream is true"
    if (n := body.get("n")) is not None and n != 1:
        return "'n' : number must be at most 1"

    problem = _validate_tools(body)
    if problem:
        return problem

    for i, msg in enumerate(messages):
        where = f"'messages.{i}'"
        if not isinstance(msg, dict):
            return f"{where} : value must be an object"
        role = msg.get("role")
        if role not in ROLE_KEYS:
            return f"{where} : discriminator property 'role' has invalid value {role!r}"
        for key in msg:
            if key not in ROLE_KEYS[role]:
                return (
                    f"{where} : for 'role:{role}' the following must be satisfied"
                    f"[({where} : property '{key}' is unsupported)]"
                )
        problem = _validate_content(where, role, msg)
        if problem:
            return problem
        if role == "tool" and not isinstance(msg.get("tool_call_id"), str):
            return f"{where} : property 'tool_call_id' is missing"
        if role == "assistant" and "tool_calls" in msg:
            problem = _validate_tool_calls(where, msg["tool_calls"])
            if problem:
                return problem

    return _validate_tool_sequence(messages)


def _validate_tools(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    if tools is None:
        if isinstance(body.get("tool_choice"), dict):
            return "tool_choice is only allowed when tools are specified"
        return None
    if not isinstance(tools, list):
        return "'tools' : value must be an array"
    names = set()
    for i, tool in enumerate(tools):
        where = f"'tools.{i}'"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            return f"{where} : property 'type' must be 'function'"
        for key in tool:
            if key not in {"type", "function", "allowed_tools"}:
                return f"{where} : property '{key}' is unsupported"
        fn = tool.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            return f"{where} : property 'function.name' is missing"
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", fn["name"]):
            return f"{where} : 'function.name' must match ^[a-zA-Z0-9_-]{{1,64}}$"
        for key in fn:
            if key not in {"name", "description", "parameters", "strict"}:
                return f"{where} : property 'function.{key}' is unsupported"
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            return f"{where} : 'function.parameters' must be an object"
        names.add(fn["name"])
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice not in {"none", "auto", "required"}:
        return f"'tool_choice' : invalid value {choice!r}"
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            return f"tool_choice names a tool that is not in tools: {name!r}"
    return None


def _validate_content(where: str, role: str, msg: dict[str, Any]) -> str | None:
    if "content" not in msg:
        if role == "assistant" and (msg.get("tool_calls") or msg.get("function_call")):
            return None
        return f"{where} : property 'content' is missing"
    content = msg["content"]
    if content is None:
        if role == "assistant" and (msg.get("tool_calls") or msg.get("function_call")):
            return None
        return f"{where} : property 'content' must not be null"
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f"{where} : 'content' must be a string or an array of content parts"
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in CONTENT_PART_TYPES[role]:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            return f"{where}.content.{j} : content part type {kind!r} is not allowed for {role}"
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            return f"{where}.content.{j} : property 'text' is missing"
        if part["type"] == "image_url" and not isinstance(
            (part.get("image_url") or {}).get("url"), str
        ):
            return f"{where}.content.{j} : property 'image_url.url' is missing"
    return None


def _validate_tool_calls(where: str, tool_calls: Any) -> str | None:
    if not isinstance(tool_calls, list) or not tool_calls:
        return f"{where} : 'tool_calls' must be a non-empty array"
    for k, call in enumerate(tool_calls):
        w = f"{where}.tool_calls.{k}"
        if not isinstance(call, dict):
            return f"{w} : value must be an object"
        for key in call:
            if key not in {"id", "type", "function"}:
                return f"{w} : property '{key}' is unsupported"
        if not isinstance(call.get("id"), str) or not call["id"]:
            return f"{w} : property 'id' is missing"
        if call.get("type") != "function":
            return f"{w} : property 'type' must be 'function'"
        fn = call.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            return f"{w} : property 'function.name' is missing"
        if not isinstance(fn.get("arguments"), str):
            return f"{w} : property 'function.arguments' must be a string"
        try:
            json.loads(fn["arguments"] or "{}")
        except json.JSONDecodeError:
            return f"{w} : 'function.arguments' is not valid JSON"
    return None


def _validate_tool_sequence(messages: list[dict[str, Any]]) -> str | None:
    """OpenAI's pairing rules between assistant tool_calls and tool results."""
    open_ids: list[str] = []  # calls of the last assistant message still awaiting a result
    answerable: set[str] = set()  # calls that a tool message may answer right now
    for i, msg in enumerate(messages):
        role = msg["role"]
        if role == "tool":
            call_id = msg["tool_call_id"]
            if call_id not in answerable:
                return (
                    f"'messages.{i}' : messages with role 'tool' must be a response to a "
                    f"preceding message with 'tool_calls' (no pending tool call with id "
                    f"{call_id!r})"
                )
            answerable.discard(call_id)
            if call_id in open_ids:
                open_ids.remove(call_id)
            continue
        if open_ids:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(open_ids)}"
            )
        answerable = set()
        if role == "assistant" and msg.get("tool_calls"):
            open_ids = [call["id"] for call in msg["tool_calls"]]
            if len(set(open_ids)) != len(open_ids):
                return f"'messages.{i}' : duplicate tool call ids {open_ids}"
            answerable = set(open_ids)
    if open_ids:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(open_ids)}"
        )
    return None


# --------------------------------------------------------------------------- small utils

_LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
}


def _with_delay(reply: ChatReply, seconds: float) -> ChatReply:
    if isinstance(reply, TextReply):
        return TextReply(reply.text, seconds, reply.chunk_delay, reply.finish_reason)
    if isinstance(reply, ToolCallsReply):
        return ToolCallsReply(reply.calls, reply.text, seconds, reply.chunk_delay)
    return ErrorReply(reply.status, reply.body, reply.headers, seconds, reply.in_stream)


def _error_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {**_groq_headers(), **(headers or {})}
    if isinstance(body, str | bytes):
        return web.Response(status=status, body=body, headers=all_headers)
    return web.json_response(body, status=status, headers=all_headers)


def _groq_headers() -> dict[str, str]:
    return {
        "x-request-id": _request_id(),
        "x-ratelimit-limit-requests": "14400",
        "x-ratelimit-remaining-requests": "14399",
        "x-ratelimit-limit-tokens": "6000",
        "x-ratelimit-remaining-tokens": "5900",
        "x-ratelimit-reset-requests": "6s",
        "x-ratelimit-reset-tokens": "1s",
    }


def _request_id() -> str:
    return "req_" + secrets.token_hex(13)


def _call_id() -> str:
    return "call_" + secrets.token_hex(12)


def _usage(body: dict[str, Any], completion: Any) -> dict[str, Any]:
    prompt = _rough_tokens(body.get("messages", [])) + _rough_tokens(body.get("tools") or [])
    completion_tokens = _rough_tokens(completion) if completion else 1
    return {
        "queue_time": 0.001,
        "prompt_tokens": prompt,
        "prompt_time": 0.001,
        "completion_tokens": completion_tokens,
        "completion_time": 0.001,
        "total_tokens": prompt + completion_tokens,
        "total_time": 0.002,
    }
