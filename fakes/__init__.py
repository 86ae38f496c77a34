"""What tests and benchmarks share: stand-ins for the world around the assistant.

Protocol-faithful local fakes of the cloud services it talks to (groq, cartesia), a headless
session against them (harness), a WebRTC peer that talks like the page (rtc_client) and spoken
input (speech). A package of its own, beside tests/ and bench/, so bench never imports tests;
outside assistant/ so the wheel does not ship test doubles.
"""

from pathlib import Path
from typing import Any

from assistant.config import Settings
from fakes.cartesia import FakeCartesia
from fakes.groq import FakeGroq

__all__ = ["FakeCartesia", "FakeGroq", "fake_settings"]


def fake_settings(
    groq_base_url: str, cartesia_url: str, database: Path, **overrides: Any
) -> Settings:
    """Settings that reach the fakes and a SQLite file, not the environment or a .env; turns
    end on a short silence (no smart-turn model wait), unless ``overrides`` say otherwise."""
    values: dict[str, Any] = {
        "groq_api_key": "fake-groq-key",
        "cartesia_api_key": "fake-cartesia-key",
        "groq_base_url": groq_base_url,
        "cartesia_url": cartesia_url,
        "database_url": f"sqlite+aiosqlite:///{database}",
        "turn_detection": "silence",
        "turn_silence_secs": 0.3,
    }
    return Settings(_env_file=None, **(values | overrides))
