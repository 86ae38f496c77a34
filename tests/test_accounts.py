"""Accounts (AUTH=password): sign-in, the same 401 for a wrong password and an unknown name,
throttled failures, sessions that end (logout, SESSION_DAYS unused) and outlive a restart."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from argon2 import PasswordHasher, profiles
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from assistant.server.app import create_app
from assistant.server.web_sessions import COOKIE_NAME
from assistant.store.accounts import AccountRepository, Passwords
from assistant.store.models import WebSessionRow
from assistant.store.repository import ConversationRepository, UserRepository

# Real argon2id, with its cheapest parameters: the tests check behaviour, not the hash's cost.
CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
PASSWORD = "correct horse battery staple"
AUDIO_OFFER = {
    "type": "offer",
    "sdp": "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n",
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def password_settings(settings):
    return settings.model_copy(update={"auth": "password"})


async def add_user(db, name: str, password: str = PASSWORD) -> int:
    async with db.transaction() as store:
        return (await AccountRepository(store).add(name, Passwords(CHEAP).hash(password))).id


@pytest.fixture
def make_app(password_settings, db, clock):
    def make(settings=password_settings, passwords=None):
        return create_app(
            settings,
            db=db,
            tool_factory=lambda context: [],
            clock=clock,
            passwords=passwords or Passwords(CHEAP),
        )

    return make


@pytest.fixture
async def client(make_app):
    """Clients of one app (a fresh one each call), each its own browser with its cookie jar."""
    app = make_app()
    made = []

    def new(address: str = "127.0.0.1", scheme: str = "http") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        made.append(httpx.AsyncClient(transport=transport, base_url=f"{scheme}://127.0.0.1"))
        return made[-1]

    yield new
    for c in made:
        await c.aclose()


async def login(client: httpx.AsyncClient, user: str, password: str = PASSWORD):
    return await client.post("/api/login", json={"user": user, "password": password})


async def test_sign_in_sets_a_strict_http_only_cookie_and_picks_conversations(client, db):
    await add_user(db, "alice")
    browser = client()
    assert (await browser.get("/api/auth")).json() == {"auth": "password", "user": None}

    response = await login(browser, " alice ")
    assert (response.status_code, response.json()) == (200, {"user": "alice"})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    assert f"max-age={30 * 86400}" in cookie
    assert (await browser.get("/api/auth")).json() == {"auth": "password", "user": "alice"}

    # No conversation yet: a voice session can't start until the page picks one.
    offer = await browser.post("/api/offer", json=AUDIO_OFFER)
    assert offer.status_code == 409
    chosen = await browser.post("/api/session", json={"conversation_id": None, "timezone": "UTC"})
    assert chosen.status_code == 200, chosen.text
    conversation_id = chosen.json()["conversation_id"]
    assert chosen.json()["user"] == "alice"
    async with db.transaction() as store:
        alice = await UserRepository(store).get_by_name("alice")
        assert await ConversationRepository(store, alice.id).get(conversation_id) is not None
    again = await browser.post("/api/session", json={"conversation_id": conversation_id})
    assert again.json() == {"user": "alice", "conversation_id": conversation_id}
    # The signed-in user is the only one: naming one is refused, not obeyed.
    as_bob = await browser.post("/api/session", json={"user": "bob", "conversation_id": None})
    assert as_bob.status_code == 422
    assert (await browser.get("/api/conversations")).status_code == 200


async def test_the_cookie_is_secure_under_https(client, db):
    await add_user(db, "alice")
    response = await login(client(scheme="https"), "alice")
    assert response.status_code == 200
    assert "secure" in response.headers["set-cookie"].lower()


async def test_wrong_password_and_unknown_user_get_the_same_401(client, db):
    await add_user(db, "alice")
    wrong = await login(client(), "alice", "not it")
    unknown = await login(client(), "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Wrong name or password."}
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers
    # A user from AUTH=none days, with no password, can't sign in either.
    async with db.transaction() as store:
        await UserRepository(store).get_or_create("carol")
    assert (await login(client(), "carol", "")).status_code == 422
    assert (await login(client(), "carol", "anything")).json() == wrong.json()


async def test_an_unknown_user_costs_a_full_argon2_check(make_app, db):
    """Checked against a dummy hash of the same parameters, so timing tells no names."""
    checked: list[str] = []

    class Recording(PasswordHasher):
        def verify(self, hash, password):
            checked.append(hash)
            return super().verify(hash, password)

    hasher = Recording.from_parameters(profiles.CHEAPEST)
    await add_user(db, "alice")
    app = make_app(passwords=Passwords(hasher))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as browser:
        assert (await login(browser, "nobody")).status_code == 401
        assert (await login(browser, "alice", "wrong")).status_code == 401
    dummy, real = checked
    parameters = lambda h: h.split("$")[1:3]  # noqa: E731 - type, version and m,t,p
    assert dummy != real and parameters(dummy) == parameters(real)


async def test_without_a_session_every_api_and_webrtc_route_is_401(client, make_app):
    """Walks the app's API schema, so a route added later is covered too."""
    public = {"/api/login", "/api/auth"}
    browser = client()
    checked = []
    for path, methods in make_app().openapi()["paths"].items():
        if not (path.startswith(("/api/", "/sessions/")) or path == "/start") or path in public:
            continue
        for method in methods:
            url = path.replace("{", "").replace("}", "")  # any value for path parameters
            response = await browser.request(method, url, content=b"{not json")
            assert response.status_code == 401, (method, path, response.text)
            checked.append((method.upper(), path))
    assert {("POST", "/api/offer"), ("PATCH", "/api/offer"), ("POST", "/start")} <= set(checked)
    assert {("POST", "/api/session"), ("POST", "/api/logout"), ("GET", "/api/tools")} <= set(
        checked
    )
    # With a cookie nobody issued, the same.
    browser.cookies.set(COOKIE_NAME, "made-up")
    assert (await browser.get("/api/notes")).status_code == 401


