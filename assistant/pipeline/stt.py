"""Speech to text: Groq's Whisper, reached through a configurable OpenAI-compatible base URL."""

from openai import AsyncOpenAI
from pipecat.services.groq.stt import GroqSTTService

from assistant.config import Settings, secret_value
from assistant.pipeline import compat
from assistant.pipeline.groq_http import bounded_timeout, keep_alive_http_client

# A failed or timed-out transcription is tried once more before the user is asked to repeat.
STT_RETRIES = 1


class AssistantSTT(GroqSTTService):
    """Groq's Whisper service with every transcription attempt bounded.

    The openai SDK waits up to 600 s per attempt and retries twice: a stalled transcription
    would leave the user in silence for half an hour. Here each attempt gets `timeout_secs`
    and one retry.
    """

    def __init__(self, *, timeout_secs: float, **kwargs):
        super().__init__(**kwargs)
        # pipecat builds the openai client itself and has no timeout setting; `with_options` is
        # the SDK's public way to derive a client with other limits.
        bounded = compat.client(self).with_options(
            timeout=bounded_timeout(timeout_secs), max_retries=STT_RETRIES
        )
        compat.set_client(self, bounded)

    @property
    def client(self) -> AsyncOpenAI:
        """The session's Whisper client, bounded as above (the builder preconnects it)."""
        return compat.client(self)


def create_stt(settings: Settings) -> AssistantSTT:
    return AssistantSTT(
        api_key=secret_value(settings.groq_api_key),
        base_url=settings.groq_base_url,
        settings=GroqSTTService.Settings(model=settings.groq_stt_model),
        http_client=keep_alive_http_client(),
        timeout_secs=settings.stt_timeout_secs,
    )
