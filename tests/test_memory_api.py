"""The Memory API: the user's current facts; edit, pin, delete one, forget everything; another
user's ids answer 404 and bad bodies 422, never a 5xx."""

from __future__ import annotations

import httpx
import pytest

from assistant.server.app import create_app
from assistant.store.memories import MemoryRepository
from assistant.store.repository import ConversationRepository, UserRepository
from tests.browsers import browsers


class LiveSessionsSeen:
    """Stands in for the app's live sessions: what each `memory_changed` found stored."""

    def __init__(self, db):
        self.db = db
        self.seen: list[tuple[int, list[str]]] = []

    async def memory_changed(self, user_id: int) -> None:
        async with self.db.session() as store:
            facts = await MemoryRepository(store).current(user_id)
        self.seen.append((user_id, sorted(m.text for m in facts)))

    def live_conversations(self) -> set[str]:
        return set()  # no calls in these tests


@pytest.fixture
def live_sessions(db) -> LiveSessionsSeen:
    return LiveSessionsSeen(db)


@pytest.fixture
async def api(settings, db, live_sessions):
    app = create_app(settings, db=db, tool_factory=lambda context: [])
    app.state.bots = live_sessions
    async with browsers(app) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, user: str) -> dict:
    response = await client.post("/api/session", json={"user": user, "conversation_id": None})
    assert response.status_code == 200, response.text
    return response.json()


async def remember(db, user: str, *texts: str, conversation_id: str | None = None) -> list[int]:
    async with db.transaction() as store:
        account = await UserRepository(store).get_by_name(user)
        memories = MemoryRepository(store)
        return [
            (await memories.remember(account.id, t, conversation_id=conversation_id)).memory.id
            for t in texts
        ]


async def test_current_facts_with_where_they_came_from(api, db):
    alice = api()
    session = await sign_in(alice, "alice")
    await remember(db, "alice", "I live in Lyon", conversation_id=session["conversation_id"])
    [marseille] = await remember(db, "alice", "I live in Marseille")

    listed = (await alice.get("/api/memories")).json()
    assert [(m["id"], m["text"]) for m in listed] == [(marseille, "I live in Marseille")]
    [fact] = listed
    assert set(fact) == {
        "id",
        "text",
        "created_at",
        "updated_at",
        "source_conversation_id",
        "pinned",
        "inferred",
    }
    assert (fact["pinned"], fact["inferred"], fact["source_conversation_id"]) == (
        False,
        False,
        None,
    )
    [ana] = await remember(
        db, "alice", "my sister is called Ana", conversation_id=session["conversation_id"]
    )
    by_id = {m["id"]: m for m in (await alice.get("/api/memories")).json()}
    assert by_id[ana]["source_conversation_id"] == session["conversation_id"]


async def test_edit_pin_delete_and_forget_everything(api, db):
    alice = api()
    await sign_in(alice, "alice")
    ana, lyon = await remember(db, "alice", "my sister is called Ana", "I live in Lyon")

    pinned = await alice.patch(f"/api/memories/{ana}", json={"pinned": True})
    assert pinned.status_code == 200 and pinned.json()["pinned"] is True
    edited = await alice.patch(f"/api/memories/{ana}", json={"text": "  my sister is called Anna "})
    assert edited.status_code == 200 and edited.json()["text"] == "my sister is called Anna"
    texts = {m["text"]: m["pinned"] for m in (await alice.get("/api/memories")).json()}
    assert texts == {"my sister is called Anna": True, "I live in Lyon": False}

    assert (await alice.delete(f"/api/memories/{lyon}")).status_code == 204
    assert (await alice.delete(f"/api/memories/{lyon}")).status_code == 404
    assert [m["text"] for m in (await alice.get("/api/memories")).json()] == [
        "my sister is called Anna"
    ]

    await remember(db, "alice", "I take my coffee black")
    forgot = await alice.delete("/api/memories")
    assert forgot.status_code == 200 and forgot.json()["deleted"] >= 2
    assert (await alice.get("/api/memories")).json() == []


