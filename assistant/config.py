"""All configuration in one place, read from the environment and `.env`."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from platformdirs import user_data_dir
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

GROQ_KEYS_URL = "https://console.groq.com/keys"
CARTESIA_KEYS_URL = "https://play.cartesia.ai/keys"


def default_data_dir() -> Path:
    # A per-user data directory, so running from another folder finds the same memory.
    return Path(user_data_dir("voice-assistant", appauthor=False))


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{default_data_dir() / 'assistant.db'}"


class TurnDetection(StrEnum):
    """How the end of the user's turn is decided."""

    SMART_TURN = "smart-turn"  # pipecat's local smart-turn model, after a VAD pause
    SILENCE = "silence"  # a fixed silence after the VAD says speech stopped


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# loguru's levels (pipecat logs through loguru).
LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Every setting the assistant reads; each field maps to an upper-case env variable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    groq_api_key: SecretStr | None = None
    cartesia_api_key: SecretStr | None = None
    # A stock Cartesia library voice commonly used with sonic-3.
    cartesia_voice_id: str = "9626c31c-bec5-4cca-baa8-f8ba9e84c8bc"

    groq_base_url: str = "https://api.groq.com/openai/v1"
    cartesia_url: str = "wss://api.cartesia.ai/tts/websocket"
    groq_llm_model: str = "llama-3.3-70b-versatile"
    groq_stt_model: str = "whisper-large-v3-turbo"
    cartesia_model: str = "sonic-3"

    database_url: str = Field(default_factory=default_database_url)

    # Voice defaults for a new conversation (Cartesia sonic-3 GenerationConfig ranges).
    default_emotion: str = "neutral"
    default_speed: Annotated[float, Field(ge=0.6, le=1.5)] = 1.0
    default_volume: Annotated[float, Field(ge=0.5, le=2.0)] = 1.0

    vad_confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.7
    vad_start_secs: Annotated[float, Field(gt=0.0, le=2.0)] = 0.2
    vad_stop_secs: Annotated[float, Field(gt=0.0, le=3.0)] = 0.2
    vad_min_volume: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    turn_detection: TurnDetection = TurnDetection.SMART_TURN
    # Silence that ends a turn when TURN_DETECTION=silence.
    turn_silence_secs: Annotated[float, Field(gt=0.0, le=5.0)] = 0.6

    # The longest the language model may stay silent (before answering, or between two streamed
    # chunks) before the turn is given up with a short apology. Groq normally answers in < 1 s.
    llm_timeout_secs: Annotated[float, Field(gt=0.0, le=600.0)] = 10.0
    # The longest one transcription attempt may take (it is retried once) before the user is
    # asked to say it again. Groq transcribes a few seconds of speech in well under a second.
    stt_timeout_secs: Annotated[float, Field(gt=0.0, le=600.0)] = 5.0

    # How much history (in estimated tokens) is sent to the LLM when a conversation resumes;
    # what is older is condensed into the summary. Sized for voice: 1500 is the last fifteen to
    # twenty short exchanges, and keeps a resumed turn's request near 2,000 tokens, tools
    # included (bench.tokens), which a free Groq key's daily tokens are spent on.
    context_token_budget: Annotated[int, Field(ge=256, le=120_000)] = 1500
    # What the assistant knows about the user goes into the system instruction at the start of
    # each session, within this many estimated tokens (pinned facts first, then the most used
    # and most recent). Every request carries it, so it costs that much on each one.
    memory_token_budget: Annotated[int, Field(ge=0, le=8_000)] = 400
    # At the end of a session, one more request asks the model which facts the user stated
    # about themselves, and stores them marked as inferred. Off: only what the user asks the
    # assistant to remember is remembered.
    memory_auto: bool = False

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 7860
    # "password": accounts made with `assistant user add`, sign-in with a password. "none": the
    # page's name field says who is talking, allowed only on loopback. Unset: "none" on
    # loopback (a one-step start on one's own machine), "password" beyond it. Declared after
    # `host`, which its check reads.
    auth: Literal["none", "password"] = Field(default=None, validate_default=True)
    # A signed-in browser's session ends after this many days without use.
    session_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # Comma-separated STUN/TURN URLs; empty means host candidates only (no third party involved).
    ice_servers: str = ""
    # Comma-separated names and addresses the server answers to beyond loopback (the Host
    # header); empty: the machine's host names and the bound address (`server.hosts`).
    allowed_hosts: str = ""
    # A certificate and its key (PEM files) for HTTPS; beyond loopback without them, a
    # self-signed one is made once in DATA_DIR (`server.tls`).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Where the self-signed certificate is kept (the default database lives here too).
    data_dir: Path = Field(default_factory=default_data_dir)
    # Live voice sessions the server takes at once, and per user; the next offer gets a 503.
    max_voice_sessions: Annotated[int, Field(ge=1, le=1000)] = 6
    max_voice_sessions_per_user: Annotated[int, Field(ge=1, le=100)] = 2

    # loguru/pipecat default to DEBUG: several lines per turn and per connection event, each
    # formatted and written from the event loop every live session shares.
    log_level: LogLevel = "INFO"

    @field_validator("default_emotion")
    @classmethod
    def _known_emotion(cls, value: str) -> str:
        from assistant.voice import EMOTIONS

        if value not in EMOTIONS:
            raise ValueError(f"unknown emotion {value!r}; one of: {', '.join(sorted(EMOTIONS))}")
        return value

    @field_validator("auth", mode="before")
    @classmethod
    def _auth_default(cls, value: object, info: ValidationInfo) -> object:
        if value is None or value == "":
            return "none" if is_loopback(info.data.get("host", "")) else "password"
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("auth")
    @classmethod
    def _no_anonymous_beyond_loopback(cls, value: str, info: ValidationInfo) -> str:
        host = info.data.get("host")
        if value == "none" and host is not None and not is_loopback(host):
            raise ValueError(
                f"AUTH=none lets anyone who reaches {host} read every conversation; it is "
                "allowed only on loopback. Use AUTH=password (`assistant user add NAME`)"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _cert_with_key(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS_CERT and TLS_KEY go together: set both or neither")
        return self

    @cached_property
    def ice_server_urls(self) -> list[str]:
        return [url.strip() for url in self.ice_servers.split(",") if url.strip()]

    @cached_property
    def allowed_host_names(self) -> list[str]:
        return [name.strip().lower() for name in self.allowed_hosts.split(",") if name.strip()]

    def missing_keys(self) -> list[str]:
        """The API keys a live voice session needs that are not set."""
        missing = []
        if not self.groq_api_key or not self.groq_api_key.get_secret_value():
            missing.append("GROQ_API_KEY")
        if not self.cartesia_api_key or not self.cartesia_api_key.get_secret_value():
            missing.append("CARTESIA_API_KEY")
        return missing


def secret_value(value: SecretStr | None) -> str:
    # The SDKs refuse an empty key; a placeholder lets a session start and report the 401.
    return value.get_secret_value() if value else "missing-key"


class ConfigError(Exception):
    """A configuration value is invalid; the message names the variable."""


def load_settings(**overrides) -> Settings:
    """Read the settings, turning pydantic's error into one that names each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            variable = "_".join(str(part) for part in problem["loc"]).upper()
            if variable:
                lines.append(f"{variable}: {problem['msg']} (got {problem.get('input')!r})")
            else:  # a rule over several variables names them itself
                lines.append(problem["msg"].removeprefix("Value error, "))
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(lines)) from None
