"""Two servers on one PostgreSQL (two apps, each with its own engine and connections, as two
processes have): a conversation live on A that is opened on B moves to B with all it said; a
reminder due while the user is live on both is said once; fifty writers across both lose nothing;
a sticky proxy keeps each browser on its server."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from assistant.store.database import Database
from assistant.store.models import ReminderStatus
from assistant.store.repository import (
    ConversationRepository,
    NoteRepository,
    ReminderRepository,
    UserRepository,
)
from fakes.rtc_client import RTCClient
from fakes.speech import require_speech_tools, speech_wav
from tests.live_server import pin_ice_to_loopback, running_server
from tests.sticky_proxy import StickyProxy
from tests.test_server_rtc import select, wait_for_message

pytestmark = pytest.mark.postgresql_only


async def test_a_conversation_live_on_one_server_moves_to_another(
    settings, db, monkeypatch, fake_groq, fake_cartesia
):
    require_speech_tools()
    pin_ice_to_loopback(monkeypatch)
    fake_groq.transcribe("my favourite colour is green")
    fake_groq.reply_text("Green it is.")
    other = Database(db.url)
    try:
        async with contextlib.AsyncExitStack() as stack:
            a_url = await stack.enter_async_context(running_server(settings, db, lambda c: []))
            b_url = await stack.enter_async_context(running_server(settings, other, lambda c: []))
            on_a = await stack.enter_async_context(httpx.AsyncClient(base_url=a_url))
            on_b = await stack.enter_async_context(httpx.AsyncClient(base_url=b_url))
            conversation_id = await select(on_a, "alice")
            first, second = RTCClient(on_a), RTCClient(on_b)
            try:
                await first.connect(speech_wav("my favourite colour is green", lead_silence=2.5))
                await wait_for_message(on_a, conversation_id, "Green it is.")

                await select(on_b, "alice", conversation_id)
                fake_groq.transcribe("what colour do I like")
                fake_groq.reply_text("You like green.")
                await second.connect(speech_wav("what colour do I like", lead_silence=2.5))
                await first.wait_until(lambda: first.server_messages("session-moved"))
                await second.wait_until(lambda: second.server_messages("session"))
                await wait_for_message(on_b, conversation_id, "You like green.")
            finally:
                await first.close()
                await second.close()
    finally:
        await other.dispose()

    # A's session was told and ended; B's went on from everything A stored.
    assert first.server_messages("session-moved") == [
        {"type": "session-moved", "conversation_id": conversation_id}
    ]
    assert second.server_messages("session")[0]["resumed"] is True
    second_request = fake_groq.chat_requests[-1]["messages"]
    assert {"role": "user", "content": "my favourite colour is green"} in second_request
    assert {"role": "assistant", "content": "Green it is."} in second_request


WRITERS = 50
WRITES_EACH = 10


async def test_fifty_writers_on_two_engines_lose_nothing(db):
    """50 concurrent writers, half on each process's engine, appending to five shared
    conversations and one shared note: every row stored, seqs contiguous, no deadlock (which
    PostgreSQL would report as an error, failing a writer)."""
    other = Database(db.url)
    try:
        async with db.transaction() as session:
            alice = (await UserRepository(session).get_or_create("alice")).id
            conversations = [
                (await ConversationRepository(session, alice).create()).id for _ in range(5)
            ]
            note = (await NoteRepository(session, alice).add("log")).id

        async def write(n: int) -> None:
            engine = db if n % 2 else other
            conversation = conversations[n % len(conversations)]
            for i in range(WRITES_EACH):
                async with engine.transaction() as session:
                    await ConversationRepository(session, alice).append(
                        conversation, "user", f"w{n} {i}"
                    )
                    if i % 5 == 0:
                        await NoteRepository(session, alice).append(note, f"w{n} {i}")

        async with asyncio.timeout(120):
            await asyncio.gather(*(write(n) for n in range(WRITERS)))

        async with db.transaction() as session:
            repository = ConversationRepository(session, alice)
            for conversation in conversations:
                rows = await repository.messages(conversation, limit=10_000)
                assert [m.seq for m in rows] == list(range(1, len(rows) + 1))
                writers = [n for n in range(WRITERS) if conversations[n % 5] == conversation]
                for n in writers:  # each writer's rows, in its order
                    mine = [m.content for m in rows if m.content.startswith(f"w{n} ")]
                    assert mine == [f"w{n} {i}" for i in range(WRITES_EACH)]
                assert len(rows) == WRITES_EACH * len(writers)
            lines = (await NoteRepository(session, alice).get(note)).content.split("\n")
            assert len(lines) == 1 + WRITERS * (WRITES_EACH // 5)
    finally:
        await other.dispose()


# An end-of-candidates marker (RFC 8840): a trickled ICE PATCH any peer connection accepts.
END_OF_CANDIDATES = {"candidate": "", "sdp_mid": "0", "sdp_mline_index": 0}


async def test_behind_a_sticky_proxy_each_browser_stays_on_its_server(
    settings, db, monkeypatch, fake_groq, fake_cartesia
):
    """Two servers behind a proxy that keeps a browser on one (Caddy's lb_policy cookie): two
    browsers land on different servers, and each one's offer and ICE PATCH reach the server that
    holds its peer connection. Without stickiness the PATCH doesn't."""
    require_speech_tools()
    pin_ice_to_loopback(monkeypatch)
    other = Database(db.url)
    try:
        async with contextlib.AsyncExitStack() as stack:
            servers = [
                await stack.enter_async_context(running_server(settings, db, lambda c: [])),
                await stack.enter_async_context(running_server(settings, other, lambda c: [])),
            ]
            proxy = await stack.enter_async_context(StickyProxy(servers))
            clients = []
            for user in ("alice", "bob"):
                http = await stack.enter_async_context(httpx.AsyncClient(base_url=proxy.url))
                await select(http, user)
                client = RTCClient(http)
                stack.push_async_callback(client.close)
                answer = await client.connect(speech_wav(f"I am {user}", lead_silence=2.5))
                patch = await http.patch(
                    "/api/offer",
                    json={"pc_id": answer["pc_id"], "candidates": [END_OF_CANDIDATES]},
                )
                assert patch.status_code == 200, patch.text
                clients.append(client)
            for client in clients:
                await client.wait_until(lambda c=client: c.server_messages("session"))
            # Three requests each (selection, offer, PATCH), alice's on one server, bob's on the
            # other.
            assert proxy.served == [0, 0, 0, 1, 1, 1]

            # A proxy that is not sticky: the selection is in the database, so the offer is
            # served anywhere, but the ICE PATCH reaches the server without its peer connection.
            loose = await stack.enter_async_context(StickyProxy(servers, sticky=False))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=loose.url))
            await select(http, "carol")
            client = RTCClient(http)
            stack.push_async_callback(client.close)
            answer = await client.connect(speech_wav("I am carol", lead_silence=2.5))
            patch = await http.patch(
                "/api/offer", json={"pc_id": answer["pc_id"], "candidates": [END_OF_CANDIDATES]}
            )
            assert patch.status_code == 404, patch.text
            assert loose.served == [0, 1, 0]
    finally:
        await other.dispose()


