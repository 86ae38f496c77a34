"""JSON API over the user's whole history: paging, rename, delete, export; editing notes and
reminders from the page. Thin: the store's ``HistoryRepository`` does the work."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, model_validator

from assistant.server.api import (
    ConversationOut,
    Current,
    MessageOut,
    NoteOut,
    ReminderOut,
    RowId,
    Store,
)
from assistant.store.history import HistoryRepository
from assistant.store.models import utcnow
from assistant.store.repository import ConversationRepository, NoteRepository, ReminderRepository
from assistant.store.search import SearchRepository

router = APIRouter(prefix="/api", tags=["history"])

NOT_FOUND = "No such conversation for this user."
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class RenameBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Text


class ReminderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text | None = None
    due_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _something(self) -> ReminderBody:
        if self.text is None and self.due_at is None:
            raise ValueError("give text, due_at or both")
        return self


class SearchHitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    conversation_id: str
    conversation_title: str | None
    message_id: int | None  # None for a summary
    seq: int
    role: str  # "user", "assistant" or "summary"
    created_at: datetime
    snippet: str


@router.get("/search", response_model=list[SearchHitOut])
async def search(
    current: Current,
    store: Store,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
):
    """What the user and the assistant said, across all conversations, best first: each hit's
    snippet, and the conversation and seq to open it at."""
    if not q.strip():
        raise HTTPException(422, "Say what to search for.")
    return await SearchRepository(store).search(current.user_id, q, limit=limit)


@router.get("/conversations", response_model=list[ConversationOut])
async def list_conversations(
    current: Current,
    store: Store,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[str | None, Query(max_length=64)] = None,
):
    """Conversations anything was said in, most recently active first; ``before``: the id of
    the previous page's last one."""
    page = await HistoryRepository(store, current.user_id).conversations(limit, before)
    if page is None:
        raise HTTPException(404, NOT_FOUND)
    return page


@router.get("/conversations/{conversation_id}/messages", response_model=list[MessageOut])
async def conversation_messages(
    conversation_id: str,
    current: Current,
    store: Store,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
):
    """The newest ``limit`` messages before seq ``before`` (none: the newest), or the oldest
    ``limit`` after seq ``after``; oldest first either way."""
    if before is not None and after is not None:
        raise HTTPException(422, "Give before or after, not both.")
    page = await HistoryRepository(store, current.user_id).messages(
        conversation_id, limit, before=before, after=after
    )
    if page is None:
        raise HTTPException(404, NOT_FOUND)
    return page


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
async def rename_conversation(
    conversation_id: str, body: RenameBody, current: Current, store: Store
):
    history = HistoryRepository(store, current.user_id)
    if await ConversationRepository(store, current.user_id).rename(conversation_id, body.title):
        page = await history.conversation(conversation_id)
        if page is not None:
            return page
    raise HTTPException(404, NOT_FOUND)


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(
    conversation_id: str, request: Request, current: Current, store: Store
):
    """Delete a conversation with its messages and summaries; notes, reminders and the
    tokens it used stay. Refused while a call is in it (hang up first)."""
    if conversation_id in request.app.state.bots.live_conversations():
        if await ConversationRepository(store, current.user_id).get(conversation_id):
            raise HTTPException(409, "This conversation is in a call: hang up first.")
    if not await HistoryRepository(store, current.user_id).delete(conversation_id):
        raise HTTPException(404, NOT_FOUND)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/export")
async def export_conversation(
    conversation_id: str,
    current: Current,
    store: Store,
    format: Literal["md", "json"] = "md",  # noqa: A002 (the query parameter's name)
):
    history = HistoryRepository(store, current.user_id)
    if format == "json":
        data = await history.export_conversation(conversation_id)
        if data is None:
            raise HTTPException(404, NOT_FOUND)
        return JSONResponse(data, headers=_attachment(data["title"], conversation_id, "json"))
    text = await history.export_markdown(conversation_id)
    if text is None:
        raise HTTPException(404, NOT_FOUND)
    title = text.splitlines()[0].removeprefix("# ")
    return Response(
        text,
        media_type="text/markdown; charset=utf-8",
        headers=_attachment(title, conversation_id, "md"),
    )


@router.get("/export")
async def export_everything(request: Request, current: Current):
    """All of the user's data as one JSON document, streamed as it is read (one read
    transaction: a consistent snapshot however long it takes)."""
    db = request.app.state.db

    async def pieces():
        async with db.transaction() as session:
            async for piece in HistoryRepository(session, current.user_id).export_all():
                yield piece

    stamp = utcnow().strftime("%Y-%m-%d")
    return StreamingResponse(
        pieces(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="assistant-export-{stamp}.json"'},
    )


@router.patch("/notes/{note_id}", response_model=NoteOut)
async def edit_note(note_id: RowId, body: NoteBody, current: Current, store: Store):
    note = await NoteRepository(store, current.user_id).update(note_id, body.content)
    if note is None:
        raise HTTPException(404, "No such note for this user.")
    return note


@router.delete("/notes/{note_id}", status_code=204)
async def delete_note(note_id: RowId, current: Current, store: Store):
    if not await NoteRepository(store, current.user_id).delete(note_id):
        raise HTTPException(404, "No such note for this user.")
    return Response(status_code=204)


@router.patch("/reminders/{reminder_id}", response_model=ReminderOut)
async def edit_reminder(reminder_id: RowId, body: ReminderBody, current: Current, store: Store):
    """Change a pending reminder's words or time (a time to come)."""
    if body.due_at is not None and body.due_at <= utcnow():
        raise HTTPException(422, "due_at must be in the future.")
    reminders = ReminderRepository(store, current.user_id)
    if await reminders.get(reminder_id) is None:
        raise HTTPException(404, "No such reminder for this user.")
    reminder = await reminders.update(reminder_id, text=body.text, due_at_utc=body.due_at)
    if reminder is None:
        raise HTTPException(409, "That reminder is no longer pending.")
    return reminder


@router.delete("/reminders/{reminder_id}", status_code=204)
async def delete_reminder(reminder_id: RowId, current: Current, store: Store):
    if not await ReminderRepository(store, current.user_id).delete(reminder_id):
        raise HTTPException(404, "No such reminder for this user.")
    return Response(status_code=204)


def _attachment(title: str | None, conversation_id: str, extension: str) -> dict[str, str]:
    # A file name of the title's plain words (headers are latin-1), else the id.
    name = re.sub(r"[^A-Za-z0-9]+", "-", title or "").strip("-")[:60] or conversation_id
    return {"Content-Disposition": f'attachment; filename="{name}.{extension}"'}
