"""Notes: take, list, search, append to, edit and delete the user's free-text notes.

The plain functions take ``(db, user_id, ...)`` and return plain dicts; a failure the user can fix
(an unknown id) raises ``ToolError``, which the adapter turns into ``{"ok": false, "error"}``.
The ``Tool`` definitions below bind them to the session's user from ``ToolContext``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from assistant.store.database import Database
from assistant.store.models import MAX_ID, Note
from assistant.store.repository import NoteRepository
from assistant.tools.base import (
    Tool,
    ToolContext,
    ToolError,
    ToolLabel,
    notify_safely,
    ok,
    reject_bool,
    storable_text,
)

CONTENT_MAX_CHARS = 4000
QUERY_MAX_CHARS = 200
# Lists are read aloud and fill the LLM's context: keep each item short.
PREVIEW_CHARS = 200
# A bigger id can't exist, so it is simply "not found".
_MAX_ID = MAX_ID

NOTES_CHANGED = {"type": "notes-changed"}


NoteId = Annotated[int, Field(ge=1), BeforeValidator(reject_bool)]
NoteText = Annotated[
    str,
    Field(min_length=1, max_length=CONTENT_MAX_CHARS),
    AfterValidator(storable_text),
]


class _Args(BaseModel):
    # Extra keys are ignored: the user and conversation never come from the LLM.
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")


class TakeNoteArgs(_Args):
    content: NoteText = Field(description="In the user's words.")


class ListNotesArgs(_Args):
    limit: Annotated[int, BeforeValidator(reject_bool)] = Field(5, ge=1, le=20)


class SearchNotesArgs(_Args):
    query: Annotated[str, AfterValidator(storable_text)] = Field(
        min_length=1, max_length=QUERY_MAX_CHARS
    )
    limit: Annotated[int, BeforeValidator(reject_bool)] = Field(5, ge=1, le=20)


class AppendToNoteArgs(_Args):
    note_id: NoteId
    text: NoteText


class EditNoteArgs(_Args):
    note_id: NoteId
    content: NoteText = Field(description="The whole new text.")


class DeleteNoteArgs(_Args):
    note_id: NoteId


def _item(note: Note, limit: int | None = None) -> dict[str, Any]:
    content = note.content
    if limit is not None and len(content) > limit:
        content = content[: limit - 1].rstrip() + "…"
    return {"id": note.id, "content": content}


def _not_found(note_id: int) -> ToolError:
    return ToolError(f"no note with id {note_id}")


async def take_note(db: Database, user_id: int, content: str) -> dict[str, Any]:
    async with db.transaction() as session:
        note = await NoteRepository(session, user_id).add(content)
    return ok(note=_item(note))


async def list_notes(db: Database, user_id: int, limit: int = 5) -> dict[str, Any]:
    async with db.transaction() as session:
        notes = await NoteRepository(session, user_id).recent(limit)
    return ok(notes=[_item(n, PREVIEW_CHARS) for n in notes], count=len(notes))


async def search_notes(db: Database, user_id: int, query: str, limit: int = 5) -> dict[str, Any]:
    async with db.transaction() as session:
        notes = await NoteRepository(session, user_id).search(query, limit)
    return ok(query=query, notes=[_item(n, PREVIEW_CHARS) for n in notes], count=len(notes))


async def append_to_note(db: Database, user_id: int, note_id: int, text: str) -> dict[str, Any]:
    if note_id > _MAX_ID:
        raise _not_found(note_id)
    async with db.transaction() as session:
        note = await NoteRepository(session, user_id).append(note_id, text)
    if note is None:
        raise _not_found(note_id)
    return ok(note=_item(note))


async def edit_note(db: Database, user_id: int, note_id: int, content: str) -> dict[str, Any]:
    if note_id > _MAX_ID:
        raise _not_found(note_id)
    async with db.transaction() as session:
        note = await NoteRepository(session, user_id).update(note_id, content)
    if note is None:
        raise _not_found(note_id)
    return ok(note=_item(note))


async def delete_note(db: Database, user_id: int, note_id: int) -> dict[str, Any]:
    if note_id > _MAX_ID:
        raise _not_found(note_id)
    async with db.transaction() as session:
        notes = NoteRepository(session, user_id)
        note = await notes.get(note_id)
        # The row is read first only to say what was deleted; the delete decides.
        if note is None or not await notes.delete(note_id):
            raise _not_found(note_id)
    return ok(deleted=_item(note, PREVIEW_CHARS))


async def _take(context: ToolContext, args: TakeNoteArgs) -> dict[str, Any]:
    result = await take_note(context.db, context.user_id, args.content)
    await notify_safely(context, NOTES_CHANGED)
    return result


async def _list(context: ToolContext, args: ListNotesArgs) -> dict[str, Any]:
    return await list_notes(context.db, context.user_id, args.limit)


async def _search(context: ToolContext, args: SearchNotesArgs) -> dict[str, Any]:
    return await search_notes(context.db, context.user_id, args.query, args.limit)


async def _append(context: ToolContext, args: AppendToNoteArgs) -> dict[str, Any]:
    result = await append_to_note(context.db, context.user_id, args.note_id, args.text)
    await notify_safely(context, NOTES_CHANGED)
    return result


async def _edit(context: ToolContext, args: EditNoteArgs) -> dict[str, Any]:
    result = await edit_note(context.db, context.user_id, args.note_id, args.content)
    await notify_safely(context, NOTES_CHANGED)
    return result


async def _delete(context: ToolContext, args: DeleteNoteArgs) -> dict[str, Any]:
    result = await delete_note(context.db, context.user_id, args.note_id)
    await notify_safely(context, NOTES_CHANGED)
    return result


TAKE_NOTE = Tool(
    name="take_note",
    description="Save a new note.",
    arguments=TakeNoteArgs,
    run=_take,
    label=ToolLabel("took a note", "taking a note"),
)
LIST_NOTES = Tool(
    name="list_notes",
    description="The user's latest notes, with ids.",
    arguments=ListNotesArgs,
    run=_list,
    label=ToolLabel("looked through notes", "looking through notes"),
)
SEARCH_NOTES = Tool(
    name="search_notes",
    description="Find notes by words in them, with ids.",
    arguments=SearchNotesArgs,
    run=_search,
    label=ToolLabel("looked through notes", "looking through notes"),
)
APPEND_TO_NOTE = Tool(
    name="append_to_note",
    description="Add a line to the end of a note.",
    arguments=AppendToNoteArgs,
    run=_append,
    label=ToolLabel("updated a note", "updating a note"),
)
EDIT_NOTE = Tool(
    name="edit_note",
    description="Replace a note's text.",
    arguments=EditNoteArgs,
    run=_edit,
    label=ToolLabel("updated a note", "updating a note"),
)
DELETE_NOTE = Tool(
    name="delete_note",
    description="Delete a note, only if the user clearly asked.",
    arguments=DeleteNoteArgs,
    run=_delete,
    label=ToolLabel("forgot a note", "forgetting a note"),
)

NOTE_TOOLS: list[Tool] = [
    TAKE_NOTE,
    LIST_NOTES,
    SEARCH_NOTES,
    APPEND_TO_NOTE,
    EDIT_NOTE,
    DELETE_NOTE,
]
