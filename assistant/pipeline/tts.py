"""Text to speech: Cartesia sonic-3 over its websocket, with emotion, speed and volume."""

import functools
import ssl
from dataclasses import dataclass

from pipecat.frames.frames import TTSUpdateSettingsFrame
from pipecat.services.cartesia.tts import CartesiaTTSService, GenerationConfig

from assistant.config import Settings, secret_value

SPEED_RANGE = (0.6, 1.5)
VOLUME_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class VoiceState:
    """How the assistant sounds; stored per conversation."""

    emotion: str = "neutral"
    speed: float = 1.0
    volume: float = 1.0

    def generation_config(self) -> GenerationConfig:
        return GenerationConfig(emotion=self.emotion, speed=self.speed, volume=self.volume)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One client TLS context for every Cartesia connection of the process.

    Without one, each `wss://` connect builds its own, loading the system's CA certificates:
    50-100 ms of CPU on this 2-core machine, on the event loop every live session's audio runs
    on, at every session start and reconnect. The session builder makes it in a worker thread.
    """
    return ssl.create_default_context()


class AssistantTTS(CartesiaTTSService):
    """Cartesia's TTS service, connecting with the process's shared TLS context."""

    async def _websocket_connect(self, uri: str, **kwargs):
        if uri.startswith("wss://"):
            kwargs.setdefault("ssl", tls_context())
        return await super()._websocket_connect(uri, **kwargs)


def create_tts(settings: Settings, voice: VoiceState) -> AssistantTTS:
    return AssistantTTS(
        api_key=secret_value(settings.cartesia_api_key),
        url=settings.cartesia_url,
        settings=CartesiaTTSService.Settings(
            model=settings.cartesia_model,
            voice=settings.cartesia_voice_id,
            generation_config=voice.generation_config(),
        ),
    )


def voice_update_frame(voice: VoiceState) -> TTSUpdateSettingsFrame:
    # A delta replaces the whole GenerationConfig, so it always carries all three fields.
    return TTSUpdateSettingsFrame(
        delta=CartesiaTTSService.Settings(generation_config=voice.generation_config())
    )