async def test_failures_are_throttled_per_name_with_retry_after(client, db, clock):
    await add_user(db, "alice")
    attacker = client("10.0.0.7")
    for _ in range(5):
        assert (await login(attacker, "alice", "guess")).status_code == 401
        clock.advance(seconds=60)
    # Locked for that name, whoever asks and even with the right password, until the first
    # failure is 15 minutes old.
    locked = await login(client("10.0.0.8"), "alice")
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == str(15 * 60 - 5 * 60)
    assert (await login(attacker, "ALICE", "guess")).status_code == 429  # same name, any case
    clock.advance(seconds=15 * 60 - 5 * 60 - 1)
    assert (await login(client(), "alice")).headers["retry-after"] == "1"
    clock.advance(seconds=1)  # the first failure ages out: one more try
    assert (await login(client(), "alice")).status_code == 200
    # A success forgets the name's failures.
    for _ in range(4):
        assert (await login(attacker, "alice", "guess")).status_code == 401
    assert (await login(client(), "alice")).status_code == 200
    assert (await login(attacker, "alice", "guess")).status_code == 401


async def test_failures_are_throttled_per_address(client, db, clock):
    await add_user(db, "alice")
    attacker = client("10.0.0.9")
    for n in range(20):
        assert (await login(attacker, f"user{n}", "guess")).status_code == 401
        clock.advance(seconds=10)
    refused = await login(attacker, "alice")
    assert (refused.status_code, refused.headers["retry-after"]) == (429, str(900 - 200))
    assert (await login(client("10.0.0.10"), "alice")).status_code == 200  # another address
    clock.advance(seconds=700)
    assert (await login(attacker, "alice")).status_code == 200


async def test_logout_ends_the_session_on_the_server(client, db):
    await add_user(db, "alice")
    browser = client()
    await login(browser, "alice")
    token = browser.cookies[COOKIE_NAME]
    logged_out = await browser.post("/api/logout")
    assert logged_out.status_code == 204
    assert f'{COOKIE_NAME}=""' in logged_out.headers["set-cookie"]
    replay = client()  # a copy of the cookie, kept from before, no longer works
    replay.cookies.set(COOKIE_NAME, token)
    assert (await replay.get("/api/conversations")).status_code == 401
    async with db.transaction() as store:
        assert (await store.scalars(select(WebSessionRow))).all() == []


