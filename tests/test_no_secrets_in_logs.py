"""No password and no session token in any log line: every log of a whole sign-in and voice
session (loguru, which pipecat uses, at TRACE; the standard library's logging at every level,
uvicorn's access log included; anything printed) is captured and searched."""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx
import pytest
from loguru import logger

from assistant.server.web_sessions import COOKIE_NAME
from assistant.store.accounts import AccountRepository, Passwords
from fakes.rtc_client import RTCClient
from fakes.speech import require_speech_tools, speech_wav
from tests.live_server import pin_ice_to_loopback, running_server
from tests.test_server_rtc import wait_for_message

PASSWORD = "Tr0ub4dor&3-never-logged"


# The test's own HTTP client logs the responses' headers (the cookie) at DEBUG: the browser's
# side, not the server's. (The server's own httpx use is its requests to Groq, which carry
# neither secret.)
CLIENT_LOGGERS = ("httpcore", "httpx")


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] not in CLIENT_LOGGERS:
            self.lines.append(f"{record.name} {record.getMessage()} {record.args!r}")


@pytest.fixture
def all_logs():
    """Every log record, of both logging systems, at every level, for the test's duration."""
    captured: list[str] = []
    sink = logger.add(lambda message: captured.append(str(message)), level=0)
    handler = Everything()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(1)
    # An earlier server in this process, started with uvicorn's own log config, left its loggers
    # not propagating (and with their own levels): they are opened up for the test.
    saved = []
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        saved.append((named, named.propagate, named.level, named.disabled))
        named.propagate, named.disabled = True, False
        named.setLevel(logging.NOTSET)
    yield lambda: captured + handler.lines
    for named, propagate, named_level, disabled in saved:
        named.propagate, named.disabled = propagate, disabled
        named.setLevel(named_level)
    root.setLevel(level)
    root.removeHandler(handler)
    logger.remove(sink)


async def test_a_sign_in_and_voice_session_log_no_secret(
    settings, db, fake_groq, fake_cartesia, monkeypatch, all_logs, capfd
):
    require_speech_tools()
    pin_ice_to_loopback(monkeypatch)
    async with db.transaction() as store:
        await AccountRepository(store).add("alice", Passwords().hash(PASSWORD))
    accounts = settings.model_copy(update={"auth": "password"})
    fake_groq.transcribe("remember my locker code")
    fake_groq.reply_text("I will remember your locker code.")

    # log_config=None: uvicorn's loggers, its access log too, propagate to the root logger.
    server = running_server(
        accounts, db, lambda context: [], log_config=None, log_level="trace", access_log=True
    )
    async with server as base_url, httpx.AsyncClient(base_url=base_url) as http:
        # People type their password in the name field too: that failure must not log it.
        mistyped = await http.post("/api/login", json={"user": PASSWORD, "password": PASSWORD})
        assert mistyped.status_code == 401
        wrong = await http.post("/api/login", json={"user": "alice", "password": PASSWORD[:-1]})
        assert wrong.status_code == 401
        signed_in = await http.post("/api/login", json={"user": "alice", "password": PASSWORD})
        assert signed_in.status_code == 200
        token = http.cookies[COOKIE_NAME]
        chosen = await http.post("/api/session", json={"conversation_id": None})
        conversation_id = chosen.json()["conversation_id"]

        client = RTCClient(http)
        try:
            await client.connect(speech_wav("remember my locker code", lead_silence=2.5))
            await wait_for_message(http, conversation_id, "I will remember your locker code.")
        finally:
            await client.close()
        assert (await http.get("/api/conversations")).status_code == 200
        assert (await http.post("/api/logout")).status_code == 204

    out, err = capfd.readouterr()
    logs = "\n".join([*all_logs(), out, err])
    # The capture works: the session and the access log are in it.
    assert "POST /api/login" in logs and "POST /api/offer" in logs
    assert "alice signed in" in logs and "Failed sign-in" in logs
    for secret in (PASSWORD, PASSWORD[:-1], quote(PASSWORD), token):
        assert secret not in logs
    assert fake_groq.protocol_errors == []
