"""`assistant`: run the voice assistant server; `assistant db upgrade`: migrate the database;
`assistant db copy --to URL`: copy every row into another database (SQLite to PostgreSQL);
`assistant user add|passwd|list|remove NAME`: the accounts AUTH=password signs in with."""

from __future__ import annotations

import argparse
import os
import sys

from assistant import user_commands
from assistant.config import (
    CARTESIA_KEYS_URL,
    GROQ_KEYS_URL,
    ConfigError,
    is_loopback,
    load_settings,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant", description=__doc__)
    parser.add_argument("--host", help="address to bind (default: HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: PORT or 7860)")
    commands = parser.add_subparsers(dest="command")
    db_parser = commands.add_parser("db", help="database maintenance")
    db_parser.add_argument("action", choices=["upgrade", "copy"])
    db_parser.add_argument(
        "--from", dest="source", help="copy: the database to read (default: DATABASE_URL)"
    )
    db_parser.add_argument("--to", dest="target", help="copy: the database to fill (empty)")
    user_commands.add_parsers(commands)
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = load_settings(**overrides)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2

    if args.command == "user":
        return user_commands.run(settings, args)
    if args.command == "db" and args.action == "copy":
        return copy(args.source or settings.database_url, args.target)
    if args.command == "db":
        from assistant.store.database import MigrationError, upgrade_database

        try:
            backup = upgrade_database(settings.database_url)
        except MigrationError as error:
            print(error, file=sys.stderr)
            return 1
        if backup is not None:
            print(f"Kept a copy from before the upgrade: {backup}")
        print(f"Database is up to date: {settings.database_url}")
        return 0
    return serve(settings)


def copy(source: str, target: str | None) -> int:
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from assistant.store.copy import CopyError, copy_database

    if not target:
        print("assistant db copy needs --to URL (the database to fill)", file=sys.stderr)
        return 2

    def report(table) -> None:
        print(f"{table.name}: {table.rows} rows", flush=True)

    try:
        copied = asyncio.run(copy_database(source, target, progress=report))
    except (CopyError, SQLAlchemyError, OSError) as error:
        print(f"Nothing was copied: {error}", file=sys.stderr)
        return 1
    total = sum(table.rows for table in copied)
    print(f"Copied {total} rows in {len(copied)} tables; each table's count matches the source.")
    return 0


def configure_logging(level: str) -> None:
    """One stderr sink at LOG_LEVEL instead of loguru's DEBUG default (pipecat logs a lot)."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=level)


def serve(settings) -> int:
    missing = settings.missing_keys()
    if missing:
        print(
            f"Missing {' and '.join(missing)}. Set them in the environment or in a .env file.\n"
            f"  GROQ_API_KEY: create one at {GROQ_KEYS_URL}\n"
            f"  CARTESIA_API_KEY: create one at {CARTESIA_KEYS_URL}",
            file=sys.stderr,
        )
        return 2
    if _still_set("ACCESS_TOKEN"):
        print(
            "ACCESS_TOKEN is no longer used: beyond loopback the page signs people in "
            "(AUTH=password; add them with `assistant user add NAME`).",
            file=sys.stderr,
        )
    configure_logging(settings.log_level)
    import uvicorn

    from assistant.server.app import create_app

    https = {}
    if settings.tls_cert is not None or not is_loopback(settings.host):
        # Beyond loopback only HTTPS: browsers give the microphone to secure origins only.
        from assistant.server.tls import server_certificate

        certificate = server_certificate(settings)
        print_https_start(settings, certificate)
        https = {
            "ssl_certfile": str(certificate.cert_file),
            "ssl_keyfile": str(certificate.key_file),
        }
    else:
        print(f"Open http://{settings.host}:{settings.port}/ in your browser.", flush=True)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level="info", **https
    )
    return 0


def _still_set(variable: str) -> bool:
    from dotenv import dotenv_values

    return bool(os.environ.get(variable) or dotenv_values(".env").get(variable))


def print_https_start(settings, certificate) -> None:
    """Where to open the page from a phone (also as a QR code), and the certificate's
    fingerprint to compare with what the phone's browser shows."""
    import segno

    from assistant.server.hosts import server_names

    names = server_names(settings)
    url = f"https://{_url_host(phone_host(names) or settings.host)}:{settings.port}/"
    if certificate.made:
        how = f"a self-signed certificate, made now: {certificate.cert_file}"
    elif settings.tls_cert is None:
        how = f"the self-signed certificate made before: {certificate.cert_file}"
    else:
        how = f"TLS_CERT {certificate.cert_file}"
    print(f"Serving HTTPS with {how}", flush=True)
    uncovered = [name for name in names if name not in certificate.names]
    if settings.tls_cert is None and uncovered:
        print(
            f"  It is not for {', '.join(uncovered)}: delete {certificate.cert_file.parent} and "
            "start again to make one that is (the fingerprint changes).",
            flush=True,
        )
    print(f"Open {url} on your phone (or scan the code below).", flush=True)
    print("Certificate SHA-256 fingerprint, to compare with what the browser shows:", flush=True)
    print(f"  {certificate.fingerprint}", flush=True)
    segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
    sys.stdout.flush()


def phone_host(names: list[str]) -> str | None:
    """The name a phone is likeliest to reach: an IPv4 address (a host name may not resolve on
    the phone), then any address, then a name."""
    import ipaddress

    def rank(name: str) -> int:
        try:
            return 0 if ipaddress.ip_address(name).version == 4 else 1
        except ValueError:
            return 2

    return min(names, key=rank) if names else None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
