"""JSON API for the page: choose who is talking and which conversation, and read the memory."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.server.deps import get_store_session, voice_stack_ready
from assistant.server.web_sessions import (
    WebSession,
    WebSessions,
    current_session,
    get_web_sessions,
    optional_session,
)
from assistant.store.history import HistoryRepository
from assistant.store.memories import MEMORY_MAX_CHARS, MemoryRepository
from assistant.store.models import MAX_ID
from assistant.store.repository import (
    ConversationRepository,
    NoteRepository,
    ReminderRepository,
    UsageRepository,
    UsageTotals,
    UserRepository,
)

router = APIRouter(prefix="/api", tags=["memory"])

UserName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # AUTH=none: who is talking. AUTH=password: left out, the signed-in user is.
    user: UserName | None = None
    conversation_id: Annotated[str, Field(max_length=64)] | None = None
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class SessionResponse(BaseModel):
    user: str
    conversation_id: str


class ConversationOut(BaseModel):
    id: str
    title: str | None
    created_at: datetime
    updated_at: datetime
    message_count: int


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    role: str
    content: str | None
    tool_calls: list[dict[str, Any]] | None
    interrupted: bool
    created_at: datetime


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    content: str
    created_at: datetime
    updated_at: datetime


class ReminderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    due_at: datetime
    timezone: str
    status: str


class MemoryOut(BaseModel):
    """A current fact about the user."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    created_at: datetime
    updated_at: datetime
    source_conversation_id: str | None
    pinned: bool
    inferred: bool


FactText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MEMORY_MAX_CHARS)
]


class MemoryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: FactText | None = None
    pinned: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> MemoryPatch:
        if self.text is None and self.pinned is None:
            raise ValueError("give text or pinned")
        return self


class ForgotOut(BaseModel):
    deleted: int


class UsageOut(BaseModel):
    """Tokens of language-model requests, as the provider reported them."""

    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, totals: UsageTotals, **extra: Any):
        return cls(
            requests=totals.requests,
            prompt_tokens=totals.prompt_tokens,
            completion_tokens=totals.completion_tokens,
            total_tokens=totals.total_tokens,
            **extra,
        )


class ConversationUsageOut(UsageOut):
    conversation_id: str


class DayUsageOut(UsageOut):
    day: date  # UTC


Store = Annotated[AsyncSession, Depends(get_store_session, scope="function")]
# A row id the store can hold on both databases (models.MAX_ID: PostgreSQL's integer is 32-bit);
# a bigger one is a bad request, not a server error.
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
Current = Annotated[WebSession, Depends(current_session)]


@router.post("/session", response_model=SessionResponse)
async def select_session(
    body: SessionRequest,
    request: Request,
    response: Response,
    store: Store,
    sessions: Annotated[WebSessions, Depends(get_web_sessions)],
    current: Annotated[WebSession | None, Depends(optional_session)],
) -> SessionResponse:
    """Which conversation the next voice session continues; with AUTH=none also who is talking
    (the cookie is set), with AUTH=password for the signed-in user.

    The conversation this browser leaves, if nothing was said in it, is deleted, with any
    other of the user's that no browser or call is in: an empty conversation is never kept
    for long, so starting new ones never piles them up."""
    users = UserRepository(store)
    if request.app.state.settings.auth == "password":
        if current is None:
            raise HTTPException(401, "Not signed in.")
        if body.user is not None:
            raise HTTPException(422, "Signed in already: send only conversation_id.")
        user = await users.get(current.user_id)
        if user is None:  # removed while signed in
            raise HTTPException(401, "Not signed in.")
        if body.timezone is not None and body.timezone != user.timezone:
            user = await users.get_or_create(user.name, timezone=body.timezone)
    else:
        if body.user is None:
            raise HTTPException(422, "Say who is talking: user is required.")
        user = await users.get_or_create(body.user, timezone=body.timezone)
    conversations = ConversationRepository(store, user.id)
    if body.conversation_id is None:
        conversation = await conversations.create()
    else:
        conversation = await conversations.get(body.conversation_id)
        if conversation is None:
            raise HTTPException(404, "No such conversation for this user.")
    if current is not None and current.user_id == user.id:
        await sessions.choose(current.token, conversation.id, store=store)
    else:  # AUTH=none, a first choice or another name: a session of its own
        if current is not None:
            await sessions.end(current.token, store=store)
        token = await sessions.open(user.id, conversation.id, store=store)
        sessions.set_cookie(response, token, secure=request.url.scheme == "https")
    in_use = await sessions.conversations_of(user.id, store=store)
    await HistoryRepository(store, user.id).drop_empty(
        in_use | request.app.state.bots.live_conversations()
    )
    return SessionResponse(user=user.name, conversation_id=conversation.id)


