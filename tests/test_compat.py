"""Every private name of pipecat's and openai's we use (assistant/pipeline/compat.py) is still
there, with a signature our calls and overrides fit: an upgrade that changes one fails here,
naming what relies on it."""

from __future__ import annotations

import inspect

import pytest
from openai import AsyncOpenAI, RequestOptions
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.pipeline.worker_observer import WorkerObserver
from pipecat.services.cartesia.tts import CartesiaTTSService
from pipecat.services.groq.llm import GroqLLMService
from pipecat.services.groq.stt import GroqSTTService

from assistant.pipeline import builder, compat, llm, memory, outages, stt, tts, worker
from assistant.pipeline.compat import PRIVATE_USES, REQUEST_OPTION_KEYS, PrivateUse

METHODS = [use for use in PRIVATE_USES if use.params is not None]
ATTRIBUTES = [use for use in PRIVATE_USES if use.params is None]


def changed(use: PrivateUse, how: str) -> str:
    return f"{use} changed ({how}): {use.used_by} relies on it"


@pytest.mark.parametrize("use", METHODS, ids=str)
def test_private_method_still_fits(use: PrivateUse):
    method = getattr(use.owner, use.name, None)
    assert callable(method), changed(use, "gone")
    parameters = dict(inspect.signature(method).parameters)
    parameters.pop("self", None)
    missing = [name for name in use.params if name not in parameters]
    assert not missing, changed(use, f"no parameter {', '.join(missing)}")
    required = [
        name
        for name, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        and name not in use.params
    ]
    assert not required, changed(use, f"new required parameter {', '.join(required)}")
    assert inspect.iscoroutinefunction(method) == use.coroutine, changed(
        use, "async" if use.coroutine else "no longer async"
    )


async def _instances() -> dict[type, object]:
    """One instance of each class whose instance attributes we read (nothing connects)."""
    cartesia = CartesiaTTSService(api_key="test", settings=CartesiaTTSService.Settings(voice="v"))
    pipecat_worker = PipelineWorker(Pipeline([]))
    return {
        CartesiaTTSService: cartesia,
        compat.WebsocketService: cartesia,
        compat.BaseWhisperSTTService: GroqSTTService(api_key="test"),
        compat.BaseOpenAILLMService: GroqLLMService(api_key="test"),
        PipelineWorker: pipecat_worker,
        WorkerObserver: compat.worker_observer(pipecat_worker),
    }


@pytest.mark.parametrize("use", ATTRIBUTES, ids=str)
async def test_private_attribute_still_there(use: PrivateUse):
    instance = (await _instances())[use.owner]
    assert isinstance(instance, use.owner)
    assert use.name in vars(instance), changed(use, "no such attribute")


async def test_accessors_read_what_pipecat_made():
    instances = await _instances()
    cartesia = instances[CartesiaTTSService]
    assert compat.receive_task(cartesia) is None  # nothing read before it connects
    assert compat.websocket(cartesia) is None
    whisper = instances[compat.BaseWhisperSTTService]
    assert isinstance(compat.client(whisper), AsyncOpenAI)
    assert isinstance(compat.client(instances[compat.BaseOpenAILLMService]), AsyncOpenAI)
    pipecat_worker = instances[PipelineWorker]
    proxy = compat.worker_observer(pipecat_worker)
    assert isinstance(proxy, WorkerObserver)
    assert compat.observer_proxies(proxy) is None  # until the worker sets it up
    assert isinstance(compat.observers(proxy), list)


def test_request_options_keys():
    keys = RequestOptions.__required_keys__ | RequestOptions.__optional_keys__
    missing = [key for key in REQUEST_OPTION_KEYS if key not in keys]
    assert not missing, (
        f"openai RequestOptions changed (no {', '.join(missing)}): AssistantLLM.stream_chat"
        " relies on it"
    )


OUR_SUBCLASSES = [
    tts.AssistantTTS,
    stt.AssistantSTT,
    llm.AssistantLLM,
    llm.GroqClient,
    worker.AssistantWorker,
    worker.ProcessedFrameFilter,
    builder.MicAudioStop,
    builder._Tap,
    outages.VoiceDropWatch,
    memory._RecorderObserver,
]


@pytest.mark.parametrize("ours", OUR_SUBCLASSES, ids=lambda cls: cls.__qualname__)
def test_every_private_override_is_listed(ours: type):
    """A private name of a pipecat/openai base that one of our subclasses defines again is an
    override compat.py must list, so the test above watches it."""
    listed = {use.name for use in PRIVATE_USES if issubclass(ours, use.owner)}
    theirs = [
        base for base in ours.__mro__[1:] if base.__module__.split(".")[0] in ("pipecat", "openai")
    ]
    for name in vars(ours):
        if not name.startswith("_") or name.startswith("__") or name == "_abc_impl":
            continue
        owners = [base for base in theirs if name in vars(base)]
        assert not owners or name in listed, (
            f"{ours.__qualname__}.{name} overrides {owners[0].__qualname__}.{name}:"
            " list it in compat.PRIVATE_USES"
        )
