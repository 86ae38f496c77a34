"""The front door: `assistant` refuses bad configuration clearly, and serves when it is right."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from assistant.cli import main

KEYS = ("GROQ_API_KEY", "CARTESIA_API_KEY", "AUTH", "HOST", "PORT", "DATABASE_URL")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in KEYS + ("VAD_CONFIDENCE", "DEFAULT_SPEED", "DEFAULT_EMOTION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    return monkeypatch


def test_missing_keys_are_named_with_where_to_get_them(clean_env, capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "GROQ_API_KEY" in err and "CARTESIA_API_KEY" in err
    assert "console.groq.com" in err and "cartesia.ai" in err


def test_invalid_values_fail_naming_the_variable(clean_env, capsys):
    clean_env.setenv("VAD_CONFIDENCE", "2")
    clean_env.setenv("DEFAULT_SPEED", "5.0")
    clean_env.setenv("DEFAULT_EMOTION", "grumpy-ish")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "VAD_CONFIDENCE" in err and "DEFAULT_SPEED" in err and "DEFAULT_EMOTION" in err


def test_no_accounts_beyond_loopback_is_refused(clean_env, capsys):
    clean_env.setenv("GROQ_API_KEY", "k")
    clean_env.setenv("CARTESIA_API_KEY", "k")
    clean_env.setenv("AUTH", "none")
    assert main(["--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "AUTH" in err and "loopback" in err


def test_db_upgrade_creates_the_schema(clean_env, tmp_path, capsys):
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "cli.db").exists()
    assert "up to date" in capsys.readouterr().out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_assistant_command_serves_the_page(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env.update(
        GROQ_API_KEY="k",
        CARTESIA_API_KEY="k",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'served.db'}",
        PORT=str(port),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        assert response.json() == {"ok": True, "voice_sessions": 0}
        assert "<html" in httpx.get(f"http://127.0.0.1:{port}/").text.lower()
    finally:
        process.terminate()
        process.wait(10)
