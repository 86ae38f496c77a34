"""`assistant`: run the voice assistant server; `assistant db upgrade`: migrate the database;
`assistant db copy --to URL`: copy every row into another database (SQLite to PostgreSQL)."""

from __future__ import annotations

import argparse
import sys

from assistant.config import CARTESIA_KEYS_URL, GROQ_KEYS_URL, ConfigError, load_settings


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
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = load_settings(**overrides)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2

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
    from assistant.server.security import is_loopback

    missing = settings.missing_keys()
    if missing:
        print(
            f"Missing {' and '.join(missing)}. Set them in the environment or in a .env file.\n"
            f"  GROQ_API_KEY: create one at {GROQ_KEYS_URL}\n"
            f"  CARTESIA_API_KEY: create one at {CARTESIA_KEYS_URL}",
            file=sys.stderr,
        )
        return 2
    if not is_loopback(settings.host) and settings.access_token is None:
        print(
            f"Refusing to listen on {settings.host} without ACCESS_TOKEN: anyone who can reach "
            "it could read your conversations. Set ACCESS_TOKEN or bind 127.0.0.1.",
            file=sys.stderr,
        )
        return 2

    configure_logging(settings.log_level)
    import uvicorn

    from assistant.server.app import create_app

    print(f"Open http://{settings.host}:{settings.port}/ in your browser.", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
