"""WebRTC signalling, ours and the prebuilt UI's: SDP offer → answer, trickled ICE candidates,
and `/start`. Each new connection goes to the live sessions (`assistant.runtime.live_sessions`).

The voice stack (pipecat, aiortc) is slow to import (bench/README.md, startup), so this module
does not import it: the request bodies and routes are defined without it, and the routes that
need it await `Signalling.ready()`, which waits for the app's warm-up
(`assistant.runtime.warmup`).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.runtime.live_sessions import TooManySessions, VoiceBots
from assistant.runtime.warmup import import_voice_stack
from assistant.server.web_sessions import WebSession, current_session

if TYPE_CHECKING:
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
    from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequestHandler

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
        import_voice_stack()  # done already when coming through the routes (`ReadySignals`)
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


class Signalling:
    """pipecat's request handler, which keeps the peer connections by id, and the prebuilt UI's
    started sessions; each new connection is handed to the voice bots."""

    def __init__(self, bots: VoiceBots, ice_server_urls: Sequence[str]):
        self._bots = bots
        self._ice_server_urls = list(ice_server_urls)
        self._handler: SmallWebRTCRequestHandler | None = None  # made by `ready()`
        # `/start` hands the prebuilt UI a session id; its offers then arrive under that id.
        self.pending_starts: OrderedDict[str, WebSession] = OrderedDict()

    async def ready(self) -> SmallWebRTCRequestHandler:
        """Wait, without blocking the event loop, until the voice stack is imported."""
        await self._bots.ready()
        if self._handler is None:
            from pipecat.transports.smallwebrtc.connection import IceServer
            from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequestHandler

            self._handler = SmallWebRTCRequestHandler(
                ice_servers=[IceServer(urls=url) for url in self._ice_server_urls] or None
            )
        return self._handler

    async def offer(self, body: OfferBody, web: WebSession) -> dict[str, Any]:
        if web.conversation_id is None:  # signed in, nothing chosen yet
            raise HTTPException(409, "No conversation chosen: POST /api/session first.")
        handler = await self.ready()
        from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequest

        from assistant.pipeline.builder import SessionSpec

        request = SmallWebRTCRequest(
            sdp=body.sdp, type=body.type, pc_id=body.pc_id, restart_pc=body.restart_pc
        )
        spec = SessionSpec(
            user_id=web.user_id,
            user_name=web.user_name,
            conversation_id=web.conversation_id,
            timezone=web.timezone,
        )

        # An offer for a live connection renegotiates it; any other starts a session.
        slot = None
        if not self._bots.serves(body.pc_id):
            try:
                slot = self._bots.reserve(web.user_id, web.conversation_id)
            except TooManySessions as full:
                raise HTTPException(503, str(full)) from None
        started = False

        async def on_connection(connection: SmallWebRTCConnection) -> None:
            nonlocal slot, started
            # The connection it named went away meanwhile, so this offer starts a session after
            # all (pipecat logs and drops an exception raised here).
            slot = slot or self._bots.reserve(web.user_id, web.conversation_id)
            self._bots.start(connection, spec, slot)
            started = True

        try:
            answer = await handler.handle_web_request(request, on_connection)
        except HTTPException:
            raise
        except Exception as error:  # aiortc raises ValueError & co. on SDP it can't parse
            raise HTTPException(400, f"Invalid SDP offer: {error}") from None
        finally:
            if slot is not None and not started:
                self._bots.release(slot)
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

    async def close(self) -> None:
        """Close the peer connections (after the voice bots have shut down)."""
        if self._handler is not None:
            await self._handler.close()


def get_signalling(request: Request) -> Signalling:
    return request.app.state.signalling


async def get_ready_signalling(request: Request) -> Signalling:
    # A dependency runs before the body is validated, so `OfferBody`'s SDP check finds aiortc
    # imported instead of importing it on the event loop.
    signalling = get_signalling(request)
    await signalling.ready()
    return signalling


Signals = Annotated[Signalling, Depends(get_signalling)]
ReadySignals = Annotated[Signalling, Depends(get_ready_signalling)]
Current = Annotated[WebSession, Depends(current_session)]


@router.post("/api/offer")
async def offer(web: Current, body: OfferBody, signalling: ReadySignals) -> dict[str, Any]:
    """SDP offer → answer; starts the voice session for the cookie's user and conversation."""
    return await signalling.offer(body, web)


@router.patch("/api/offer")
async def add_candidates(body: PatchBody, signalling: Signals, _web: Current) -> dict[str, str]:
    await signalling.patch(body)
    return {"status": "success"}


@router.post("/start")
async def start(signalling: Signals, web: Current) -> dict[str, str]:
    """The prebuilt UI's first call; the id scopes its later offer requests."""
    session_id = str(uuid.uuid4())
    pending = signalling.pending_starts
    pending[session_id] = web
    while len(pending) > MAX_PENDING_STARTS:  # abandoned starts must not pile up
        pending.popitem(last=False)
    return {"sessionId": session_id}


def _started(signalling: Signalling, session_id: str, web: WebSession) -> WebSession:
    started = signalling.pending_starts.get(session_id)
    if started is None or started.token != web.token:
        raise HTTPException(404, "Unknown session id.")
    return started


@router.post("/sessions/{session_id}/api/offer")
async def session_offer(session_id: str, web: Current, body: OfferBody, signalling: ReadySignals):
    return await signalling.offer(body, _started(signalling, session_id, web))


@router.patch("/sessions/{session_id}/api/offer")
async def session_candidates(session_id: str, body: PatchBody, signalling: Signals, web: Current):
    _started(signalling, session_id, web)
    await signalling.patch(body)
    return {"status": "success"}
