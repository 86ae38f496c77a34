"""WebRTC signalling (ours and the prebuilt UI's) and the voice bots it starts.

The voice stack (pipecat, aiortc, and openai through the pipeline builder) takes ~2 s to
import, more than everything else the server needs. So this module does not import it: the
request bodies and routes are defined without it, `VoiceBots.warm_up` imports it in a worker
thread once the app has started (`assistant.runtime.warmup`), and the routes that need it
await `VoiceBots.ready()`.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.config import Settings
from assistant.runtime.warmup import import_voice_stack, warm_voice_stack
from assistant.server.web_sessions import WebSession, current_session
from assistant.store.database import Database

if TYPE_CHECKING:
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
    from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequestHandler

    from assistant.pipeline.builder import SessionHook, VoiceSession
    from assistant.tools import ToolFactory


def attach_reminders(session: VoiceSession) -> None:
    """Reminder delivery for a session (`assistant.tools.reminders`, imported on first use)."""
    from assistant.tools.reminders import attach_reminders as attach

    attach(session)


router = APIRouter(tags=["webrtc"])

MAX_SDP_CHARS = 64_000
MAX_PENDING_STARTS = 256


class OfferBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sdp: Annotated[str, Field(min_length=1, max_length=MAX_SDP_CHARS)]
    type: Annotated[str, Field(pattern="^offer$")]
    pc_id: Annotated[str, Field(max_length=128)] | None = None
    restart_pc: bool | None = None

    @field_validator("sdp")
    @classmethod
    def _has_audio(cls, sdp: str) -> str:
        # aiortc answers almost any text; a voice session needs a real offer with audio.
        import_voice_stack()  # done already when coming through the routes (`ReadyBots`)
        from aiortc.sdp import SessionDescription

        try:
            description = SessionDescription.parse(sdp)
        except Exception:
            raise ValueError("not a parsable SDP offer") from None
        if not sdp.startswith("v=0") or not any(m.kind == "audio" for m in description.media):
            raise ValueError("the SDP offer has no audio section")
        return sdp


class CandidateBody(BaseModel):
    candidate: Annotated[str, Field(max_length=2048)]
    sdp_mid: Annotated[str, Field(max_length=64)]
    sdp_mline_index: Annotated[int, Field(ge=0, le=64)]


class PatchBody(BaseModel):
    pc_id: Annotated[str, Field(max_length=128)]
    candidates: Annotated[list[CandidateBody], Field(max_length=64)]


class VoiceBots:
    """Starts one pipeline per WebRTC connection and stops it when the peer goes away."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        tool_factory: ToolFactory | None,
        session_hooks: Sequence[SessionHook] = (attach_reminders,),
    ):
        self._settings = settings
        self._db = db
        self._tool_factory = tool_factory
        self._session_hooks = session_hooks
        self._warming: asyncio.Future[None] | None = None
        self._handler: SmallWebRTCRequestHandler | None = None  # made by `ready()`
        self._runs: set[asyncio.Task] = set()
        # One live session per conversation: a new one takes over (see `_take_over`).
        self._live: dict[str, VoiceSession] = {}
        # Held while a session takes its conversation over; gone once nobody holds or awaits it.
        self._conversation_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # `/start` hands the prebuilt UI a session id; its offers then arrive under that id.
        self.pending_starts: OrderedDict[str, WebSession] = OrderedDict()

    @property
    def active(self) -> int:
        return len(self._runs)

    def warm_up(self) -> None:
        """Start importing the voice stack in a worker thread (the app does it on start)."""
        if self._warming is None:
            self._warming = asyncio.get_running_loop().run_in_executor(None, warm_voice_stack)
            self._warming.add_done_callback(_log_failed_warm_up)

    async def ready(self) -> SmallWebRTCRequestHandler:
        """Wait, without blocking the event loop, until the voice stack is imported."""
        self.warm_up()
        await asyncio.shield(self._warming)  # one caller's cancellation must not cancel it
        if self._handler is None:
            from pipecat.transports.smallwebrtc.connection import IceServer
            from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequestHandler

            self._handler = SmallWebRTCRequestHandler(
                ice_servers=[IceServer(urls=url) for url in self._settings.ice_server_urls] or None
            )
        return self._handler

    async def offer(self, body: OfferBody, web: WebSession) -> dict[str, Any]:
        handler = await self.ready()
        from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequest

        request = SmallWebRTCRequest(
            sdp=body.sdp, type=body.type, pc_id=body.pc_id, restart_pc=body.restart_pc
        )

        async def on_connection(connection: SmallWebRTCConnection) -> None:
            task = asyncio.create_task(self._run(connection, web), name=f"voice-{web.user_name}")
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

        try:
            answer = await handler.handle_web_request(request, on_connection)
        except HTTPException:
            raise
        except Exception as error:  # aiortc raises ValueError & co. on SDP it can't parse
            raise HTTPException(400, f"Invalid SDP offer: {error}") from None
        if answer is None:
            raise HTTPException(400, "The offer produced no answer.")
        return answer

    async def patch(self, body: PatchBody) -> None:
        handler = await self.ready()
        from pipecat.transports.smallwebrtc.request_handler import (
            IceCandidate,
            SmallWebRTCPatchRequest,
        )

        request = SmallWebRTCPatchRequest(
            pc_id=body.pc_id,
            candidates=[IceCandidate(**c.model_dump()) for c in body.candidates],
        )
        try:
            await handler.handle_patch_request(request)
        except HTTPException:
            raise
        except Exception as error:
            raise HTTPException(400, f"Invalid ICE candidate: {error}") from None

    async def _run(self, connection: SmallWebRTCConnection, web: WebSession) -> None:
        # Imported by `ready()` before the offer that got here.
        from pipecat.transports.base_transport import TransportParams
        from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
        from pipecat.workers.runner import WorkerRunner

        from assistant.pipeline.builder import SessionSpec, build_voice_session

        spec = SessionSpec(
            user_id=web.user_id,
            user_name=web.user_name,
            conversation_id=web.conversation_id,
            timezone=web.timezone,
        )
        session: VoiceSession | None = None
        try:
            transport = SmallWebRTCTransport(
                webrtc_connection=connection,
                params=TransportParams(audio_in_enabled=True, audio_out_enabled=True),
            )
            lock = self._conversation_locks.setdefault(spec.conversation_id, asyncio.Lock())
            async with lock:
                await self._take_over(spec.conversation_id)
                session = await build_voice_session(
                    self._settings,
                    self._db,
                    spec,
                    transport_input=transport.input(),
                    transport_output=transport.output(),
                    tool_factory=self._tool_factory,
                    session_hooks=self._session_hooks,
                )
                self._live[spec.conversation_id] = session

            # Greet once the page's RTVI client is ready, so it sees the session message too.
            @session.worker.rtvi.event_handler("on_client_ready")
            async def _on_client_ready(_rtvi):
                await session.greet()

            @transport.event_handler("on_client_disconnected")
            async def _on_disconnected(_transport, _client):
                await session.worker.cancel()

            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(session.worker)
            await session.run(runner)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(f"voice session for {web.user_name} failed")
        finally:
            if session is not None and self._live.get(spec.conversation_id) is session:
                del self._live[spec.conversation_id]
            await connection.disconnect()

    async def _take_over(self, conversation_id: str) -> None:
        """A conversation live in another tab or device ends there, everything said in it
        stored, before it starts here: two sessions would each answer from their own half of
        it, and the page left behind would still look live."""
        previous = self._live.pop(conversation_id, None)
        if previous is None:
            return
        logger.info(f"conversation {conversation_id} moves to a new connection")
        try:
            await previous.hand_over()
        except Exception:  # the new session starts anyway, from what is stored
            logger.exception(f"the previous session of {conversation_id} did not end cleanly")

    async def shutdown(self) -> None:
        for task in list(self._runs):
            task.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
        if self._handler is not None:
            await self._handler.close()