async def test_a_reminder_due_while_live_on_both_servers_is_said_once(
    settings, db, monkeypatch, fake_groq, fake_cartesia
):
    """Alice is live on A (one conversation) and on B (another, another device) when a reminder
    comes due: each server's scheduler sees it, the claim lets one say it, once."""
    require_speech_tools()
    pin_ice_to_loopback(monkeypatch)
    other = Database(db.url)
    try:
        async with contextlib.AsyncExitStack() as stack:
            servers = [
                await stack.enter_async_context(running_server(settings, db, lambda c: [])),
                await stack.enter_async_context(running_server(settings, other, lambda c: [])),
            ]
            clients = []
            for url in servers:
                http = await stack.enter_async_context(httpx.AsyncClient(base_url=url))
                await select(http, "alice")
                client = RTCClient(http)
                stack.push_async_callback(client.close)
                await client.connect(speech_wav("hello", lead_silence=2.5))
                await client.wait_until(lambda c=client: c.server_messages("session"))
                clients.append(client)
            async with db.transaction() as session:
                alice = (await UserRepository(session).get_by_name("alice")).id
                due = datetime.now(UTC) + timedelta(seconds=1)
                reminder = await ReminderRepository(session, alice).add("stretch", due, "UTC")

            # The server that said it marks it delivered once heard, then tells its page.
            waits = [
                asyncio.create_task(
                    c.wait_until(lambda c=c: c.server_messages("reminders-changed"))
                )
                for c in clients
            ]
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for wait in pending:
                wait.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await done.pop()
            async with db.transaction() as session:
                held = await ReminderRepository(session, alice).get(reminder.id)
            assert held.status is ReminderStatus.DELIVERED
            due_messages = [m for c in clients for m in c.server_messages("reminder-due")]
            assert [m["text"] for m in due_messages] == ["stretch"]
    finally:
        await other.dispose()