async def test_each_change_reaches_the_users_live_sessions_once_stored(api, db, live_sessions):
    alice = api()
    await sign_in(alice, "alice")
    ana, lyon = await remember(db, "alice", "my sister is called Ana", "I live in Lyon")
    async with db.session() as store:
        alice_id = (await UserRepository(store).get_by_name("alice")).id

    await alice.get("/api/memories")
    await alice.patch("/api/memories/999999", json={"pinned": True})  # 404: nothing changed
    assert live_sessions.seen == []
    await alice.patch(f"/api/memories/{ana}", json={"text": "my sister is called Anna"})
    await alice.delete(f"/api/memories/{lyon}")
    await alice.delete("/api/memories")
    assert live_sessions.seen == [
        (alice_id, ["I live in Lyon", "my sister is called Anna"]),
        (alice_id, ["my sister is called Anna"]),
        (alice_id, []),
    ]


async def test_another_users_facts_are_404_and_untouched(api, db):
    alice, bob = api(), api()
    await sign_in(alice, "alice")
    await sign_in(bob, "bob")
    [ana] = await remember(db, "alice", "my sister is called Ana")

    assert (await bob.get("/api/memories")).json() == []
    assert (await bob.patch(f"/api/memories/{ana}", json={"pinned": True})).status_code == 404
    assert (await bob.delete(f"/api/memories/{ana}")).status_code == 404
    assert (await bob.delete("/api/memories")).json() == {"deleted": 0}
    [fact] = (await alice.get("/api/memories")).json()
    assert (fact["id"], fact["text"], fact["pinned"]) == (ana, "my sister is called Ana", False)


async def test_without_a_session_401(api):
    anonymous = api()
    assert (await anonymous.get("/api/memories")).status_code == 401
    assert (await anonymous.delete("/api/memories")).status_code == 401
    assert (await anonymous.patch("/api/memories/1", json={"pinned": True})).status_code == 401


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/memories/{id}", b"{}"),  # nothing to change
        ("/api/memories/{id}", b'{"text": ""}'),
        ("/api/memories/{id}", b'{"text": "   "}'),
        # Blank to Python (the store) though not to pydantic's strip: U+001C is a separator.
        ("/api/memories/{id}", b'{"text": "\\u001c"}'),
        ("/api/memories/{id}", b'{"text": 5}'),
        ("/api/memories/{id}", b'{"pinned": "yes"}'),
        ("/api/memories/{id}", b'{"pinned": 1}'),
        ("/api/memories/{id}", b'{"text": "x", "user_id": 2}'),
        ("/api/memories/{id}", b"[]"),
        ("/api/memories/{id}", b"{not json"),
        ("/api/memories/{id}", b'{"text": NaN}'),
        ("/api/memories/{id}", b'{"text": "' + b"a" * 501 + b'"}'),  # the store's longest: 500
        ("/api/memories/0", b'{"pinned": true}'),
        ("/api/memories/-3", b'{"pinned": true}'),
        ("/api/memories/99999999999999999999", b'{"pinned": true}'),
        ("/api/memories/abc", b'{"pinned": true}'),
    ],
)
async def test_bad_edits_are_422_and_change_nothing(api, db, path, body):
    alice = api()
    await sign_in(alice, "alice")
    [ana] = await remember(db, "alice", "my sister is called Ana")
    response = await alice.patch(
        path.format(id=ana), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    [fact] = (await alice.get("/api/memories")).json()
    assert (fact["text"], fact["pinned"]) == ("my sister is called Ana", False)


async def test_ids_out_of_range_are_4xx_on_delete_too(api):
    alice = api()
    await sign_in(alice, "alice")
    for memory_id in ("0", "99999999999999999999", "9223372036854775807", "abc"):
        response = await alice.delete(f"/api/memories/{memory_id}")
        assert response.status_code in (404, 422), (memory_id, response.text)


async def test_deleting_a_conversation_keeps_its_facts(api, db):
    alice = api()
    session = await sign_in(alice, "alice")
    await remember(
        db, "alice", "my sister is called Ana", conversation_id=session["conversation_id"]
    )
    async with db.transaction() as store:
        account = await UserRepository(store).get_by_name("alice")
        assert await ConversationRepository(store, account.id).delete(session["conversation_id"])
    [fact] = (await alice.get("/api/memories")).json()
    assert (fact["text"], fact["source_conversation_id"]) == ("my sister is called Ana", None)
