"""WebRTC signalling (ours and the prebuilt UI's) and the voice bots it starts."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Annotated, Any

from aiortc.sdp import SessionDescription
from fastapi import APIRouter, Depends, HTTPException, Request
from loguru import logger
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import IceServer, SmallWebRTCConnection
from pipecat.transports.smallwebrtc.request_handler import (
    IceCandidate,
    SmallWebRTCPatchRequest,
    SmallWebRTCRequest,
    SmallWebRTCRequestHandler,
)
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.workers.runner import WorkerRunner
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.config import Settings
from assistant.pipeline.builder import SessionHook, SessionSpec, build_voice_session
from assistant.server.web_sessions import WebSession, current_session
from assistant.store.database import Database
from assistant.tools import ToolFactory
from assistant.tools.reminders import attach_reminders

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
        self._handler = SmallWebRTCRequestHandler(
            ice_servers=[IceServer(urls=url) for url in settings.ice_server_urls] or None
        )
        self._runs: set[asyncio.Task] = set()
        # `/start` hands the prebuilt UI a session id; its offers then arrive under that id.
        self.pending_starts: OrderedDict[str, WebSession] = OrderedDict()

    @property
    def active(self) -> int:
        return len(self._runs)

    async def offer(self, body: OfferBody, web: WebSession) -> dict[str, Any]:
        request = SmallWebRTCRequest(
            sdp=body.sdp, type=body.type, pc_id=body.pc_id, restart_pc=body.restart_pc
        )

        async def on_connection(connection: SmallWebRTCConnection) -> None:
            task = asyncio.create_task(self._run(connection, web), name=f"voice-{web.user_name}")
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

        try:
            answer = await self._handler.handle_web_request(request, on_connection)
        except HTTPException:
            raise
        except Exception as error:  # aiortc raises ValueError & co. on SDP it can't parse
            raise HTTPException(400, f"Invalid SDP offer: {error}") from None
        if answer is None:
            raise HTTPException(400, "The offer produced no answer.")
        return answer

    async def patch(self, body: PatchBody) -> None:
        request = SmallWebRTCPatchRequest(
            pc_id=body.pc_id,
            candidates=[IceCandidate(**c.model_dump()) for c in body.candidates],
        )
        try:
            await self._handler.handle_patch_request(request)
        except HTTPException:
            raise
        except Exception as error:
            raise HTTPException(400, f"Invalid ICE candidate: {error}") from None

    async def _run(self, connection: SmallWebRTCConnection, web: WebSession) -> None:
        spec = SessionSpec(
            user_id=web.user_id,
            user_name=web.user_name,
            conversation_id=web.conversation_id,
            timezone=web.timezone,
        )
        try:
            transport = SmallWebRTCTransport(
                webrtc_connection=connection,
                params=TransportParams(audio_in_enabled=True, audio_out_enabled=True),
            )
            session = await build_voice_session(
                self._settings,
                self._db,
                spec,
                transport_input=transport.input(),
                transport_output=transport.output(),
                tool_factory=self._tool_factory,
                session_hooks=self._session_hooks,
            )

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
            await connection.disconnect()

    async def shutdown(self) -> None:
        for task in list(self._runs):
            task.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
        await self._handler.close()


def get_bots(request: Request) -> VoiceBots:
    return request.app.state.bots


Bots = Annotated[VoiceBots, Depends(get_bots)]
Current = Annotated[WebSession, Depends(current_session)]


@router.post("/api/offer")
async def offer(body: OfferBody, bots: Bots, web: Current) -> dict[str, Any]:
    """SDP offer → answer; starts the voice session for the cookie's user and conversation."""
    return await bots.offer(body, web)


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
async def session_offer(session_id: str, body: OfferBody, bots: Bots, web: Current):
    return await bots.offer(body, _started(bots, session_id, web))


@router.patch("/sessions/{session_id}/api/offer")
async def session_candidates(session_id: str, body: PatchBody, bots: Bots, web: Current):
    _started(bots, session_id, web)
    await bots.patch(body)
    return {"status": "success"}