@router.get("/conversations/{conversation_id}/usage", response_model=ConversationUsageOut)
async def conversation_usage(conversation_id: str, current: Current, store: Store):
    """The tokens this conversation's requests took, summaries included."""
    totals = await UsageRepository(store, current.user_id).conversation_total(conversation_id)
    if totals is None:
        raise HTTPException(404, "No such conversation for this user.")
    return ConversationUsageOut.of(totals, conversation_id=conversation_id)


@router.get("/usage", response_model=list[DayUsageOut])
async def daily_usage(
    current: Current, store: Store, days: Annotated[int, Query(ge=1, le=366)] = 7
) -> list[DayUsageOut]:
    """The user's tokens per UTC day, over the last ``days`` days (today included)."""
    first = datetime.combine(datetime.now(UTC).date() - timedelta(days=days - 1), time(), UTC)
    rows = await UsageRepository(store, current.user_id).by_day(first)
    return [DayUsageOut.of(row, day=row.day) for row in rows]


@router.get("/notes", response_model=list[NoteOut])
async def list_notes(current: Current, store: Store):
    return await NoteRepository(store, current.user_id).recent(limit=200)


@router.get("/reminders", response_model=list[ReminderOut])
async def list_reminders(current: Current, store: Store):
    return await ReminderRepository(store, current.user_id).upcoming(limit=200)


@router.get("/tools", dependencies=[Depends(voice_stack_ready)])
async def list_tool_labels() -> list[dict[str, str]]:
    """What the page calls each tool's calls: `{"name", "topic", "done", "doing"}`."""
    # The registry imports pipecat: read once the warm-up has imported it, off the event loop.
    from assistant.tools.registry import tool_labels

    return tool_labels()


@router.get("/memories", response_model=list[MemoryOut])
async def list_memories(current: Current, store: Store):
    """What the assistant knows about the user now (superseded facts are history, not listed)."""
    return await MemoryRepository(store).current(current.user_id)


def _memory_changed(request: Request, background: BackgroundTasks, user_id: int) -> None:
    # After the answer, so after the commit: the user's live sessions read the new facts.
    background.add_task(request.app.state.bots.memory_changed, user_id)


@router.patch("/memories/{memory_id}", response_model=MemoryOut)
async def update_memory(
    memory_id: RowId,
    body: MemoryPatch,
    current: Current,
    store: Store,
    request: Request,
    background: BackgroundTasks,
):
    try:
        memory = await MemoryRepository(store).update(
            current.user_id, memory_id, text=body.text, pinned=body.pinned
        )
    except ValueError as problem:  # text the store refuses (e.g. nothing left once cleaned)
        raise HTTPException(422, str(problem)) from None
    if memory is None:
        raise HTTPException(404, "No such fact for this user.")
    _memory_changed(request, background, current.user_id)
    return memory


@router.delete("/memories/{memory_id}", status_code=204)
async def delete_memory(
    memory_id: RowId,
    current: Current,
    store: Store,
    request: Request,
    background: BackgroundTasks,
) -> Response:
    if not await MemoryRepository(store).delete(current.user_id, memory_id):
        raise HTTPException(404, "No such fact for this user.")
    _memory_changed(request, background, current.user_id)
    return Response(status_code=204)


@router.delete("/memories", response_model=ForgotOut)
async def forget_everything(
    current: Current, store: Store, request: Request, background: BackgroundTasks
) -> ForgotOut:
    """Every fact about the user, current and superseded, deleted for good."""
    deleted = await MemoryRepository(store).delete_all(current.user_id)
    _memory_changed(request, background, current.user_id)
    return ForgotOut(deleted=deleted)
