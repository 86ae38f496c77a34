"""Durability: `kill -9` of the server mid-conversation loses no completed turn, leaves a sound
database, and the conversation resumes on a new server with its history.

The server runs as a real subprocess (uvicorn + the app, as `assistant` runs it) against the
Groq and Cartesia fakes running in this test process; a Python WebRTC client talks to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from assistant.pipeline.builder import greeting
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository, UserRepository
from fakes.groq import TextReply
from fakes.harness import without_clock
from fakes.rtc_client import RTCClient
from fakes.speech import require_speech_tools, speech_wav
from tests.live_server import pin_ice_to_loopback

ROOT = Path(__file__).resolve().parents[1]

# What `assistant` does (cli.serve), plus what the in-process test server does: aioice offers
# only 127.0.0.1. The imports take seconds, so the process imports first and opens the database
# (creates the app) only when told to: a restarted server can be warm, yet open the database
# after the crash.
SERVER = """
import sys
import aioice.ice, uvicorn
from assistant.config import load_settings
from assistant.runtime import warmup
from assistant.server.app import create_app
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
warmup.import_voice_stack()  # the app imports it lazily: warm means this too
sys.stdin.readline()
settings = load_settings()
app = create_app(settings)
uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
"""

TURNS = [
    ("my colour is green", "Green, noted."),
    ("my cat is Miso", "Miso, what a name."),
]
CUT_TURN = "what to cook"
GREETING = greeting("alice", resumed=False)
WELCOME_BACK = greeting("alice", resumed=True)
RESUME_TURN = "what is my cat"
# httpx's 5 s default is shorter than a first offer can take on a busy 2-core CI machine
# (session build, ICE); a browser waits longer than that too.
OFFER_TIMEOUT_SECS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def said_over(expected: str, stored: tuple[str, str | None]) -> bool:
    """An assistant line as stored: whole, or cut where the microphone's first words came over
    it (how far it got depends on how busy the machine is, not on what is tested here)."""
    role, content = stored
    return role == "assistant" and bool(content) and expected.startswith(content or "")


def conversation_wav(utterances: list[str], folder: Path, gap: float = 1.3) -> Path:
    """One microphone recording: the utterances with `gap` s of silence between them.

    The lead silence covers the WebRTC connection setup; the long tail keeps the microphone
    open (silent) until the test ends the call.
    """
    parts = [str(speech_wav(u, lead_silence=0.0, tail_silence=gap)) for u in utterances]
    out = folder / f"conversation-{len(list(folder.glob('conversation-*')))}.wav"
    subprocess.run(["sox", *parts, str(out), "pad", "1.0", "15"], check=True)
    return out


class ServerProcess:
    """The server in a subprocess: `spawn` (imports), then `start` (opens the DB and serves)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env = env
        self.log = log
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def spawn(self) -> ServerProcess:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                SERVER,
                env={**self.env, "PORT": str(self.port), "PYTHONPATH": str(ROOT)},
                cwd=self.log.parent,  # no stray .env
                stdin=asyncio.subprocess.PIPE,
                stdout=out,
                stderr=out,
            )
        return self

    async def start(self) -> str:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            for _ in range(300):
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited:\n{self.log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        return self.base_url
                await asyncio.sleep(0.05)
        raise AssertionError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    async def kill_9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.proc.wait(), 10) == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


@contextlib.asynccontextmanager
async def spawned(env: dict[str, str], log: Path) -> AsyncIterator[ServerProcess]:
    server = await ServerProcess(env, log).spawn()
    try:
        yield server
    finally:
        await server.stop()


async def choose(http: httpx.AsyncClient, conversation_id: str | None = None) -> str:
    response = await http.post(
        "/api/session", json={"user": "alice", "conversation_id": conversation_id}
    )
    response.raise_for_status()
    return response.json()["conversation_id"]


async def stored(db: Database, conversation_id: str) -> list[tuple[str, str | None]]:
    async with db.transaction() as store:
        user = await UserRepository(store).get_by_name("alice")
        rows = await ConversationRepository(store, user.id).messages(conversation_id)
    return [(m.role.value, m.content) for m in rows]


