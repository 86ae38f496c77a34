"""Speech to text: Groq's Whisper, reached through a configurable OpenAI-compatible base URL."""

from pipecat.services.groq.stt import GroqSTTService

from assistant.config import Settings, secret_value
from assistant.pipeline.groq_http import keep_alive_http_client


def create_stt(settings: Settings) -> GroqSTTService:
    return GroqSTTService(
        api_key=secret_value(settings.groq_api_key),
        base_url=settings.groq_base_url,
        settings=GroqSTTService.Settings(model=settings.groq_stt_model),
        http_client=keep_alive_http_client(),
    )
