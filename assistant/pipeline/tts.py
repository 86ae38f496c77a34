"""Text to speech: Cartesia sonic-3 over its websocket, with emotion, speed and volume."""

import asyncio
import functools
import ssl

from loguru import logger
from pipecat.frames.frames import (
    Frame,
    LLMFullResponseStartFrame,
    TTSAudioRawFrame,
    TTSUpdateSettingsFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.cartesia.tts import CartesiaTTSService, GenerationConfig
from websockets.protocol import State

from assistant.config import Settings, secret_value
from assistant.pipeline import compat
from assistant.voice import VoiceState

# pipecat's defaults: after a drop, three reconnects 4-10 s apart, then it gives up.
RECONNECT_BACKOFF_SECS = (4.0, 10.0)
# The most a reply waits, once Cartesia was given up on, for the one connect it tries first.
REVIVE_CONNECT_SECS = 3.0
# In an audio frame's metadata: the number of the Cartesia connection it came from.
CONNECTION_KEY = "assistant.cartesia_connection"


def generation_config(voice: VoiceState) -> GenerationConfig:
    return GenerationConfig(emotion=voice.emotion, speed=voice.speed, volume=voice.volume)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One client TLS context for every Cartesia connection of the process.

    Without one, each `wss://` connect builds its own, loading the system's CA certificates: a
    noticeable stretch of CPU on the event loop every live session's audio runs on, at every
    session start and reconnect. The session builder makes it in a worker thread.
    """
    return ssl.create_default_context()


class AssistantTTS(CartesiaTTSService):
    """Cartesia's TTS service, connecting with the process's shared TLS context, and speaking
    again once Cartesia is back after pipecat gave up on it.

    When its reconnects after a drop all fail, or three replies in a row come back silent,
    pipecat marks the service unusable and, for the rest of the session, shows replies without
    saying them. Here each new reply first tries again: one connect if none is open (bounded by
    REVIVE_CONNECT_SECS), then the service is usable again and the reply is spoken. A failed
    try is logged, not reported: the page already knows voice is out. `on_audio` tells when
    the voice is heard again.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._reviving = False
        self._audio_watched = False
        # Each Cartesia connection is numbered as it opens; its audio carries the number.
        self._opened = 0
        self._reading = 0  # the connection the receive loop reads
        self._heard_from = 0  # the first connection whose audio is the voice heard again
        # Fired at the first audio after `watch_for_audio`: the voice is heard again.
        compat.register_event(self, "on_audio")

    def watch_for_audio(self) -> None:
        """Fire `on_audio` at the next audio from a connection that works now or opens later.

        Audio a connection that is gone had already sent is still played after it went (the
        rest of the reply it was saying): that is not the voice coming back. A connection
        that still works (pipecat gave up on silent replies, not on it) counts.
        """
        self._heard_from = self._opened if self._connected() else self._opened + 1
        self._audio_watched = True

    async def append_to_audio_context(self, context_id: str | None, frame):
        if isinstance(frame, TTSAudioRawFrame):
            frame.metadata[CONNECTION_KEY] = self._reading
        await super().append_to_audio_context(context_id, frame)

    async def push_frame(self, frame: Frame, direction=FrameDirection.DOWNSTREAM):
        if (
            self._audio_watched
            and isinstance(frame, TTSAudioRawFrame)
            and frame.metadata.get(CONNECTION_KEY, 0) >= self._heard_from
        ):
            self._audio_watched = False
            await compat.fire_event(self, "on_audio")
        await super().push_frame(frame, direction)

    async def _process_messages(self):
        # pipecat's receive loop: it reads the newest connection, until that one ends.
        self._reading = self._opened
        await super()._process_messages()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, LLMFullResponseStartFrame) and not self.is_usable:
            await self._revive()
        await super().process_frame(frame, direction)

    async def _revive(self) -> None:
        if not self._connected():
            self._reviving = True
            try:
                # As pipecat's run_tts does after a failed send: drop what is left (the ended
                # receive task included, or _connect starts none), then connect afresh.
                await compat.disconnect(self)
                async with asyncio.timeout(REVIVE_CONNECT_SECS):
                    await compat.connect(self)
            except TimeoutError:
                logger.warning(f"{self}: no Cartesia connection within {REVIVE_CONNECT_SECS:g} s")
            finally:
                self._reviving = False
        if self._connected():
            await self.set_usable(True)

    def _connected(self) -> bool:
        # An open socket is not enough: after a failed reconnect nothing may be reading it.
        task, websocket = compat.receive_task(self), compat.websocket(self)
        receiving = task is not None and not task.done()
        return receiving and websocket is not None and websocket.state is State.OPEN

    async def push_error(self, error_msg: str, exception: Exception | None = None, **kwargs):
        if self._reviving:
            logger.warning(f"{self}: Cartesia still unreachable: {error_msg}")
            return
        await super().push_error(error_msg, exception, **kwargs)

    async def _websocket_connect(self, uri: str, **kwargs):
        if uri.startswith("wss://"):
            kwargs.setdefault("ssl", tls_context())
        websocket = await super()._websocket_connect(uri, **kwargs)
        self._opened += 1
        return websocket


def create_tts(settings: Settings, voice: VoiceState) -> AssistantTTS:
    return AssistantTTS(
        api_key=secret_value(settings.cartesia_api_key),
        reconnect_backoff_min_wait=RECONNECT_BACKOFF_SECS[0],
        reconnect_backoff_max_wait=RECONNECT_BACKOFF_SECS[1],
        url=settings.cartesia_url,
        settings=CartesiaTTSService.Settings(
            model=settings.cartesia_model,
            voice=settings.cartesia_voice_id,
            generation_config=generation_config(voice),
        ),
    )


def voice_update_frame(voice: VoiceState) -> TTSUpdateSettingsFrame:
    # A delta replaces the whole GenerationConfig, so it always carries all three fields.
    return TTSUpdateSettingsFrame(
        delta=CartesiaTTSService.Settings(generation_config=generation_config(voice))
    )
