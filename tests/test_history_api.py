"""The whole history at hand: paging through conversations and messages, no empty conversation
kept, rename, delete, export, and notes and reminders edited from the page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, insert, select, text

from assistant.server.app import create_app
from assistant.store.memories import MemoryRepository
from assistant.store.models import Conversation, LLMUsage, Message, Note, Reminder
from assistant.store.repository import (
    ConversationRepository,
    NoteRepository,
    ReminderRepository,
    UsageRepository,
    UserRepository,
)
from tests.browsers import browsers

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def app(settings, db):
    return create_app(settings, db=db, tool_factory=lambda context: [])


@pytest.fixture
async def api(app):
    async with browsers(app) as client:
        yield client


async def start(client: httpx.AsyncClient, user: str, conversation_id=None) -> str:
    response = await client.post(
        "/api/session", json={"user": user, "conversation_id": conversation_id, "timezone": "UTC"}
    )
    assert response.status_code == 200, response.text
    return response.json()["conversation_id"]


async def user_id(db, name: str) -> int:
    async with db.transaction() as store:
        return (await UserRepository(store).get_by_name(name)).id


async def say(db, user: int, conversation_id: str, *lines: str) -> None:
    async with db.transaction() as store:
        conversations = ConversationRepository(store, user)
        for index, line in enumerate(lines):
            await conversations.append(
                conversation_id, "user" if index % 2 == 0 else "assistant", line
            )


async def conversation_ids(db, user: int) -> set[str]:
    async with db.session() as store:
        rows = await store.scalars(select(Conversation.id).where(Conversation.user_id == user))
        return set(rows)


def message_row(conversation_id: str, seq: int, **values) -> dict:
    return {
        "conversation_id": conversation_id,
        "seq": seq,
        "kind": "message",
        "role": "user" if seq % 2 else "assistant",
        "content": f"line {seq}",
        "tool_calls": None,
        "tool_call_id": None,
        "interrupted": False,
        "summary_until_seq": None,
        "created_at": T0 + timedelta(seconds=seq),
        **values,
    }


async def page_all(
    client, path: str, cursor_of, limit: int, param: str = "before", cursor=None
) -> list[list]:
    pages = []
    for _ in range(200):  # a cursor that is not followed would page forever
        query = {"limit": limit} | ({param: cursor} if cursor is not None else {})
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page:
            return pages
        pages.append(page)
        cursor = cursor_of(page)
    raise AssertionError(f"still paging after {len(pages)} pages")


# ---- paging


async def test_paging_through_500_conversations(api, db):
    alice = api()
    current = await start(alice, "alice")
    alice_id = await user_id(db, "alice")
    # 500 said-in conversations, five to a timestamp (ties broken by id), and 40 empty ones.
    rows = [
        {
            "id": f"{n:032x}",
            "user_id": alice_id,
            "title": f"talk {n}",
            "created_at": T0,
            "updated_at": T0 + timedelta(minutes=n // 5),
        }
        for n in range(540)
    ]
    said = rows[:500]
    async with db.engine.begin() as conn:
        await conn.execute(insert(Conversation), rows)
        await conn.execute(
            insert(Message), [message_row(r["id"], seq) for r in said for seq in (1, 2)]
        )
    expected = [
        r["id"] for r in sorted(said, key=lambda r: (r["updated_at"], r["id"]), reverse=True)
    ]

    pages = await page_all(alice, "/api/conversations", lambda page: page[-1]["id"], 37)
    listed = [c["id"] for page in pages for c in page]
    assert listed == expected  # most recent first, no duplicates, no gaps, no empty ones
    assert [len(p) for p in pages] == [37] * 13 + [500 - 37 * 13]
    assert all(c["message_count"] == 2 for page in pages for c in page)
    assert current not in listed

    first = (await alice.get("/api/conversations")).json()
    assert [c["id"] for c in first] == expected[:50]  # the default page
    last = (await alice.get("/api/conversations", params={"before": expected[-2]})).json()
    assert [c["id"] for c in last] == expected[-1:]


async def test_paging_through_a_5000_message_conversation(api, db):
    alice = api()
    conversation = await start(alice, "alice")
    # Summaries sit among the messages (with seqs of their own) and are never shown.
    summaries = {1200, 3001, 4999}
    rows = [
        message_row(conversation, seq)
        if seq not in summaries
        else message_row(
            conversation, seq, kind="summary", role="system", summary_until_seq=seq - 1
        )
        for seq in range(1, 5004)
    ]
    async with db.engine.begin() as conn:
        await conn.execute(insert(Message), rows)
    shown = [r["seq"] for r in rows if r["kind"] == "message"]
    assert len(shown) == 5000
    path = f"/api/conversations/{conversation}/messages"

    newest = (await alice.get(path, params={"limit": 128})).json()
    assert [m["seq"] for m in newest] == shown[-128:]  # the end, oldest first within the page
    assert newest[-1]["content"] == "line 5003"

    backwards = await page_all(alice, path, lambda page: page[0]["seq"], 128)
    assert [len(p) for p in backwards] == [128] * 39 + [8]
    assert [m["seq"] for page in reversed(backwards) for m in page] == shown
    assert [m["seq"] for m in backwards[-1]] == shown[:8]  # the last page: the beginning

    forwards = await page_all(alice, path, lambda page: page[-1]["seq"], 500, "after", 0)
    assert [m["seq"] for page in forwards for m in page] == shown
    around = (await alice.get(path, params={"before": 3002, "limit": 3})).json()
    assert [m["seq"] for m in around] == [2998, 2999, 3000]  # seq 3001 is a summary

    assert (await alice.get(path, params={"before": 1})).json() == []


async def test_paging_refuses_bad_input_and_other_users_cursors(api, db):
    alice, bob = api(), api()
    mine = await start(alice, "alice")
    await say(db, await user_id(db, "alice"), mine, "hello")
    await start(bob, "bob")
    messages = f"/api/conversations/{mine}/messages"
    for path, params in [
        ("/api/conversations", {"limit": 0}),
        ("/api/conversations", {"limit": 201}),
        ("/api/conversations", {"before": "x" * 65}),
        (messages, {"limit": 0}),
        (messages, {"limit": 501}),
        (messages, {"before": "abc"}),
        (messages, {"before": 0}),
        (messages, {"before": 5, "after": 1}),
    ]:
        assert (await alice.get(path, params=params)).status_code == 422, (path, params)
    assert (await alice.get("/api/conversations", params={"before": "nope"})).status_code == 404
    assert (await bob.get("/api/conversations", params={"before": mine})).status_code == 404
    assert (await bob.get(messages)).status_code == 404
    assert (await bob.get(messages, params={"after": 0})).status_code == 404


# ---- no empty conversation kept


async def test_a_new_conversation_is_usable_at_once_and_never_listed(api, db):
    alice = api()
    new = await start(alice, "alice")
    path = f"/api/conversations/{new}"
    assert (await alice.get(f"{path}/messages")).json() == []
    assert (await alice.get("/api/conversations")).json() == []
    renamed = await alice.patch(path, json={"title": "Plans"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Plans"
    assert (await alice.get(f"{path}/export", params={"format": "json"})).json()["messages"] == []
    assert (await alice.get("/api/conversations")).json() == []  # still nothing said in it

    await say(db, await user_id(db, "alice"), new, "first words")
    assert [c["id"] for c in (await alice.get("/api/conversations")).json()] == [new]


async def test_empty_conversations_do_not_pile_up(app, api, db):
    alice = api()
    kept = await start(alice, "alice")
    alice_id = await user_id(db, "alice")
    await say(db, alice_id, kept, "something worth keeping")
    for _ in range(30):  # sign-ins and "New conversation" clicks in one browser
        current = await start(alice, "alice")
    assert await conversation_ids(db, alice_id) == {kept, current}

    # Another browser's empty conversation is its own to keep while it is there...
    phone = api()
    on_phone = await start(phone, "alice")
    await start(alice, "alice")
    assert on_phone in await conversation_ids(db, alice_id)
    # ...and one a call is in is kept too, though that browser has moved on.
    app.state.bots.live_conversations = lambda: {on_phone}
    await start(phone, "alice", kept)
    latest = await start(alice, "alice")
    assert await conversation_ids(db, alice_id) == {kept, on_phone, latest}
    app.state.bots.live_conversations = lambda: set()
    await start(alice, "alice", kept)
    assert await conversation_ids(db, alice_id) == {kept}
    # Resuming keeps a conversation; another user's empty ones are not touched.
    bob = api()
    bobs = await start(bob, "bob")
    await start(alice, "alice")
    assert bobs in await conversation_ids(db, await user_id(db, "bob"))


# ---- rename, delete


async def test_rename(api, db):
    alice, bob = api(), api()
    conversation = await start(alice, "alice")
    await say(db, await user_id(db, "alice"), conversation, "what about the trip")
    await start(bob, "bob")
    path = f"/api/conversations/{conversation}"
    response = await alice.patch(path, json={"title": "  Trip to Lisbon "})
    assert response.status_code == 200
    assert response.json()["title"] == "Trip to Lisbon"
    assert response.json()["message_count"] == 1
    assert [c["title"] for c in (await alice.get("/api/conversations")).json()] == [
        "Trip to Lisbon"
    ]
    for body in (
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": 5},
        {},
        {"title": "ok", "other": 1},
    ):
        assert (await alice.patch(path, json=body)).status_code == 422, body
    assert (await bob.patch(path, json={"title": "mine now"})).status_code == 404
    assert (await alice.patch("/api/conversations/nope", json={"title": "x"})).status_code == 404
    assert (await alice.get("/api/conversations")).json()[0]["title"] == "Trip to Lisbon"


async def test_delete_keeps_notes_reminders_and_token_totals(app, api, db):
    alice, bob = api(), api()
    conversation = await start(alice, "alice")
    alice_id = await user_id(db, "alice")
    await say(db, alice_id, conversation, "remind me to call mum", "Done.", "and note milk", "Ok.")
    async with db.transaction() as store:
        await ConversationRepository(store, alice_id).append_summary(conversation, "calls", 2)
        reminder = await ReminderRepository(store, alice_id).add(
            "call mum", T0 + timedelta(days=400), "UTC", conversation_id=conversation
        )
        note = await NoteRepository(store, alice_id).add("milk")
        await UsageRepository(store, alice_id).add(conversation, 1000, 20)
    other = await start(alice, "alice")
    await say(db, alice_id, other, "another talk")
    await start(bob, "bob")
    path = f"/api/conversations/{conversation}"

    assert (await bob.delete(path)).status_code == 404
    app.state.bots.live_conversations = lambda: {conversation}
    assert (await alice.delete(path)).status_code == 409  # a call is in it
    app.state.bots.live_conversations = lambda: set()
    today = (await alice.get("/api/usage", params={"days": 1})).json()

    assert (await alice.delete(path)).status_code == 204
    assert (await alice.get(f"{path}/messages")).status_code == 404
    assert (await alice.get(f"{path}/export")).status_code == 404
    assert (await alice.delete(path)).status_code == 404
    assert [c["id"] for c in (await alice.get("/api/conversations")).json()] == [other]
    async with db.session() as store:
        assert (
            await store.scalar(select(func.count()).where(Message.conversation_id == conversation))
            == 0
        )
        kept = await store.get(Reminder, reminder.id)
        assert (kept.text, kept.conversation_id) == ("call mum", None)
        assert (await store.get(Note, note.id)).content == "milk"
        usage = list(await store.scalars(select(LLMUsage)))
        assert [(u.conversation_id, u.prompt_tokens, u.completion_tokens) for u in usage] == [
            (None, 1000, 20)
        ]
    assert (await alice.get("/api/usage", params={"days": 1})).json() == today
    assert [r["text"] for r in (await alice.get("/api/reminders")).json()] == ["call mum"]
    assert [n["content"] for n in (await alice.get("/api/notes")).json()] == ["milk"]


# ---- export


async def test_export_a_conversation_as_markdown_and_json(api, db):
    alice, bob = api(), api()
    conversation = await start(alice, "alice")
    alice_id = await user_id(db, "alice")
    async with db.transaction() as store:
        conversations = ConversationRepository(store, alice_id)
        await conversations.append(conversation, "user", "Note that the code is 4412")
        await conversations.append(
            conversation,
            "assistant",
            None,
            tool_calls=[
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "take_note", "arguments": '{"content": "4412"}'},
                }
            ],
        )
        await conversations.append(conversation, "tool", '{"ok": true}', tool_call_id="c1")
        await conversations.append(conversation, "assistant", "Noted: 4412.", interrupted=True)
    await start(bob, "bob")
    path = f"/api/conversations/{conversation}/export"

    markdown = await alice.get(path, params={"format": "md"})
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert 'filename="Note-that-the-code-is-4412.md"' in markdown.headers["content-disposition"]
    text = markdown.text
    assert text.startswith("# Note that the code is 4412\n")
    assert "**You**" in text and "Note that the code is 4412" in text
    assert "`take_note`" in text
    assert "**Assistant**" in text and "Noted: 4412. *(interrupted)*" in text
    assert text.index("**You**") < text.index("take_note") < text.index("Noted: 4412")
    assert (await alice.get(path)).text == text  # Markdown unless told

    exported = (await alice.get(path, params={"format": "json"})).json()
    assert exported["id"] == conversation and exported["title"] == "Note that the code is 4412"
    assert [(m["seq"], m["role"]) for m in exported["messages"]] == [
        (1, "user"),
        (2, "assistant"),
        (3, "tool"),
        (4, "assistant"),
    ]
    assert exported["messages"][1]["tool_calls"][0]["function"]["name"] == "take_note"
    assert exported["messages"][3]["interrupted"] is True

    assert (await alice.get(path, params={"format": "pdf"})).status_code == 422
    assert (await bob.get(path)).status_code == 404
    assert (await bob.get(path, params={"format": "json"})).status_code == 404


async def test_export_everything_of_the_user(api, db):
    alice, bob = api(), api()
    long = await start(alice, "alice")
    alice_id = await user_id(db, "alice")
    async with db.engine.begin() as conn:
        await conn.execute(insert(Message), [message_row(long, seq) for seq in range(1, 2501)])
    short = await start(alice, "alice")
    await say(db, alice_id, short, "note my locker code")
    async with db.transaction() as store:
        await NoteRepository(store, alice_id).add("locker 4412")
        await ReminderRepository(store, alice_id).add("dentist", T0 + timedelta(days=400), "UTC")
    bobs = await start(bob, "bob")
    bob_id = await user_id(db, "bob")
    await say(db, bob_id, bobs, "bob's secret")
    async with db.transaction() as store:
        await NoteRepository(store, bob_id).add("bob's note")

    response = await alice.get("/api/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    everything = json.loads(response.text)
    assert everything["user"] == "alice"
    by_id = {c["id"]: c for c in everything["conversations"]}
    assert set(by_id) >= {long, short} and bobs not in by_id
    assert [m["seq"] for m in by_id[long]["messages"]] == list(range(1, 2501))
    assert [m["content"] for m in by_id[short]["messages"]] == ["note my locker code"]
    assert [n["content"] for n in everything["notes"]] == ["locker 4412"]
    assert [r["text"] for r in everything["reminders"]] == ["dentist"]
    assert "bob" not in response.text.replace('"user": "alice"', "")

    assert (await api().get("/api/export")).status_code == 401


# ---- notes and reminders from the page


async def test_notes_edited_and_deleted_from_the_page(api, db):
    alice, bob = api(), api()
    await start(alice, "alice")
    await start(bob, "bob")
    async with db.transaction() as store:
        note = await NoteRepository(store, await user_id(db, "alice")).add("buy oat milk")
    path = f"/api/notes/{note.id}"
    edited = await alice.patch(path, json={"content": " buy soy milk "})
    assert edited.status_code == 200 and edited.json()["content"] == "buy soy milk"
    assert [n["content"] for n in (await alice.get("/api/notes")).json()] == ["buy soy milk"]
    for body in ({"content": ""}, {"content": "  "}, {}, {"content": 3}, {"text": "x"}):
        assert (await alice.patch(path, json=body)).status_code == 422, body
    assert (await alice.patch("/api/notes/abc", json={"content": "x"})).status_code == 422
    assert (await bob.patch(path, json={"content": "mine"})).status_code == 404
    assert (await bob.delete(path)).status_code == 404
    assert (await alice.delete(path)).status_code == 204
    assert (await alice.get("/api/notes")).json() == []
    assert (await alice.delete(path)).status_code == 404


async def test_reminders_edited_and_deleted_from_the_page(api, db):
    alice, bob = api(), api()
    await start(alice, "alice")
    await start(bob, "bob")
    alice_id = await user_id(db, "alice")
    later = datetime.now(UTC) + timedelta(days=2)
    async with db.transaction() as store:
        reminders = ReminderRepository(store, alice_id)
        pending = await reminders.add("call mum", later, "UTC")
        done = await reminders.add("water plants", later, "UTC")
        await reminders.mark_delivered(done.id)
    path = f"/api/reminders/{pending.id}"

    moved = later + timedelta(hours=3)
    response = await alice.patch(path, json={"text": "call Mum", "due_at": moved.isoformat()})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "call Mum"
    listed = (await alice.get("/api/reminders")).json()
    assert [(r["text"], datetime.fromisoformat(r["due_at"])) for r in listed] == [
        ("call Mum", moved)
    ]
    assert (await alice.patch(path, json={"text": "only the words"})).json()["due_at"] == listed[0][
        "due_at"
    ]
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body in (
        {},
        {"text": ""},
        {"due_at": past},
        {"due_at": "2030-01-01T09:00:00"},
        {"due_at": "tomorrow"},
        {"text": "x", "status": "done"},
    ):
        assert (await alice.patch(path, json=body)).status_code == 422, body
    assert (await alice.patch(f"/api/reminders/{done.id}", json={"text": "x"})).status_code == 409
    assert (await bob.patch(path, json={"text": "mine"})).status_code == 404
    assert (await bob.delete(path)).status_code == 404
    assert (await alice.delete(path)).status_code == 204
    assert (await alice.get("/api/reminders")).json() == []
    assert (await alice.delete(path)).status_code == 404


async def test_note_and_reminder_ids_out_of_range_are_4xx(api):
    # PostgreSQL's integer ids are 32-bit: a bigger one must not reach the database.
    alice = api()
    await start(alice, "alice")
    for item_id in ("0", "2147483648", "9223372036854775807", "99999999999999999999"):
        for method, path, body in [
            ("PATCH", f"/api/notes/{item_id}", {"content": "x"}),
            ("DELETE", f"/api/notes/{item_id}", None),
            ("PATCH", f"/api/reminders/{item_id}", {"text": "x"}),
            ("DELETE", f"/api/reminders/{item_id}", None),
        ]:
            response = await alice.request(method, path, json=body)
            assert response.status_code in (404, 422), (method, path, response.text)


async def test_new_routes_need_a_session(api):
    anonymous = api()
    for method, path, body in [
        ("GET", "/api/conversations?limit=5", None),
        ("GET", "/api/export", None),
        ("GET", "/api/conversations/x/export", None),
        ("PATCH", "/api/conversations/x", {"title": "x"}),
        ("DELETE", "/api/conversations/x", None),
        ("PATCH", "/api/notes/1", {"content": "x"}),
        ("DELETE", "/api/notes/1", None),
        ("PATCH", "/api/reminders/1", {"text": "x"}),
        ("DELETE", "/api/reminders/1", None),
    ]:
        response = await anonymous.request(method, path, json=body)
        assert response.status_code == 401, (method, path, response.status_code)


# ---- search


async def test_search_finds_what_was_said_and_forgets_a_deleted_conversation(api, db):
    alice, bob = api(), api()
    trip = await start(alice, "alice")
    alice_id = await user_id(db, "alice")
    await say(db, alice_id, trip, "let's plan the Porto trip", "We could take the train.")
    other = await start(alice, "alice")
    await say(db, alice_id, other, "what's for dinner", "Pasta with porcini.")
    bobs = await start(bob, "bob")
    await say(db, await user_id(db, "bob"), bobs, "my Porto trip is secret")

    response = await alice.get("/api/search", params={"q": "porto trip"})
    assert response.status_code == 200
    hits = response.json()
    assert [(h["conversation_id"], h["seq"], h["role"]) for h in hits] == [(trip, 1, "user")]
    assert "Porto trip" in hits[0]["snippet"] and "train" in hits[0]["snippet"]
    assert hits[0]["conversation_title"] == "let's plan the Porto trip"
    # The hit opens its conversation at that message.
    at = (await alice.get(f"/api/conversations/{trip}/messages", params={"before": 2})).json()
    assert [m["content"] for m in at] == ["let's plan the Porto trip"]
    assert (await alice.get("/api/search", params={"q": "nothing like it"})).json() == []
    for params in ({}, {"q": ""}, {"q": "   "}, {"q": "x" * 501}, {"q": "porto", "limit": 0}):
        assert (await alice.get("/api/search", params=params)).status_code == 422, params
    assert (await api().get("/api/search", params={"q": "porto"})).status_code == 401

    assert (await alice.delete(f"/api/conversations/{trip}")).status_code == 204
    assert (await alice.get("/api/search", params={"q": "porto trip"})).json() == []
    if db.url.get_backend_name() == "sqlite":  # gone from the index, not only from the answers
        async with db.session() as store:
            indexed = await store.scalar(
                text("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'porto'")
            )
        assert indexed == 1  # bob's
    assert [
        h["conversation_id"]
        for h in (await bob.get("/api/search", params={"q": "porto trip"})).json()
    ] == [bobs]


async def test_export_everything_includes_memories(api, db):
    alice, bob = api(), api()
    conversation = await start(alice, "alice")
    await start(bob, "bob")
    alice_id = await user_id(db, "alice")
    await say(db, alice_id, conversation, "I live in Lisbon")
    async with db.transaction() as store:
        await MemoryRepository(store).remember(
            alice_id, "I live in Lisbon", conversation_id=conversation
        )
        await MemoryRepository(store).remember(alice_id, "I live in Porto")
        await MemoryRepository(store).remember(await user_id(db, "bob"), "I live in Oslo")
    assert (await alice.delete(f"/api/conversations/{conversation}")).status_code == 204

    memories = json.loads((await alice.get("/api/export")).text)["memories"]
    assert [(m["text"], m["superseded_at"] is None) for m in memories] == [
        ("I live in Lisbon", False),
        ("I live in Porto", True),
    ]
    assert memories[0]["source_conversation_id"] is None  # the fact outlived its conversation
