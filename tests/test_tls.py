"""HTTPS beyond loopback: a self-signed certificate made once for the machine's names and
addresses (or the one given), its fingerprint and a QR code of the URL printed at start."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta

import pytest
import segno
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from assistant import cli
from assistant.server import hosts
from assistant.server.tls import make_self_signed, server_certificate

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ENV = (
    "GROQ_API_KEY",
    "CARTESIA_API_KEY",
    "HOST",
    "PORT",
    "DATABASE_URL",
    "DATA_DIR",
    "TLS_CERT",
    "TLS_KEY",
    "ALLOWED_HOSTS",
)


@pytest.fixture
def kitchen(monkeypatch):
    """The machine is "kitchen" on the home network, at 192.168.1.20."""
    monkeypatch.setattr(hosts.socket, "gethostname", lambda: "kitchen")
    monkeypatch.setattr(hosts.socket, "getfqdn", lambda: "kitchen")
    monkeypatch.setattr(hosts, "interface_addresses", lambda ipv6: ["192.168.1.20"])


@pytest.fixture
def served(monkeypatch, tmp_path, kitchen):
    """`assistant` as typed in a shell, with uvicorn's run recorded instead of serving."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GROQ_API_KEY", "k")
    monkeypatch.setenv("CARTESIA_API_KEY", "k")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    runs: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: runs.append(kwargs))
    return runs


def fingerprint_of(path) -> str:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def test_the_certificate_is_made_once_and_reused(settings, tmp_path, kitchen):
    beyond = settings.model_copy(update={"host": "0.0.0.0", "data_dir": tmp_path / "data"})
    first = server_certificate(beyond, now=NOW)
    assert first.made
    pem = first.cert_file.read_bytes()
    assert stat.S_IMODE(first.key_file.stat().st_mode) == 0o600

    again = server_certificate(beyond, now=NOW + timedelta(days=300))
    assert not again.made
    assert again.fingerprint == first.fingerprint
    assert again.cert_file.read_bytes() == pem

    # Only an expiring one is made again.
    renewed = server_certificate(beyond, now=NOW + timedelta(days=400))
    assert renewed.made and renewed.fingerprint != first.fingerprint


def test_the_certificate_is_for_the_machine_names_and_addresses(settings, tmp_path, kitchen):
    beyond = settings.model_copy(update={"host": "0.0.0.0", "data_dir": tmp_path})
    certificate = server_certificate(beyond, now=NOW).certificate
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["kitchen", "kitchen.local"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.168.1.20")]
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc < timedelta(398)

    named = settings.model_copy(
        update={"host": "::", "data_dir": tmp_path / "b", "allowed_hosts": "phone.lan,fd00::9"}
    )
    assert server_certificate(named, now=NOW).names == ["phone.lan", "fd00::9"]


def test_beyond_loopback_https_with_its_fingerprint_and_a_qr_code(served, tmp_path, capsys):
    assert cli.main(["--host", "0.0.0.0", "--port", "8443"]) == 0
    cert_file = tmp_path / "data" / "tls" / "cert.pem"
    assert served == [
        {
            "host": "0.0.0.0",
            "port": 8443,
            "log_level": "info",
            "ssl_certfile": str(cert_file),
            "ssl_keyfile": str(tmp_path / "data" / "tls" / "key.pem"),
        }
    ]
    out = capsys.readouterr().out
    assert f"  {fingerprint_of(cert_file)}\n" in out
    url = "https://192.168.1.20:8443/"
    assert f"Open {url} on your phone" in out
    assert "made now" in out
    qr = segno.make(url, error="m")
    assert _terminal(qr) in out

    # The next start uses the same certificate and says so.
    assert cli.main(["--host", "0.0.0.0", "--port", "8443"]) == 0
    again = capsys.readouterr().out
    assert "made before" in again and f"  {fingerprint_of(cert_file)}\n" in again


def test_a_given_certificate_and_key_are_used(served, tmp_path, capsys, monkeypatch):
    given = tmp_path / "given"
    make_self_signed(["assistant.home.arpa"], given / "c.pem", given / "k.pem", now=NOW)
    monkeypatch.setenv("TLS_CERT", str(given / "c.pem"))
    monkeypatch.setenv("TLS_KEY", str(given / "k.pem"))
    monkeypatch.setenv("ALLOWED_HOSTS", "assistant.home.arpa")
    assert cli.main(["--host", "192.168.1.20"]) == 0
    assert served[0]["ssl_certfile"] == str(given / "c.pem")
    assert served[0]["ssl_keyfile"] == str(given / "k.pem")
    out = capsys.readouterr().out
    assert f"  {fingerprint_of(given / 'c.pem')}\n" in out
    assert "https://assistant.home.arpa:7860/" in out
    assert not (tmp_path / "data").exists()  # nothing made


def test_loopback_stays_plain_http(served, tmp_path, capsys):
    assert cli.main([]) == 0
    assert "ssl_certfile" not in served[0]
    assert "Open http://127.0.0.1:7860/" in capsys.readouterr().out
    assert not (tmp_path / "data").exists()


def test_a_certificate_without_its_key_is_refused(served, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TLS_CERT", str(tmp_path / "c.pem"))
    assert cli.main(["--host", "0.0.0.0"]) == 2
    assert "TLS_CERT and TLS_KEY go together" in capsys.readouterr().err
    assert served == []


def _terminal(qr) -> str:
    import io

    buffer = io.StringIO()
    qr.terminal(out=buffer, compact=True)
    return buffer.getvalue()
