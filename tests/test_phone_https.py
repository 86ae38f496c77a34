"""A phone on the home network: Chromium opens the page over HTTPS at an address that is not
loopback, signs in, talks, and the note it asked for is saved.

The test makes its own network namespace (`unshare --user --net`: nothing outside it is
touched) with a veth pair, 10.77.0.1 for the server and 10.77.0.2 beside it, and runs itself
again inside it, with the fakes, the server and Chromium all in there. Chromium trusts the
server's self-signed certificate by its public key's hash (`--ignore-certificate-errors-spki-list`),
the same pinning a person does by comparing the fingerprint, rather than Playwright's
`ignore_https_errors`, which would accept any certificate at all.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
INSIDE = "ASSISTANT_TEST_NETNS"
SERVER_ADDRESS = "10.77.0.1"
NEIGHBOUR_ADDRESS = "10.77.0.2"
PASSWORD = "a long and secret passphrase"
NAMESPACE = ["unshare", "--user", "--map-root-user", "--net", "--"]


def test_a_phone_signs_in_over_https_talks_and_a_note_is_saved(request, tmp_path, monkeypatch):
    if os.environ.get(INSIDE) != "1":
        _run_inside_a_network_namespace(request.node.nodeid)
        return
    from fakes.speech import require_speech_tools
    from tests.test_browser import CHROMIUM

    require_speech_tools()
    if not Path(CHROMIUM).exists():
        pytest.fail("needs Debian's chromium (.ci/run installs it)")
    _network(
        "link set lo up",
        "link add server type veth peer name neighbour",
        f"addr add {SERVER_ADDRESS}/24 dev server",
        f"addr add {NEIGHBOUR_ADDRESS}/24 dev neighbour",
        "link set server up",
        "link set neighbour up",
    )
    import aioice.ice

    # The server's ICE candidates: its address on this network, as on a home network.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda **_: [SERVER_ADDRESS])
    asyncio.run(_phone_session(tmp_path))


def _run_inside_a_network_namespace(nodeid: str) -> None:
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    allowed = not missing and subprocess.run([*NAMESPACE, "true"], capture_output=True).returncode
    if missing or allowed != 0:
        reason = f"needs network namespaces (unshare --user --net) and iproute2 ({missing})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    result = subprocess.run(
        [*NAMESPACE, sys.executable, "-m", "pytest", nodeid, "-x", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, INSIDE: "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = (result.stdout + result.stderr)[-8000:]
    assert result.returncode == 0, report
    assert "1 passed" in result.stdout, report


def _network(*commands: str) -> None:
    for command in commands:
        subprocess.run(["ip", *command.split()], check=True)


async def _phone_session(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    from assistant.server.tls import server_certificate
    from assistant.store.accounts import AccountRepository, Passwords
    from assistant.store.database import Database
    from assistant.store.repository import NoteRepository, UserRepository
    from assistant.tools.registry import default_tools
    from fakes import FakeCartesia, FakeGroq, fake_settings
    from fakes.speech import speech_wav
    from tests.test_browser import CHROMIUM, chromium_args, start_talking

    wav = speech_wav("please take a note buy oat milk", lead_silence=3.0, tail_silence=2.0)
    async with FakeGroq() as fake_groq, FakeCartesia() as fake_cartesia:
        fake_groq.transcribe("please take a note: buy oat milk")
        fake_groq.reply_tool_call("take_note", {"content": "buy oat milk"})
        fake_groq.reply_text("Done. I noted: buy oat milk.")
        settings = fake_settings(
            fake_groq.base_url,
            fake_cartesia.url,
            tmp_path / "assistant.db",
            host=SERVER_ADDRESS,
            data_dir=tmp_path / "data",
        )
        certificate = server_certificate(settings)
        assert SERVER_ADDRESS in certificate.names
        assert settings.auth == "password"  # the default beyond loopback
        db = Database(settings.database_url)
        await db.upgrade()
        async with db.transaction() as store:
            await AccountRepository(store).add("alice", Passwords().hash(PASSWORD))
        async with _https_server(settings, db, certificate, default_tools) as port:
            origin = f"https://{SERVER_ADDRESS}:{port}"
            await _served_over_https_only(origin, certificate)
            async with async_playwright() as pw:
                args = [
                    *chromium_args(wav),
                    f"--ignore-certificate-errors-spki-list={certificate.spki_sha256}",
                ]
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=args)
                try:
                    context = await browser.new_context(viewport={"width": 412, "height": 900})
                    page = await context.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda error: errors.append(str(error)))
                    await page.goto(origin + "/")
                    assert await page.evaluate("window.isSecureContext")
                    await page.get_by_test_id("user-name").fill("alice")
                    await page.get_by_test_id("user-password").fill(PASSWORD)
                    await page.get_by_test_id("user-continue").click()
                    await expect(page.locator("#user-label")).to_have_text("alice")
                    [cookie] = await context.cookies()
                    assert cookie["secure"] and cookie["httpOnly"]
                    await start_talking(page)
                    await expect(page.get_by_test_id("note-item").first).to_contain_text(
                        "buy oat milk", timeout=30_000
                    )
                    assert errors == []
                finally:
                    await browser.close()
        async with db.transaction() as store:
            alice = await UserRepository(store).get_by_name("alice")
            notes = await NoteRepository(store, alice.id).recent()
        await db.dispose()
        assert [note.content for note in notes] == ["buy oat milk"]
        assert fake_groq.protocol_errors == []


class _https_server:
    """The app under uvicorn on the server's address with its certificate, as `assistant`
    serves it beyond loopback; yields the port."""

    def __init__(self, settings, db, certificate, tool_factory):
        import uvicorn

        from assistant.server.app import create_app

        app = create_app(settings, db=db, tool_factory=tool_factory)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=0,
            log_level="warning",
            lifespan="on",
            ssl_certfile=str(certificate.cert_file),
            ssl_keyfile=str(certificate.key_file),
        )
        self.server = uvicorn.Server(config)

    async def __aenter__(self) -> int:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)
        return self.server.servers[0].sockets[0].getsockname()[1]

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)


async def _served_over_https_only(origin: str, certificate) -> None:
    """The certificate is valid for the address (checked against itself as the only trusted
    one), and plain HTTP gets no page."""
    trusted = ssl.create_default_context(cafile=str(certificate.cert_file))
    async with httpx.AsyncClient(verify=trusted) as https:
        assert (await https.get(origin + "/healthz")).status_code == 200
    async with httpx.AsyncClient() as plain:
        with pytest.raises(httpx.HTTPError):
            await plain.get(origin.replace("https://", "http://") + "/healthz")
