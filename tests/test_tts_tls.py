"""Cartesia over TLS: every connection shares one client TLS context, built off the event loop.

Building a context loads the system's CA certificates (its cost: bench/README.md, concurrency);
websockets would otherwise do it on the loop at every session start and reconnect, stalling
every session's audio.
"""

from __future__ import annotations

import ssl
import threading

import pytest
import trustme

from assistant.pipeline import tts as tts_module
from fakes.cartesia import FakeCartesia
from fakes.harness import Headless


@pytest.fixture
def cartesia_ca(tmp_path, monkeypatch) -> trustme.CA:
    """A private CA the process trusts (as the system's CAs are trusted in production)."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    tts_module.tls_context.cache_clear()
    yield ca
    tts_module.tls_context.cache_clear()


@pytest.fixture
async def tls_cartesia(cartesia_ca):
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cartesia_ca.issue_cert("127.0.0.1").configure_cert(server)
    async with FakeCartesia(ssl=server) as fake:
        yield fake


async def test_sessions_speak_over_tls_with_one_context_made_off_the_loop(
    settings, db, fake_groq, tls_cartesia, monkeypatch
):
    made_in: list[threading.Thread] = []
    real = ssl.create_default_context

    def recorded(*args, **kwargs):
        made_in.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(tts_module.ssl, "create_default_context", recorded)
    assert tls_cartesia.url.startswith("wss://")
    headless = Headless(
        settings=settings.model_copy(update={"cartesia_url": tls_cartesia.url}),
        db=db,
        fake_groq=fake_groq,
    )

    async with headless.session("alice", greet=True) as alice:
        async with headless.session("bob", greet=True) as bob:
            # Both greetings were heard: the TLS connections work.
            await alice.wait_for_audio(3200)
            await bob.wait_for_audio(3200)
            contexts = [
                live.session.processors["tts"]._websocket.transport.get_extra_info("ssl_object")
                for live in (alice, bob)
            ]

    shared = tts_module.tls_context()
    assert [ssl_object.context for ssl_object in contexts] == [shared, shared]
    # The SDK clients build their own contexts (in the same worker thread); ours is one of them.
    loop_thread = threading.current_thread()
    assert made_in and all(thread is not loop_thread for thread in made_in)
