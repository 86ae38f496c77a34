import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import StatementError

from assistant.store.context import load_context
from assistant.store.database import Database
from assistant.store.models import (
    Conversation,
    Message,
    MessageKind,
    Note,
    Reminder,
    ReminderStatus,
    Role,
)
from assistant.store.repository import (
    ConversationRepository,
    NoteRepository,
    NotFoundError,
    ReminderRepository,
    UserRepository,
    fts_query,
    make_title,
)

WEATHER_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def _fts_integrity_check(db: Database) -> None:
    # Raises if the external-content index disagrees with the notes table. (PostgreSQL's is an
    # index over an expression of notes.content: it cannot disagree.)
    if db.url.get_backend_name() != "sqlite":
        return
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("INSERT INTO notes_fts(notes_fts) VALUES ('integrity-check')")


# --- users -------------------------------------------------------------------------------


async def test_get_or_create_user_is_idempotent_and_updates_timezone(db: Database) -> None:
    async with db.transaction() as session:
        users = UserRepository(session)
        first = await users.get_or_create("alice")
        assert first.timezone == "UTC"
        again = await users.get_or_create("alice", "America/New_York")
        assert again.id == first.id
        assert again.timezone == "America/New_York"
        assert (await users.get_or_create("alice")).timezone == "America/New_York"
    async with db.transaction() as session:
        reloaded = await UserRepository(session).get(first.id)
        assert reloaded is not None and reloaded.timezone == "America/New_York"
        assert reloaded.created_at.tzinfo == UTC


async def test_get_or_create_rejects_bad_input(db: Database) -> None:
    async with db.transaction() as session:
        users = UserRepository(session)
        with pytest.raises(ValueError):
            await users.get_or_create("alice", "Mars/Olympus_Mons")
        with pytest.raises(ValueError):
            await users.get_or_create("   ")


async def test_concurrent_get_or_create_yields_one_user(db: Database) -> None:
    async def login() -> int:
        async with db.transaction() as session:
            return (await UserRepository(session).get_or_create("erin")).id

    ids = await asyncio.gather(*(login() for _ in range(20)))
    assert len(set(ids)) == 1


# --- conversations & messages --------------------------------------------------------------


