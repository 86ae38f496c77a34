"""The JSON API: who is talking, per-user isolation, and bad input answered with a 4xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.server.app import create_app
from assistant.store.repository import (
    ConversationRepository,
    NoteRepository,
    UsageRepository,
    UserRepository,
)
from tests.browsers import browsers


@pytest.fixture
async def api(settings, db):
    app = create_app(settings, db=db, tool_factory=lambda context: [])
    async with browsers(app) as client:
        yield client


async def start(client: httpx.AsyncClient, user: str, conversation_id=None) -> dict:
    response = await client.post(
        "/api/session", json={"user": user, "conversation_id": conversation_id, "timezone": "UTC"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_session_cookie_selects_user_and_conversation(api, db):
    alice = api()
    first = await start(alice, "alice")
    assert first["user"] == "alice"
    # The conversation exists and belongs to alice.
    async with db.transaction() as store:
        user = await UserRepository(store).get_by_name("alice")
        conversation = await ConversationRepository(store, user.id).get(first["conversation_id"])
        await ConversationRepository(store, user.id).append(conversation.id, "user", "hello")
    await start(alice, "alice")  # a new conversation nobody spoke in yet is not listed
    listed = (await alice.get("/api/conversations")).json()
    assert [(c["id"], c["message_count"], c["title"]) for c in listed] == [
        (first["conversation_id"], 1, "hello")
    ]
    resumed = await start(alice, "alice", first["conversation_id"])
    assert resumed["conversation_id"] == first["conversation_id"]
    messages = (await alice.get(f"/api/conversations/{first['conversation_id']}/messages")).json()
    assert [(m["role"], m["content"]) for m in messages] == [("user", "hello")]


async def test_cookie_is_http_only(api):
    alice = api()
    response = await alice.post("/api/session", json={"user": "alice", "conversation_id": None})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


async def test_users_cannot_reach_each_other(api, db):
    alice, bob = api(), api()
    alice_session = await start(alice, "alice")
    await start(bob, "bob")
    async with db.transaction() as store:
        alice_id = (await UserRepository(store).get_by_name("alice")).id
        await NoteRepository(store, alice_id).add("alice's secret note")

    conversation = alice_session["conversation_id"]
    assert (await bob.get(f"/api/conversations/{conversation}/messages")).status_code == 404
    selecting = await bob.post(
        "/api/session", json={"user": "bob", "conversation_id": conversation}
    )
    assert selecting.status_code == 404
    assert (await bob.get("/api/notes")).json() == []
    assert [n["content"] for n in (await alice.get("/api/notes")).json()] == ["alice's secret note"]
    assert conversation not in str((await bob.get("/api/conversations")).json())


async def test_requests_without_a_session_are_401(api):
    anonymous = api()
    for path in ("/api/conversations", "/api/notes", "/api/reminders", "/api/usage"):
        assert (await anonymous.get(path)).status_code == 401
    offer = await anonymous.post("/api/offer", json={"sdp": "v=0", "type": "offer"})
    assert offer.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"user": ""}',
        b'{"user": "x", "timezone": "Mars/Olympus"}',
        b'{"user": 5}',
        b'{"user": "x", "unexpected": 1}',
        b"[]",
        # Not JSON, but Python's parser takes them; the 422 that echoes them back must not fail.
        b"Infinity",
        b'{"user": NaN}',
        b'{"user": "x", "timezone": -Infinity}',
    ],
)
async def test_bad_session_bodies_get_4xx(api, body):
    response = await api().post(
        "/api/session", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text


async def test_oversize_body_is_refused(api):
    response = await api().post(
        "/api/session",
        content=b'{"user": "' + b"a" * 400_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_sdp_garbage_is_a_400_and_the_server_keeps_serving(api):
    alice = api()
    await start(alice, "alice")
    for sdp in ("garbage", "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "x" * 1000):
        response = await alice.post("/api/offer", json={"sdp": sdp, "type": "offer"})
        assert 400 <= response.status_code < 500, response.text
    assert (
        await alice.post("/api/offer", json={"sdp": "v=0", "type": "answer"})
    ).status_code == 422
    unknown_pc = await alice.patch("/api/offer", json={"pc_id": "nope", "candidates": []})
    assert unknown_pc.status_code == 404
    assert (await alice.get("/api/conversations")).status_code == 200


async def test_prebuilt_ui_start_id_answers_only_its_own_caller(api):
    alice, bob = api(), api()
    await start(alice, "alice")
    await start(bob, "bob")
    session_id = (await alice.post("/start")).json()["sessionId"]
    candidates = {"pc_id": "nope", "candidates": []}
    own = await alice.patch(f"/sessions/{session_id}/api/offer", json=candidates)
    # through to the peer connections, which know no "nope"
    assert (own.status_code, own.json()["detail"]) == (404, "Peer connection not found")
    for client, started in ((bob, session_id), (alice, "never-started")):
        response = await client.patch(f"/sessions/{started}/api/offer", json=candidates)
        assert (response.status_code, response.json()["detail"]) == (404, "Unknown session id.")


async def test_page_and_prebuilt_ui_are_served(api):
    client = api()
    page = await client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert (await client.get("/client/")).status_code == 200
    assert (await client.get("/docs")).status_code == 200


async def test_tool_labels_name_every_tool_of_the_registry(api):
    from assistant.tools.registry import ALL_TOOLS, TOOLS_BY_TOPIC

    labels = (await api().get("/api/tools")).json()

    assert [label["name"] for label in labels] == [tool.name for tool in ALL_TOOLS]
    for label in labels:
        tool = next(tool for tool in TOOLS_BY_TOPIC[label["topic"]] if tool.name == label["name"])
        assert (label["done"], label["doing"]) == (tool.label.done, tool.label.doing)
    assert labels[0] == {
        "name": "take_note",
        "topic": "notes",
        "done": "took a note",
        "doing": "taking a note",
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "user": JSON | st.text(max_size=80),
        "conversation_id": JSON,
        "timezone": JSON | st.sampled_from(["UTC", "Europe/Paris", "Nowhere/Land", ""]),
        "sdp": JSON | st.text(max_size=200),
        "type": JSON | st.sampled_from(["offer", "answer"]),
        "pc_id": JSON,
        "candidates": JSON,
    },
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(
        [
            ("POST", "/api/session"),
            ("POST", "/api/offer"),
            ("PATCH", "/api/offer"),
            ("POST", "/start"),
            ("POST", "/sessions/nope/api/offer"),
            ("GET", "/api/conversations/nope/messages"),
            ("GET", "/api/conversations/nope/usage"),
            ("GET", "/api/usage?days=0"),
            ("GET", "/api/nothing-here"),
        ]
    ),
    body=FIELDS | JSON,
    raw=st.booleans(),
)
async def test_fuzzed_requests_get_4xx_never_5xx(api_app, route, body, raw):
    method, path = route
    client, alice = api_app
    content = json.dumps(body).encode()[:-1] if raw else json.dumps(body).encode()
    response = await client.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, (path, body, response.text)
    # The server keeps serving a signed-in user.
    assert (await alice.get("/api/conversations")).status_code == 200


@pytest.fixture
async def api_app(settings, db):
    app = create_app(settings, db=db, tool_factory=lambda context: [])
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client,
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as alice,
    ):
        await start(client, "fuzzer")
        await start(alice, "alice")
        yield client, alice


async def test_token_usage_is_summed_and_never_shown_to_another_user(api, db):
    alice, bob = api(), api()
    talk = (await start(alice, "alice"))["conversation_id"]
    async with db.transaction() as store:  # said in: kept when alice starts another
        alice_id = (await UserRepository(store).get_by_name("alice")).id
        await ConversationRepository(store, alice_id).append(talk, "user", "hello")
    other = (await start(alice, "alice"))["conversation_id"]
    bobs = (await start(bob, "bob"))["conversation_id"]
    now = datetime.now(UTC)
    async with db.transaction() as store:
        alice_id = (await UserRepository(store).get_by_name("alice")).id
        bob_id = (await UserRepository(store).get_by_name("bob")).id
        usage = UsageRepository(store, alice_id)
        await usage.add(talk, 2000, 30, at=now)
        await usage.add(talk, 2100, 45, at=now)
        await usage.add(talk, 900, 120, purpose="summary", at=now)
        await usage.add(other, 1000, 10, at=now)
        await usage.add(other, 500, 5, at=now - timedelta(days=1))
        await UsageRepository(store, bob_id).add(bobs, 7777, 77, at=now)

    response = await alice.get(f"/api/conversations/{talk}/usage")
    assert response.status_code == 200
    assert response.json() == {
        "conversation_id": talk,
        "requests": 3,
        "prompt_tokens": 5000,
        "completion_tokens": 195,
        "total_tokens": 5195,
    }
    today, yesterday = now.date(), (now - timedelta(days=1)).date()
    days = (await alice.get("/api/usage?days=2")).json()
    assert [(d["day"], d["requests"], d["total_tokens"]) for d in days] == [
        (yesterday.isoformat(), 1, 505),
        (today.isoformat(), 4, 6205),
    ]
    assert [d["day"] for d in (await alice.get("/api/usage")).json()] == [
        yesterday.isoformat(),
        today.isoformat(),
    ]
    assert [d["day"] for d in (await alice.get("/api/usage?days=1")).json()] == [today.isoformat()]

    # Bob's own numbers only; Alice's conversation is as unknown to him as a made-up one.
    assert (await bob.get(f"/api/conversations/{talk}/usage")).status_code == 404
    assert (await bob.get("/api/conversations/nope/usage")).status_code == 404
    assert [(d["requests"], d["total_tokens"]) for d in (await bob.get("/api/usage")).json()] == [
        (1, 7854)
    ]
    assert (await alice.get(f"/api/conversations/{bobs}/usage")).status_code == 404


async def test_usage_outlives_its_conversation(db):
    """A deleted conversation's tokens still count for the day: the limits counted them."""
    async with db.transaction() as store:
        alice = await UserRepository(store).get_or_create("alice")
        conversation = await ConversationRepository(store, alice.id).create()
        usage = UsageRepository(store, alice.id)
        await usage.add(conversation.id, 1200, 40)
        await ConversationRepository(store, alice.id).delete(conversation.id)
        [day] = await usage.by_day(datetime.now(UTC) - timedelta(days=1))
        assert (day.requests, day.total_tokens) == (1, 1240)
        assert await usage.conversation_total(conversation.id) is None
