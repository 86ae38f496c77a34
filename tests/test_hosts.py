"""Only its own pages: other Host names get 400 (DNS rebinding), other sites' writes get 403."""

from __future__ import annotations

import httpx
import pytest

from assistant.server import hosts
from assistant.server.app import create_app
from assistant.store.repository import UserRepository


@pytest.fixture
async def client_for(db):
    clients = []

    def make(settings) -> httpx.AsyncClient:
        app = create_app(settings, db=db, tool_factory=lambda context: [])
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:7860"
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def user_named(db, name: str):
    async with db.transaction() as store:
        return await UserRepository(store).get_by_name(name)


async def test_dns_rebinding_request_is_refused(client_for, settings, db):
    # What a page on evil.example can send once its name resolves to 127.0.0.1.
    response = await client_for(settings).post(
        "/api/session",
        json={"user": "alice", "conversation_id": None},
        headers={"host": "evil.example", "origin": "http://evil.example"},
    )
    assert response.status_code == 400
    assert "set-cookie" not in response.headers
    assert await user_named(db, "alice") is None
    # Reads too: the page could read them under its own origin.
    refused = await client_for(settings).get("/api/notes", headers={"host": "evil.example:7860"})
    assert refused.status_code == 400


async def test_foreign_origin_write_gets_403_and_same_origin_works(client_for, settings, db):
    client = client_for(settings)
    body = {"user": "alice", "conversation_id": None}
    for origin in (
        "http://evil.example",
        "http://127.0.0.1:9999",
        "https://127.0.0.1:7860",
        "null",
    ):
        response = await client.post("/api/session", json=body, headers={"origin": origin})
        assert response.status_code == 403, origin
        assert "set-cookie" not in response.headers
    cross_site = await client.post(
        "/api/session", json=body, headers={"sec-fetch-site": "cross-site"}
    )
    assert cross_site.status_code == 403
    assert await user_named(db, "alice") is None

    same = await client.post("/api/session", json=body, headers={"origin": "http://127.0.0.1:7860"})
    assert same.status_code == 200, same.text
    assert (await user_named(db, "alice")) is not None
    patch = await client.patch(
        "/api/offer",
        json={"pc_id": "x", "candidates": []},
        headers={"origin": "http://evil.example"},
    )
    assert patch.status_code == 403
    # A read from another page is not refused here: the browser keeps its answer from that page.
    assert (
        await client.get("/api/notes", headers={"origin": "http://evil.example"})
    ).status_code == 200


async def test_loopback_names_with_the_port_are_served(client_for, settings):
    client = client_for(settings)
    for host in ("localhost:7860", "127.0.0.1:7860", "[::1]:7860", "LOCALHOST"):
        assert (await client.get("/healthz", headers={"host": host})).status_code == 200, host
    for host in ("192.168.1.20:7860", "127.0.0.1.evil.example", "[::2]"):
        assert (await client.get("/healthz", headers={"host": host})).status_code == 400, host


async def test_same_origin_compares_scheme_host_and_port():
    assert hosts.same_origin("http://127.0.0.1:7860", "http", "127.0.0.1:7860")
    assert hosts.same_origin("https://phone.lan", "https", "phone.lan:443")
    assert hosts.same_origin("http://[::1]:7860", "http", "[::1]:7860")
    assert not hosts.same_origin("http://phone.lan", "https", "phone.lan")
    assert not hosts.same_origin("http://127.0.0.1:abc", "http", "127.0.0.1:abc")
    assert not hosts.same_origin("null", "http", "null")


def test_beyond_loopback_the_machine_names_and_bound_address_are_allowed(settings, monkeypatch):
    monkeypatch.setattr(hosts.socket, "gethostname", lambda: "kitchen")
    monkeypatch.setattr(hosts.socket, "getfqdn", lambda: "kitchen.home.arpa")
    monkeypatch.setattr(
        hosts, "interface_addresses", lambda ipv6: ["192.168.1.20", *(["fd00::2"] if ipv6 else [])]
    )

    def allowed(**values) -> list[str]:
        return hosts.allowed_hosts(settings.model_copy(update=values))

    loopback = ["localhost", "127.0.0.1", "[::1]"]
    assert allowed() == loopback
    names = ["kitchen", "kitchen.home.arpa", "kitchen.local"]
    assert allowed(host="192.168.1.20") == [*loopback, *names, "192.168.1.20"]
    assert allowed(host="0.0.0.0") == [*loopback, *names, "192.168.1.20"]
    assert allowed(host="::") == [*loopback, *names, "192.168.1.20", "[fd00::2]"]
    given = settings.model_copy(
        update={"host": "0.0.0.0", "allowed_hosts": "Phone.Example, fd00::9"}
    )
    assert hosts.allowed_hosts(given) == [*loopback, "phone.example", "[fd00::9]"]
    assert hosts.server_names(given) == ["phone.example", "fd00::9"]


async def test_allowed_hosts_setting_is_served_and_others_refused(client_for, settings):
    client = client_for(
        settings.model_copy(update={"host": "0.0.0.0", "allowed_hosts": "kitchen.lan"})
    )
    assert (await client.get("/healthz", headers={"host": "kitchen.lan:7860"})).status_code == 200
    assert (await client.get("/healthz", headers={"host": "evil.example"})).status_code == 400


async def test_a_streamed_body_over_the_cap_is_refused(client_for, settings):
    async def chunks():
        yield b'{"user": "'
        for _ in range(40):
            yield b"a" * 10_000
        yield b'"}'

    response = await client_for(settings).post(
        "/api/session", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
