"""Alembic environment.

Two ways in:
* programmatically via ``Database.upgrade()``, which passes a live connection in
  ``config.attributes["connection"]`` (works inside a running event loop);
* the ``alembic`` CLI, with the URL from ``-x url=...``, ``$DATABASE_URL`` or
  ``sqlalchemy.url`` in alembic.ini, in that order.
"""

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from assistant.store.dialects import is_search_object
from assistant.store.models import Base

config = context.config

# Only the CLI has an ini file; programmatic runs must not reset the app's logging.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


# The advisory lock key migrations hold on PostgreSQL (any constant of our own).
MIGRATION_LOCK = 7_310_202_612_021_500


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object):
    # Full-text search is made by hand in the migrations; autogenerate must not drop it.
    return not is_search_object(name, type_)


def database_url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("No database URL: pass -x url=... or set DATABASE_URL")
    # A URL object renders its password as ***; keep it intact.
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if connection.dialect.name == "postgresql":
        # Several server processes may start at once: one migrates, the others wait here
        # (until its commit) and then find the database at head.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    if sqlite:
        # Batch mode rebuilds tables by copy + drop; with FKs on, the DROP would cascade-delete
        # child rows. The pragma is a no-op inside a transaction, so it goes first.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        # pysqlite never BEGINs before DDL, so without this a failed migration would leave
        # a half-built schema behind. An explicit BEGIN makes the whole run atomic; IMMEDIATE
        # takes the write lock first, so a second process migrating at once waits for this one
        # (busy_timeout) and then reads the revision it left, instead of a deadlock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        include_object=include_object,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if violations:
                raise RuntimeError(f"migration left foreign key violations: {violations[:5]}")
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        if sqlite:
            # The connection may go back to the application's pool.
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