async def wait_stored(db, conversation_id, predicate, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await stored(db, conversation_id)
        if predicate(rows):
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; stored: {rows}")
        await asyncio.sleep(0.1)


@pytest.fixture
def server_env(settings, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GROQ_", "CARTESIA_"))}
    env.update(
        GROQ_API_KEY="test-groq-key",
        CARTESIA_API_KEY="test-cartesia-key",
        GROQ_BASE_URL=settings.groq_base_url,
        CARTESIA_URL=settings.cartesia_url,
        DATABASE_URL=settings.database_url,
        TURN_DETECTION="silence",
        TURN_SILENCE_SECS="0.3",
        HOST="127.0.0.1",
    )
    return env


async def test_kill_9_mid_conversation(server_env, settings, tmp_path, monkeypatch, fake_groq):
    require_speech_tools()
    pin_ice_to_loopback(monkeypatch)  # for the client in this process
    log = tmp_path / "server.log"
    for said, reply in TURNS:
        fake_groq.transcribe(said)
        fake_groq.reply_text(reply)
    fake_groq.transcribe(CUT_TURN)
    # The answer starts streaming, then stalls: the server dies in the middle of the turn.
    fake_groq.reply(TextReply("This answer never comes.", chunk_delay=60))
    wav = conversation_wav([u for u, _ in TURNS] + [CUT_TURN], tmp_path)
    resume_wav = conversation_wav([RESUME_TURN], tmp_path)

    async with contextlib.AsyncExitStack() as servers:
        first = await servers.enter_async_context(spawned(server_env, log))
        base_url = await first.start()
        # The restarted server imports while the first one talks (it opens the DB after the crash).
        second = await servers.enter_async_context(spawned(server_env, log))
        async with httpx.AsyncClient(base_url=base_url, timeout=OFFER_TIMEOUT_SECS) as http:
            conversation_id = await choose(http)
            client = RTCClient(http)
            try:
                await client.connect(wav)
                await fake_groq.wait_for_chat_requests(3, timeout=30)
                # The cut turn's words were committed before the crash: they must survive it.
                db = Database(settings.database_url)
                try:
                    await wait_stored(db, conversation_id, lambda r: ("user", CUT_TURN) in r)
                finally:
                    await db.dispose()
                await first.kill_9()
            finally:
                await client.close()

        # The database opens cleanly and holds every completed turn, in order.
        db = Database(settings.database_url)
        try:
            if db.url.get_backend_name() == "sqlite":
                async with db.engine.connect() as conn:
                    assert (await conn.execute(text("PRAGMA integrity_check"))).scalar() == "ok"
            rows = await stored(db, conversation_id)
        finally:
            await db.dispose()
        (first_said, first_reply), (second_said, second_reply) = TURNS
        said = [
            ("user", first_said),
            ("assistant", first_reply),
            ("user", second_said),
            ("assistant", second_reply),
            ("user", CUT_TURN),
        ]
        assert said_over(GREETING, rows[0])
        assert rows[1:] == said  # nothing of the unfinished answer

        # A new server on the same database resumes the conversation with its history.
        fake_groq.transcribe(RESUME_TURN)
        fake_groq.reply_text("Your cat is Miso.")
        requests_before = len(fake_groq.chat_requests)
        async with httpx.AsyncClient(base_url=await second.start()) as http:
            assert await choose(http, conversation_id) == conversation_id
            client = RTCClient(http)
            try:
                await client.connect(resume_wav)
                await fake_groq.wait_for_chat_requests(requests_before + 1, timeout=30)
                await client.wait_until(lambda: client.server_messages("session"), timeout=10)
            finally:
                await client.close()

    assert client.server_messages("session")[0]["resumed"] is True
    history = [
        (m["role"], without_clock(m.get("content")))
        for m in fake_groq.chat_requests[requests_before]["messages"]
        if m["role"] != "system"
    ]
    # Everything said before the crash, in order (the context starts at the first user turn).
    assert history[: len(said)] == said
    assert said_over(WELCOME_BACK, history[len(said)])
    assert history[len(said) + 1 :] == [("user", RESUME_TURN)]
    assert fake_groq.protocol_errors == []
