"""LOG_LEVEL: the server logs at INFO unless told otherwise, and a bad value is named."""

from __future__ import annotations

import sys

import pytest
import uvicorn
from loguru import logger

import assistant.server.app as app_module
from assistant.cli import main
from assistant.config import ConfigError, load_settings


@pytest.fixture
def server_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in ("ACCESS_TOKEN", "HOST", "PORT", "LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GROQ_API_KEY", "k")
    monkeypatch.setenv("CARTESIA_API_KEY", "k")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'log.db'}")

    def fake_run(_app, **_kwargs):  # instead of serving: log at every level and return
        for level in ("DEBUG", "INFO", "WARNING"):
            logger.log(level, f"a {level} line")

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setattr(app_module, "create_app", lambda settings: object())
    yield monkeypatch
    # the CLI replaced loguru's handlers; put back loguru's default (stderr, DEBUG)
    logger.remove()
    logger.add(sys.stderr)


def test_default_is_info(server_env, capsys):
    assert main([]) == 0
    err = capsys.readouterr().err
    assert "a INFO line" in err and "a WARNING line" in err
    assert "a DEBUG line" not in err


def test_log_level_is_applied_case_insensitively(server_env, capsys):
    server_env.setenv("LOG_LEVEL", "warning")
    assert main([]) == 0
    err = capsys.readouterr().err
    assert "a WARNING line" in err
    assert "a INFO line" not in err and "a DEBUG line" not in err


def test_a_bad_level_names_the_variable(server_env, capsys):
    server_env.setenv("LOG_LEVEL", "LOUD")
    assert main([]) == 2
    assert "LOG_LEVEL" in capsys.readouterr().err
    server_env.delenv("LOG_LEVEL")
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        load_settings(_env_file=None, log_level="verbose")
    assert load_settings(_env_file=None).log_level == "INFO"
    assert load_settings(_env_file=None, log_level=" debug ").log_level == "DEBUG"
