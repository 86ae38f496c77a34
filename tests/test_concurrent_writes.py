"""Concurrent writes: two live sessions of one user, and a burst of interleaved writers, lose no
row, never see "database is locked", and keep every conversation's seq contiguous."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
from loguru import logger
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from assistant.pipeline.memory import ConversationRecorder, MessageRecord, store_appender
from assistant.store.database import Database
from assistant.store.models import Message, Note
from assistant.store.repository import ConversationRepository, NoteRepository, UserRepository
from fakes.harness import without_clock
from tests.test_faults import say

RECORDS_PER_WRITER = 220
NOTE_WRITES_PER_WRITER = 120


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    """Everything logged at WARNING or above (the recorder logs each failed write it retries)."""
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING", format="{message}")
    yield messages
    logger.remove(sink)


async def seqs(db: Database, conversation_id: str) -> list[int]:
    async with db.transaction() as store:
        rows = await store.scalars(
            select(Message.seq).where(Message.conversation_id == conversation_id).order_by("seq")
        )
        return list(rows)


async def test_two_live_sessions_of_one_user(headless, fake_groq, warnings_logged):
    """Two tabs on the same conversation, talking at the same moment."""

    def echo(request):
        said = [without_clock(m["content"]) for m in request["messages"] if m["role"] == "user"][-1]
        return f"You said {said}."

    fake_groq.default_reply = echo
    fake_groq.transcribe("first tab", times=1)
    fake_groq.transcribe("second tab", times=1)
    spec = await headless.open_conversation("alice")
    async with contextlib.AsyncExitStack() as stack:
        tabs = [
            await stack.enter_async_context(
                headless.session("alice", conversation_id=spec.conversation_id)
            )
            for _ in range(2)
        ]
        # Both speak at once; each tab's request picks up whichever transcript comes next.
        await asyncio.gather(say(tabs[0], "hello there"), say(tabs[1], "good morning"))
        rows = await tabs[0].wait_for_messages(lambda rows: len(rows) >= 4)
    said = sorted((m.role.value, m.content) for m in rows)
    assert said == [
        ("assistant", "You said first tab."),
        ("assistant", "You said second tab."),
        ("user", "first tab"),
        ("user", "second tab"),
    ]
    assert await seqs(headless.db, spec.conversation_id) == [1, 2, 3, 4]
    assert not [w for w in warnings_logged if "locked" in w or "saving" in w]


async def test_burst_of_interleaved_writes(database_url, warnings_logged):
    """Recorders (as voice sessions use them) and repository writes, all at once, on two engines
    (as two server processes would be) sharing one database."""
    first, second = Database(database_url), Database(database_url)
    await first.upgrade()
    try:
        async with first.transaction() as store:
            alice = (await UserRepository(store).get_or_create("alice")).id
            bob = (await UserRepository(store).get_or_create("bob")).id
            shared = (await ConversationRepository(store, alice).create()).id  # two tabs
            other = (await ConversationRepository(store, alice).create()).id
            bobs = (await ConversationRepository(store, bob).create()).id
            note = (await NoteRepository(store, alice).add("shopping")).id

        writers = [  # (db, user, conversation, name)
            (first, alice, shared, "tab-1"),
            (second, alice, shared, "tab-2"),
            (first, alice, other, "other"),
            (second, bob, bobs, "bob"),
        ]

        async def record(db: Database, user: int, conversation: str, name: str) -> None:
            recorder = ConversationRecorder(store_appender(db, user, conversation))
            recorder.start()
            for i in range(RECORDS_PER_WRITER):
                role = "user" if i % 2 == 0 else "assistant"
                recorder.record(MessageRecord(role=role, content=f"{name} {i}"))
                if i % 10 == 0:
                    await asyncio.sleep(0)  # let the others interleave
            await recorder.flush()
            await recorder.close()

        async def take_notes(db: Database, name: str) -> None:
            for i in range(NOTE_WRITES_PER_WRITER):
                async with db.transaction() as store:
                    notes = NoteRepository(store, alice)
                    if i % 2:
                        await notes.append(note, f"{name} {i}")
                    else:
                        await notes.add(f"{name} note {i}")

        jobs = [record(*w) for w in writers] + [
            take_notes(first, "notes-1"),
            take_notes(second, "notes-2"),
        ]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(asyncio.gather(*jobs), 60)
        elapsed = loop.time() - started
        total = len(writers) * RECORDS_PER_WRITER + 2 * NOTE_WRITES_PER_WRITER
        assert total >= 1000
        print(f"{total} writes in {elapsed:.2f} s")

        # No lost rows, each writer's rows in its own order, seq contiguous per conversation.
        async with first.transaction() as store:
            for conversation, names in (
                (shared, ["tab-1", "tab-2"]),
                (other, ["other"]),
                (bobs, ["bob"]),
            ):
                owner = bob if conversation == bobs else alice
                rows = await ConversationRepository(store, owner).messages(
                    conversation, limit=10_000
                )
                assert [m.seq for m in rows] == list(range(1, len(rows) + 1))
                for name in names:
                    mine = [m.content for m in rows if m.content.startswith(f"{name} ")]
                    assert mine == [f"{name} {i}" for i in range(RECORDS_PER_WRITER)]
                assert len(rows) == RECORDS_PER_WRITER * len(names)
            notes = await store.scalar(select(func.count()).select_from(Note))
            assert notes == 1 + 2 * (NOTE_WRITES_PER_WRITER // 2)
            lines = (await NoteRepository(store, alice).get(note)).content.split("\n")
            for name in ("notes-1", "notes-2"):
                appended = [line for line in lines if line.startswith(f"{name} ")]
                assert appended == [f"{name} {i}" for i in range(1, NOTE_WRITES_PER_WRITER, 2)]
    finally:
        await first.dispose()
        await second.dispose()
    assert not [w for w in warnings_logged if "locked" in w or "saving" in w], warnings_logged[:5]


async def test_recorder_retries_a_locked_database_in_order(warnings_logged):
    """A write that fails for a while (the file is locked) is retried, not dropped or reordered."""
    saved: list[str] = []
    failures = iter([True, True, True])

    async def append(record: MessageRecord) -> None:
        if record.content == "second" and next(failures, False):
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        saved.append(record.content)

    recorder = ConversationRecorder(append, retry_delay=0.01)
    recorder.start()
    for content in ("first", "second", "third"):
        recorder.record(MessageRecord(role="user", content=content))
    await asyncio.wait_for(recorder.flush(), 5)
    await recorder.close()
    assert saved == ["first", "second", "third"]
    assert sum("retrying" in w for w in warnings_logged) == 3


async def test_recorder_skips_what_can_never_be_saved(database_url, warnings_logged):
    """A conversation deleted mid-session: its records are reported, not retried forever."""
    db = Database(database_url)
    await db.upgrade()
    try:
        async with db.transaction() as store:
            alice = (await UserRepository(store).get_or_create("alice")).id
            conversation = (await ConversationRepository(store, alice).create()).id
        recorder = ConversationRecorder(store_appender(db, alice, conversation), retry_delay=0.01)
        recorder.start()
        recorder.record(MessageRecord(role="user", content="kept"))
        await recorder.flush()
        async with db.transaction() as store:
            await ConversationRepository(store, alice).delete(conversation)
        recorder.record(MessageRecord(role="assistant", content="lost with its conversation"))
        await asyncio.wait_for(recorder.flush(), 2)
        await recorder.close()
    finally:
        await db.dispose()
    assert any("cannot be saved" in w for w in warnings_logged)
    assert not any("retrying" in w for w in warnings_logged)
