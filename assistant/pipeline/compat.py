"""pipecat's and openai's private parts, in one place.

We use their public API where it does what we need. Where it doesn't, the private attribute or
method is reached through an accessor here, or, where we override one in a subclass, listed
here. `PRIVATE_USES` names every one with what relies on it; tests/test_compat.py checks each
still exists with a compatible signature, so an upgrade that changes one fails there, naming
the use, instead of somewhere in a live call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, TypeVar

from openai import AsyncOpenAI, AsyncStream, RequestOptions
from pipecat.observers.base_observer import BaseObserver
from pipecat.pipeline.worker import PipelineWorker
from pipecat.pipeline.worker_observer import Proxy, WorkerObserver
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.cartesia.tts import CartesiaTTSService
from pipecat.services.llm_service import LLMService
from pipecat.services.openai.base_llm import BaseOpenAILLMService
from pipecat.services.tts_service import TTSService
from pipecat.services.websocket_service import WebsocketService
from pipecat.services.whisper.base_stt import BaseWhisperSTTService
from pipecat.utils.base_object import BaseObject
from websockets.asyncio.client import ClientConnection

ResponseT = TypeVar("ResponseT")


@dataclass(frozen=True)
class PrivateUse:
    """One private name of pipecat's or openai's that we use or override."""

    owner: type  # the pipecat/openai class that has it
    name: str
    used_by: str  # what of ours relies on it
    # A method's parameters we pass or override (None: an instance attribute).
    params: tuple[str, ...] | None = None
    coroutine: bool = False  # the method is async (we await it, or override it as async)

    def __str__(self) -> str:
        return f"{self.owner.__module__}.{self.owner.__qualname__}.{self.name}"


PRIVATE_USES: tuple[PrivateUse, ...] = (
    # Events of our own on pipecat objects: BaseObject has no public way to declare or fire one.
    PrivateUse(
        BaseObject,
        "_register_event_handler",
        "AssistantTTS (on_audio), AssistantLLM (on_llm_usage) via compat.register_event",
        ("event_name", "sync"),
    ),
    PrivateUse(
        BaseObject,
        "_call_event_handler",
        "AssistantTTS.push_frame, AssistantLLM.start_llm_usage_metrics via compat.fire_event",
        ("event_name", "args"),
        coroutine=True,
    ),
    # Cartesia: reconnecting after pipecat gave up, and numbering connections.
    PrivateUse(
        CartesiaTTSService,
        "_connect",
        "AssistantTTS._revive via compat.connect",
        (),
        coroutine=True,
    ),
    PrivateUse(
        CartesiaTTSService,
        "_disconnect",
        "AssistantTTS._revive via compat.disconnect",
        (),
        coroutine=True,
    ),
    PrivateUse(
        CartesiaTTSService,
        "_receive_task",
        "AssistantTTS._connected via compat.receive_task",
    ),
    PrivateUse(
        WebsocketService,
        "_websocket",
        "AssistantTTS._connected via compat.websocket",
    ),
    PrivateUse(
        CartesiaTTSService,
        "_process_messages",
        "AssistantTTS._process_messages (overrides it, calls it)",
        (),
        coroutine=True,
    ),
    PrivateUse(
        WebsocketService,
        "_websocket_connect",
        "AssistantTTS._websocket_connect (overrides it, calls it)",
        ("uri", "kwargs"),
        coroutine=True,
    ),
    PrivateUse(
        TTSService,
        "append_to_audio_context",
        "AssistantTTS.append_to_audio_context (overrides it, calls it)",
        ("context_id", "frame"),
        coroutine=True,
    ),
    # The openai clients pipecat makes for Whisper and the LLM, and how they are used.
    PrivateUse(
        BaseWhisperSTTService,
        "_client",
        "AssistantSTT (bounds it, exposes it) via compat.client / compat.set_client",
    ),
    PrivateUse(
        BaseOpenAILLMService,
        "_client",
        "AssistantLLM.client, AssistantLLM.stream_chat via compat.client",
    ),
    PrivateUse(
        LLMService,
        "_log_llm_response",
        "AssistantLLM.request_params via compat.log_llm_response",
        ("context",),
    ),
    PrivateUse(
        FrameProcessor,
        "_classify_error",
        "AssistantLLM._classify_error (overrides it, calls it)",
        ("exception",),
    ),
    PrivateUse(
        AsyncOpenAI,
        "_should_retry",
        "GroqClient._should_retry (overrides it, calls it)",
        ("response",),
    ),
    PrivateUse(
        AsyncOpenAI,
        "post",
        "AssistantLLM.stream_chat via compat.post_stream (the request without create's transform)",
        ("path", "cast_to", "body", "options", "stream", "stream_cls"),
        coroutine=True,
    ),
    # The worker's observer proxy, replaced by ProcessedFrameFilter.
    PrivateUse(
        PipelineWorker,
        "_observer",
        "AssistantWorker.__init__ via compat.worker_observer / compat.set_worker_observer",
    ),
    PrivateUse(
        WorkerObserver,
        "_observers",
        "AssistantWorker.__init__ via compat.observers",
    ),
    PrivateUse(
        WorkerObserver,
        "_proxies",
        "ProcessedFrameFilter.on_process_frame via compat.observer_proxies",
    ),
)

# The keys of openai's RequestOptions that compat.post_stream's callers set.
REQUEST_OPTION_KEYS = ("headers", "params", "extra_json", "timeout", "security")


def register_event(obj: BaseObject, event_name: str, *, sync: bool = False) -> None:
    """Declare an event of our own, for `add_event_handler` and `fire_event`."""
    obj._register_event_handler(event_name, sync=sync)


async def fire_event(obj: BaseObject, event_name: str, *args: Any) -> None:
    await obj._call_event_handler(event_name, *args)


async def connect(tts: CartesiaTTSService) -> None:
    """Open the websocket and start reading it, as pipecat does at start and on reconnect."""
    await tts._connect()


async def disconnect(tts: CartesiaTTSService) -> None:
    await tts._disconnect()


def receive_task(tts: CartesiaTTSService) -> asyncio.Task | None:
    return tts._receive_task


def websocket(service: WebsocketService) -> ClientConnection | None:
    return service._websocket


def client(service: BaseWhisperSTTService | BaseOpenAILLMService) -> AsyncOpenAI:
    """The openai client pipecat made for the service."""
    return service._client


def set_client(service: BaseWhisperSTTService, new: AsyncOpenAI) -> None:
    service._client = new


def log_llm_response(llm: LLMService, context: LLMContext) -> None:
    llm._log_llm_response(context)


async def post_stream(
    openai_client: AsyncOpenAI,
    path: str,
    *,
    body: dict[str, Any],
    options: RequestOptions,
    cast_to: type[Any],
    stream_cls: type[AsyncStream[ResponseT]],
) -> AsyncStream[ResponseT]:
    """A streamed request sent as is: the same client (auth, retries, timeouts), without the
    request transform of the SDK's typed methods."""
    return await openai_client.post(
        path, body=body, options=options, cast_to=cast_to, stream=True, stream_cls=stream_cls
    )


def worker_observer(worker: PipelineWorker) -> WorkerObserver:
    return worker._observer


def set_worker_observer(worker: PipelineWorker, observer: WorkerObserver) -> None:
    worker._observer = observer


def observers(proxy: WorkerObserver) -> list[BaseObserver]:
    return proxy._observers


def observer_proxies(proxy: WorkerObserver) -> dict[BaseObserver, Proxy] | None:
    """Each observer's queue, once the worker has set the proxy up (None before)."""
    return proxy._proxies
