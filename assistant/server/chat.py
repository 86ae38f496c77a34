"""The typed turn's route: `POST /api/conversations/{id}/chat {"text"}`.

Answered as JSON once the reply is complete, or as a stream of server-sent events while it is
produced when the request accepts `text/event-stream`. The turn itself is the runtime's
(`assistant.runtime.chat`): into the conversation's call if one is live, else a text session.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import BaseModel, ConfigDict, StringConstraints

from assistant.runtime.chat import Chat, ChatResult, ChatTurn, TurnFailed
from assistant.server.api import MessageOut
from assistant.server.deps import voice_stack_ready
from assistant.server.web_sessions import WebSession, current_session
from assistant.store.repository import ConversationRepository

router = APIRouter(prefix="/api", tags=["chat"])

# The longest typed message: a long paragraph. More is not a chat turn, and every character
# goes into every later request's context (README "What a free Groq key allows").
MAX_TYPED_CHARS = 4000


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TYPED_CHARS)
    ]


def get_chat(request: Request) -> Chat:
    return request.app.state.chat


Current = Annotated[WebSession, Depends(current_session)]


@router.post("/conversations/{conversation_id}/chat", dependencies=[Depends(voice_stack_ready)])
async def chat(
    conversation_id: str,
    body: ChatRequest,
    request: Request,
    current: Current,
    runtime: Annotated[Chat, Depends(get_chat)],
):
    """The user's typed turn in one of their conversations (in its call, if one is live):
    `{"reply", "messages", "timings", "notices"}` once complete, or server-sent events
    (`text`, `notice`, then `done` or `error`) with `Accept: text/event-stream`."""
    from assistant.pipeline.builder import SessionSpec  # imported by `voice_stack_ready`

    async with request.app.state.db.session() as store:
        if await ConversationRepository(store, current.user_id).get(conversation_id) is None:
            raise HTTPException(404, "No such conversation for this user.")
    spec = SessionSpec(current.user_id, current.user_name, conversation_id, current.timezone)
    try:
        turn = await runtime.send(spec, body.text)
    except LookupError:  # deleted meanwhile
        raise HTTPException(404, "No such conversation for this user.") from None
    if "text/event-stream" in request.headers.get("accept", ""):
        return EventSourceResponse(_events(turn))
    try:
        return _outcome(await turn.result())
    except TurnFailed as failed:
        raise HTTPException(failed.failure.status, failed.failure.message) from None
    finally:
        turn.close()


def _outcome(result: ChatResult) -> dict[str, Any]:
    return {
        "reply": result.reply,
        "messages": [MessageOut.model_validate(m).model_dump(mode="json") for m in result.messages],
        "timings": {f"{role}_secs": round(secs, 3) for role, secs in result.timings.items()},
        "notices": result.notices,
        "live": result.live,
    }


async def _events(turn: ChatTurn) -> AsyncIterator[bytes]:
    try:
        async for kind, value in turn.events():
            data = {"text": value} if kind == "text" else value
            yield _event(kind, data)
        try:
            yield _event("done", _outcome(await turn.result()))
        except TurnFailed as failed:
            yield _event(
                "error", {"detail": failed.failure.message, "status": failed.failure.status}
            )
    finally:
        turn.close()


def _event(name: str, data: Any) -> bytes:
    return format_sse_event(data_str=json.dumps(data), event=name)