async def test_sessions_end_after_session_days_without_use(client, db, clock):
    await add_user(db, "alice")
    browser = client()
    await login(browser, "alice")
    # Used now and then, it lasts.
    for _ in range(3):
        clock.advance(days=29)
        response = await browser.get("/api/notes")
        assert response.status_code == 200
        assert f"max-age={30 * 86400}" in response.headers["set-cookie"].lower()  # renewed
    clock.advance(days=30)  # unused for SESSION_DAYS: it has ended
    assert (await browser.get("/api/notes")).status_code == 401
    async with db.transaction() as store:
        assert (await store.scalars(select(WebSessionRow))).all() == []


async def test_session_days_is_a_setting(make_app, password_settings, db, clock):
    await add_user(db, "alice")
    app = make_app(password_settings.model_copy(update={"session_days": 2}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as browser:
        assert (await login(browser, "alice")).status_code == 200
        clock.advance(days=2)
        assert (await browser.get("/api/notes")).status_code == 401


async def test_a_session_outlives_a_restart_and_only_its_hash_is_stored(make_app, db):
    await add_user(db, "alice")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app()), base_url="http://127.0.0.1"
    ) as browser:
        await login(browser, "alice")
        token = browser.cookies[COOKIE_NAME]
    async with db.transaction() as store:
        [row] = (await store.scalars(select(WebSessionRow))).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token

    restarted = make_app()  # a new app (and process state) on the same database
    async with (
        restarted.router.lifespan_context(restarted),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=restarted), base_url="http://127.0.0.1"
        ) as browser,
    ):
        browser.cookies.set(COOKIE_NAME, token)
        assert (await browser.get("/api/auth")).json()["user"] == "alice"
        assert (await browser.get("/api/conversations")).status_code == 200


async def test_auth_none_keeps_profiles_by_name_and_has_no_sign_in(make_app, settings):
    assert settings.auth == "none"  # the loopback default
    app = make_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as browser:
        assert (await browser.get("/api/auth")).json() == {"auth": "none", "user": None}
        assert (await login(browser, "alice")).status_code == 404
        chosen = await browser.post("/api/session", json={"user": "alice"})
        assert chosen.status_code == 200
        first_token = browser.cookies[COOKIE_NAME]
        assert (await browser.get("/api/auth")).json() == {"auth": "none", "user": "alice"}
        # Choosing again keeps the browser's session; another name gets a new one.
        await browser.post("/api/session", json={"user": "alice"})
        assert browser.cookies[COOKIE_NAME] == first_token
        await browser.post("/api/session", json={"user": "bob"})
        assert browser.cookies[COOKIE_NAME] != first_token
        assert (await browser.get("/api/auth")).json()["user"] == "bob"
        assert (await browser.post("/api/session", json={})).status_code == 422


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
TEXT = st.text(max_size=80) | st.sampled_from(["alice", " alice", PASSWORD, "\ud800", "a\x00b"])
BODIES = st.fixed_dictionaries(
    {},
    optional={
        "user": JSON | TEXT,
        "password": JSON | TEXT | st.text(min_size=1000, max_size=1100),
        "conversation_id": JSON | TEXT,
        "timezone": JSON | st.sampled_from(["UTC", "Europe/Paris", "Nowhere/Land", ""]),
    },
)


@pytest.fixture
async def fuzz_clients(client, db):
    await add_user(db, "alice")
    signed_in, anonymous = client(), client()
    assert (await login(signed_in, "alice")).status_code == 200
    return signed_in, anonymous


@hypothesis_settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(["/api/login", "/api/session", "/api/logout"]),
    body=BODIES | JSON,
    raw=st.booleans(),
    signed_in=st.booleans(),
    escaped=st.booleans(),
)
async def test_fuzzed_login_and_session_bodies_never_give_a_5xx(
    fuzz_clients, path, body, raw, signed_in, escaped
):
    browser, anonymous = fuzz_clients
    content = json.dumps(body, ensure_ascii=escaped).encode("utf-8", "surrogatepass")
    if raw:
        content = content[:-1]
    if path == "/api/logout" and signed_in:
        path = "/api/auth"  # keep the signed-in browser signed in
    response = await (browser if signed_in else anonymous).post(
        path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, (path, body, response.text)
    assert (await browser.get("/api/conversations")).status_code == 200