def _log_failed_warm_up(warming: asyncio.Future[None]) -> None:
    if not warming.cancelled() and warming.exception() is not None:
        logger.opt(exception=warming.exception()).error("importing the voice stack failed")


def get_bots(request: Request) -> VoiceBots:
    return request.app.state.bots


async def get_ready_bots(request: Request) -> VoiceBots:
    # A dependency runs before the body is validated, so `OfferBody`'s SDP check finds aiortc
    # imported instead of importing it on the event loop.
    bots = get_bots(request)
    await bots.ready()
    return bots


Bots = Annotated[VoiceBots, Depends(get_bots)]
ReadyBots = Annotated[VoiceBots, Depends(get_ready_bots)]
Current = Annotated[WebSession, Depends(current_session)]


@router.post("/api/offer")
async def offer(body: OfferBody, bots: ReadyBots, web: Current) -> dict[str, Any]:
    """SDP offer → answer; starts the voice session for the cookie's user and conversation."""
    return await bots.offer(body, web)


@router.get("/api/tools")
async def tool_labels(_bots: ReadyBots) -> list[dict[str, str]]:
    """What the page calls each tool's calls: `{"name", "topic", "done", "doing"}`."""
    # The registry imports pipecat: read once the warm-up has imported it, off the event loop.
    from assistant.tools.registry import tool_labels

    return tool_labels()


@router.patch("/api/offer")
async def add_candidates(body: PatchBody, bots: Bots, _web: Current) -> dict[str, str]:
    await bots.patch(body)
    return {"status": "success"}


@router.post("/start")
async def start(bots: Bots, web: Current) -> dict[str, str]:
    """The prebuilt UI's first call; the id scopes its later offer requests."""
    session_id = str(uuid.uuid4())
    bots.pending_starts[session_id] = web
    while len(bots.pending_starts) > MAX_PENDING_STARTS:  # abandoned starts must not pile up
        bots.pending_starts.popitem(last=False)
    return {"sessionId": session_id}


def _started(bots: VoiceBots, session_id: str, web: WebSession) -> WebSession:
    started = bots.pending_starts.get(session_id)
    if started is None or started.token != web.token:
        raise HTTPException(404, "Unknown session id.")
    return started


@router.post("/sessions/{session_id}/api/offer")
async def session_offer(session_id: str, body: OfferBody, bots: ReadyBots, web: Current):
    return await bots.offer(body, _started(bots, session_id, web))


@router.patch("/sessions/{session_id}/api/offer")
async def session_candidates(session_id: str, body: PatchBody, bots: Bots, web: Current):
    _started(bots, session_id, web)
    await bots.patch(body)
    return {"status": "success"}