async def test_conversation_crud_and_defaults(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        assert len(conv.id) == 32 and conv.id.isalnum()
        assert (conv.title, conv.emotion, conv.speed, conv.volume) == (None, "neutral", 1.0, 1.0)

        updated = await convs.set_voice(conv.id, emotion="excited", speed=1.2)
        assert updated is not None
        assert (updated.emotion, updated.speed, updated.volume) == ("excited", 1.2, 1.0)
        with pytest.raises(ValueError):
            await convs.set_voice(conv.id, volume=0)

        renamed = await convs.rename(conv.id, "Trip planning")
        assert renamed is not None and renamed.title == "Trip planning"

    async with db.transaction() as session:
        fetched = await ConversationRepository(session, alice).get(conv.id)
        assert fetched is not None
        assert (fetched.title, fetched.emotion, fetched.speed) == ("Trip planning", "excited", 1.2)
        assert fetched.created_at.tzinfo == UTC

        assert await ConversationRepository(session, alice).delete(conv.id) is True
        assert await ConversationRepository(session, alice).get(conv.id) is None
        assert await ConversationRepository(session, alice).delete(conv.id) is False


async def test_append_assigns_seq_and_stores_every_field(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        await convs.append(conv.id, "user", "What's the weather in Paris?")
        await convs.append(conv.id, Role.ASSISTANT, tool_calls=[WEATHER_CALL])
        await convs.append(conv.id, "tool", '{"temp": 21}', tool_call_id="call_1")
        await convs.append(conv.id, "assistant", "It's 21 degrees and", interrupted=True)
        with pytest.raises(ValueError):
            await convs.append(conv.id, "robot", "beep")

    # Fresh session: prove it was committed, not just in the identity map.
    async with db.transaction() as session:
        messages = await ConversationRepository(session, alice).messages(conv.id)
    assert [m.seq for m in messages] == [1, 2, 3, 4]
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1].tool_calls == [WEATHER_CALL] and messages[1].content is None
    assert messages[0].tool_calls is None  # SQL NULL, not JSON 'null'
    assert messages[2].tool_call_id == "call_1"
    assert [m.interrupted for m in messages] == [False, False, False, True]
    assert all(m.kind == MessageKind.MESSAGE for m in messages)
    assert all(m.created_at.tzinfo == UTC for m in messages)


async def test_tool_calls_none_is_stored_as_sql_null(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        await convs.append(conv.id, "user", "hi", tool_calls=None)
        nulls = await session.scalar(
            select(func.count()).select_from(Message).where(Message.tool_calls.is_(None))
        )
        assert nulls == 1


async def test_messages_paging_excludes_summaries(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        for i in range(5):
            await convs.append(conv.id, "user", f"m{i}")
        await convs.append_summary(conv.id, "they counted", until_seq=3)
        await convs.append(conv.id, "user", "m5")

        assert [m.content for m in await convs.messages(conv.id, limit=2)] == ["m0", "m1"]
        page = await convs.messages(conv.id, after_seq=4)
        assert [(m.seq, m.content) for m in page] == [(5, "m4"), (7, "m5")]
        assert await convs.last_seq(conv.id) == 7


async def test_append_summary_validates_and_is_not_activity(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        await convs.append(conv.id, "user", "hello")
        before = (await convs.get(conv.id)).updated_at
        with pytest.raises(ValueError):
            await convs.append_summary(conv.id, "too far", until_seq=2)
        with pytest.raises(ValueError):
            await convs.append_summary(conv.id, "  ", until_seq=1)
        summary = await convs.append_summary(conv.id, "greeted", until_seq=1)
        assert (summary.kind, summary.seq, summary.summary_until_seq) == ("summary", 2, 1)
        assert (await convs.get(conv.id)).updated_at == before
        [item] = await convs.list()
        assert item.message_count == 1


async def test_title_comes_from_first_user_message(db: Database, alice: int) -> None:
    long_text = "Please remind me to water the plants every Sunday morning before church " * 2
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        await convs.append(conv.id, "assistant", "Hi! How can I help?")
        await convs.append(conv.id, "user", "   ")
        assert conv.title is None
        await convs.append(conv.id, "user", long_text)
        # The object the caller holds is kept current, no re-fetch needed.
        assert conv.title == make_title(long_text)
        await convs.append(conv.id, "user", "Something else entirely")

        named = await convs.create(title="Chosen by me")
        await convs.append(named.id, "user", "hello")

    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        title = (await convs.get(conv.id)).title
        assert title.startswith("Please remind me to water the plants")
        assert len(title) <= 60
        assert (await convs.get(named.id)).title == "Chosen by me"


def test_make_title() -> None:
    assert make_title("  short\n question ") == "short question"
    title = make_title("word " * 40)
    assert len(title) <= 60 and title.endswith("…") and not title.endswith(" …")
    assert make_title("x" * 100) == "x" * 59 + "…"


async def test_append_bumps_updated_at_and_list_orders_by_activity(
    db: Database, alice: int
) -> None:
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        older = await convs.create()
        newer = await convs.create()
        await convs.append(newer.id, "user", "one")
        await convs.append(older.id, "user", "a")
        await convs.append(older.id, "assistant", "b")
        await convs.append(older.id, "user", "c")
        assert older.updated_at > older.created_at

        listing = await convs.list()
        assert [(c.id, c.message_count) for c in listing] == [(older.id, 3), (newer.id, 1)]
        assert listing[0].last_activity == listing[0].updated_at == older.updated_at
        assert listing[0].title == "a"
        assert len(await convs.list(limit=1)) == 1


async def test_list_is_a_single_query(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        for i in range(5):
            conv = await convs.create()
            await convs.append(conv.id, "user", f"hello {i}")

    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.transaction() as session:
            listing = await ConversationRepository(session, alice).list()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    assert len(listing) == 5 and all(item.message_count == 1 for item in listing)
    assert len(statements) == 1


async def test_append_to_missing_conversation_raises(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        with pytest.raises(NotFoundError):
            await ConversationRepository(session, alice).append("nope", "user", "hi")


async def test_append_to_another_users_conversation_changes_nothing(
    db: Database, alice: int, bob: int
) -> None:
    async with db.transaction() as session:
        conv = await ConversationRepository(session, alice).create()
    with pytest.raises(NotFoundError):
        async with db.transaction() as bobs_session:
            await ConversationRepository(bobs_session, bob).append(conv.id, "user", "injected")
    # Bob's unit of work rolled back as the error left it: it must not keep SQLite's write
    # lock (alice would wait for busy_timeout, then fail with "database is locked").
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        untouched = await convs.get(conv.id)
        assert (untouched.title, untouched.updated_at) == (None, conv.updated_at)
        await asyncio.wait_for(convs.append(conv.id, "user", "mine"), 4)
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        assert [(m.seq, m.content) for m in await convs.messages(conv.id)] == [(1, "mine")]
        assert (await convs.get(conv.id)).title == "mine"


async def test_append_is_two_statements_and_no_select(db: Database, alice: int) -> None:
    """The recorder calls this for every message, on the loop that streams the bot's audio."""
    async with db.transaction() as session:
        conv = await ConversationRepository(session, alice).create()

    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.transaction() as session:
            message = await ConversationRepository(session, alice).append(conv.id, "user", "hi")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    assert statements == ["UPDATE", "INSERT"]  # then COMMIT
    assert message.seq == 1
    async with db.transaction() as session:
        stored = await ConversationRepository(session, alice).get(conv.id)
    assert stored.updated_at == message.created_at and stored.title == "hi"


async def test_concurrent_appends_get_consecutive_seqs(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        conv = await ConversationRepository(session, alice).create()

    async def append(i: int) -> int:
        async with db.transaction() as session:
            message = await ConversationRepository(session, alice).append(
                conv.id, "user", f"message {i}"
            )
            return message.seq

    seqs = await asyncio.gather(*(append(i) for i in range(200)))
    assert sorted(seqs) == list(range(1, 201))
    async with db.transaction() as session:
        stored = await ConversationRepository(session, alice).messages(conv.id, limit=1000)
        assert [m.seq for m in stored] == list(range(1, 201))
        assert {m.content for m in stored} == {f"message {i}" for i in range(200)}
        [item] = await ConversationRepository(session, alice).list()
        assert item.message_count == 200
        # The title is from whichever message got seq 1, i.e. the first one committed.
        assert item.title == stored[0].content


# --- notes -----------------------------------------------------------------------------------


async def test_note_crud_keeps_fts_in_sync(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        notes = NoteRepository(session, alice)
        note = await notes.add("Passport number is in the blue folder")
        assert note.created_at.tzinfo == UTC
        assert [n.id for n in await notes.search("passport")] == [note.id]

        updated = await notes.update(note.id, "Driving licence is in the red folder")
        assert updated is not None and updated.content.startswith("Driving licence")
        assert updated.updated_at >= note.created_at
        assert await notes.search("passport") == []
        assert [n.id for n in await notes.search("licence")] == [note.id]

        appended = await notes.append(note.id, "Expires 2030")
        assert appended.content == "Driving licence is in the red folder\nExpires 2030"
        assert [n.id for n in await notes.search("expires")] == [note.id]
        assert (await notes.get(note.id)).content == appended.content

        with pytest.raises(ValueError):
            await notes.add("  ")
        assert await notes.delete(note.id) is True
        assert await notes.delete(note.id) is False
        assert await notes.get(note.id) is None
        assert await notes.search("licence") == []
    await _fts_integrity_check(db)


async def test_recent_notes_newest_activity_first(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        notes = NoteRepository(session, alice)
        first = await notes.add("first")
        second = await notes.add("second")
        third = await notes.add("third")
        await notes.append(first.id, "touched")
        assert [n.id for n in await notes.recent()] == [first.id, third.id, second.id]
        assert [n.id for n in await notes.recent(limit=2)] == [first.id, third.id]


async def test_search_ranks_better_matches_first(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        notes = NoteRepository(session, alice)
        one_word = await notes.add("Call the dentist")
        both = await notes.add("Dentist appointment moved: the appointment is now on Friday")
        await notes.add("Grocery list: milk, eggs")
        results = await notes.search("dentist appointment")
        assert [n.id for n in results] == [both.id, one_word.id]
        assert len(await notes.search("dentist appointment", limit=1)) == 1


async def test_search_stems_and_folds_diacritics(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        notes = NoteRepository(session, alice)
        note = await notes.add("Meet Zoë at the Café, she's running late")
        for query in ("cafe", "CAFÉ", "zoe", "runs", "café?"):
            assert [n.id for n in await notes.search(query)] == [note.id], query


NASTY_QUERIES = [
    '"foo',
    "AND OR",
    "NOT",
    "OR",
    "*",
    "foo*",
    "content:foo",
    "NEAR(foo bar)",
    "(",
    ")",
    "'",
    '"""',
    "^foo",
    "-foo",
    "foo AND",
    "\\",
    "%",
    "_",
    "",
    "   ",
    "\x00",
    "🙂",
    "x" * 5000,
    " ".join(["w"] * 200),
]


@pytest.mark.parametrize("query", NASTY_QUERIES)
async def test_search_never_raises(db: Database, alice: int, query: str) -> None:
    async with db.transaction() as session:
        notes = NoteRepository(session, alice)
        await notes.add("foo bar and more")
        await notes.add("100% sure_thing")
        results = await notes.search(query)
        assert isinstance(results, list)


async def test_search_treats_operators_as_words(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        notes = NoteRepository(session, alice)
        await notes.add("cats and dogs")
        hit = await notes.add("either this or that")
        assert [n.id for n in await notes.search("OR")] == [hit.id]
        assert await notes.search("NOT") == []


def test_fts_query_quotes_every_term() -> None:
    assert fts_query('say "hi" NEAR(x) AND') == '"say" OR "hi" OR "NEAR" OR "x" OR "AND"'
    assert fts_query("*** ()") is None


@pytest.mark.sqlite_only
async def test_search_falls_back_to_like_without_fts(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        notes = NoteRepository(session, alice)
        await notes.add("Dentist on Tuesday")
        percent = await notes.add("100% done")
    async with db.engine.begin() as conn:
        for name in ("after_insert", "after_update", "after_delete"):
            await conn.exec_driver_sql(f"DROP TRIGGER notes_fts_{name}")
        await conn.exec_driver_sql("DROP TABLE notes_fts")
    async with db.transaction() as session:
        notes = NoteRepository(session, alice)
        assert [n.content for n in await notes.search("dentist")] == ["Dentist on Tuesday"]
        # LIKE wildcards in the query are literals, not "match everything".
        assert [n.id for n in await notes.search("%")] == [percent.id]
        assert await notes.search("_") == []


# --- reminders ---------------------------------------------------------------------------------


async def test_reminder_lifecycle(db: Database, alice: int) -> None:
    now = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    async with db.transaction() as session:
        conv = await ConversationRepository(session, alice).create()
        reminders = ReminderRepository(session, alice)
        later = await reminders.add("water plants", now + timedelta(hours=2), "Europe/Paris")
        soon = await reminders.add("call mom", now + timedelta(minutes=5), "Europe/Paris", conv.id)
        overdue = await reminders.add("take pills", now - timedelta(minutes=1), "Europe/Paris")
        cancelled = await reminders.add("nothing", now - timedelta(hours=1), "Europe/Paris")
        assert soon.status == ReminderStatus.PENDING and soon.conversation_id == conv.id

        assert await reminders.cancel(cancelled.id) is True
        assert await reminders.cancel(cancelled.id) is False
        assert [r.id for r in await reminders.upcoming()] == [overdue.id, soon.id, later.id]
        assert [r.id for r in await reminders.upcoming(limit=1)] == [overdue.id]
        assert [r.id for r in await reminders.due(now)] == [overdue.id]
        assert [r.id for r in await reminders.due(now + timedelta(minutes=5))] == [
            overdue.id,
            soon.id,
        ]

        delivered_at = now + timedelta(seconds=3)
        assert await reminders.mark_delivered(overdue.id, delivered_at) is True
        assert await reminders.mark_delivered(overdue.id, delivered_at) is False
        assert await reminders.mark_delivered(cancelled.id) is False
        assert await reminders.cancel(overdue.id) is False
        assert [r.id for r in await reminders.due(now)] == []

    async with db.transaction() as session:
        reminders = ReminderRepository(session, alice)
        stored = await reminders.get(overdue.id)
        assert stored.status == ReminderStatus.DELIVERED
        assert stored.delivered_at == delivered_at
        assert (await reminders.get(cancelled.id)).status == ReminderStatus.CANCELLED


async def test_reminder_times_are_utc_aware(db: Database, alice: int) -> None:
    paris_summer = timezone(timedelta(hours=2))
    local = datetime(2030, 7, 14, 9, 30, tzinfo=paris_summer)
    async with db.transaction() as session:
        reminder = await ReminderRepository(session, alice).add("parade", local, "Europe/Paris")
    async with db.transaction() as session:
        stored = await ReminderRepository(session, alice).get(reminder.id)
    assert stored.due_at == local
    assert stored.due_at.tzinfo == UTC
    assert stored.due_at.hour == 7
    assert stored.timezone == "Europe/Paris"


async def test_column_type_rejects_naive_datetimes(db: Database, alice: int) -> None:
    # Defence in depth below the repositories: a naive value must never be stored as if UTC.
    async with db.session() as session:
        session.add(Reminder(user_id=alice, text="x", due_at=datetime(2030, 1, 1), timezone="UTC"))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.commit()


async def test_reminder_rejects_bad_input(db: Database, alice: int) -> None:
    due = datetime(2030, 1, 1, tzinfo=UTC)
    async with db.transaction() as session:
        reminders = ReminderRepository(session, alice)
        with pytest.raises(ValueError):
            await reminders.add("naive", datetime(2030, 1, 1), "UTC")
        with pytest.raises(ValueError):
            await reminders.add("bad tz", due, "Nowhere/Special")
        with pytest.raises(ValueError):
            await reminders.add(" ", due, "UTC")
        with pytest.raises(ValueError):
            await reminders.due(datetime(2030, 1, 1))
        with pytest.raises(NotFoundError):
            await reminders.add("where?", due, "UTC", conversation_id="missing")
    assert await _count(db, Reminder) == 0


async def test_concurrent_delivery_claims_once(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        reminder = await ReminderRepository(session, alice).add(
            "once", datetime(2020, 1, 1, tzinfo=UTC), "UTC"
        )

    async def claim() -> bool:
        async with db.transaction() as session:
            return await ReminderRepository(session, alice).mark_delivered(reminder.id)

    assert sorted(await asyncio.gather(*(claim() for _ in range(10)))) == [False] * 9 + [True]


# --- isolation -----------------------------------------------------------------------------------


async def test_users_cannot_reach_each_others_rows(db: Database, alice: int, bob: int) -> None:
    due = datetime(2030, 1, 1, tzinfo=UTC)
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        await convs.append(conv.id, "user", "secret plans")
        note = await NoteRepository(session, alice).add("alice's secret diary")
        reminder = await ReminderRepository(session, alice).add("alice thing", due, "UTC", conv.id)

    async with db.transaction() as session:
        convs = ConversationRepository(session, bob)
        assert await convs.get(conv.id) is None
        assert await convs.list() == []
        assert await convs.messages(conv.id) == []
        assert await convs.last_seq(conv.id) == 0
        assert await convs.rename(conv.id, "pwned") is None
        assert await convs.set_voice(conv.id, emotion="angry") is None
        with pytest.raises(NotFoundError):
            await convs.append(conv.id, "user", "injected")
        with pytest.raises(NotFoundError):
            await convs.append_summary(conv.id, "injected", until_seq=1)
        assert await convs.delete(conv.id) is False
        assert await load_context(session, bob, conv.id, token_budget=10_000) == []

        notes = NoteRepository(session, bob)
        assert await notes.get(note.id) is None
        assert await notes.recent() == []
        assert await notes.search("secret diary") == []
        assert await notes.update(note.id, "pwned") is None
        assert await notes.append(note.id, "pwned") is None
        assert await notes.delete(note.id) is False

        reminders = ReminderRepository(session, bob)
        assert await reminders.get(reminder.id) is None
        assert await reminders.upcoming() == []
        assert await reminders.due(due + timedelta(days=1)) == []
        assert await reminders.cancel(reminder.id) is False
        assert await reminders.mark_delivered(reminder.id) is False
        with pytest.raises(NotFoundError):
            await reminders.add("link to alice", due, "UTC", conversation_id=conv.id)

    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        stored = await convs.get(conv.id)
        assert (stored.title, stored.emotion) == ("secret plans", "neutral")
        assert [m.content for m in await convs.messages(conv.id)] == ["secret plans"]
        assert (await NoteRepository(session, alice).get(note.id)).content == (
            "alice's secret diary"
        )
        stored_reminder = await ReminderRepository(session, alice).get(reminder.id)
        assert stored_reminder.status == ReminderStatus.PENDING
        assert len(await load_context(session, alice, conv.id, token_budget=10_000)) == 1


# --- cascades ---------------------------------------------------------------------------


async def test_deleting_a_conversation_cascades_to_messages_only(db: Database, alice: int) -> None:
    due = datetime(2030, 1, 1, tzinfo=UTC)
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        await convs.append(conv.id, "user", "hi")
        await convs.append_summary(conv.id, "said hi", until_seq=1)
        reminder = await ReminderRepository(session, alice).add("x", due, "UTC", conv.id)
        assert await convs.delete(conv.id) is True
    assert await _count(db, Message) == 0
    async with db.transaction() as session:
        kept = await ReminderRepository(session, alice).get(reminder.id)
        assert kept is not None and kept.conversation_id is None


async def test_deleting_a_user_cascades_everywhere(db: Database, alice: int, bob: int) -> None:
    due = datetime(2030, 1, 1, tzinfo=UTC)
    for user in (alice, bob):
        async with db.transaction() as session:
            convs = ConversationRepository(session, user)
            conv = await convs.create()
            await convs.append(conv.id, "user", "hello")
            await NoteRepository(session, user).add(f"note about zebras by {user}")
            await ReminderRepository(session, user).add("r", due, "UTC", conv.id)

    async with db.transaction() as session:
        assert await UserRepository(session).delete(alice) is True
        assert await UserRepository(session).delete(alice) is False

    for model in (Conversation, Message, Note, Reminder):
        assert await _count(db, model) == 1, model
    await _fts_integrity_check(db)
    async with db.transaction() as session:
        hits = await NoteRepository(session, bob).search("zebras")
        assert [n.content for n in hits] == [f"note about zebras by {bob}"]
        if db.url.get_backend_name() == "sqlite":
            fts_rows = await session.scalar(text("SELECT count(*) FROM notes_fts('zebras')"))
            assert fts_rows == 1
