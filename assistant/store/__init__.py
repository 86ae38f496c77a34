"""Persistence: SQLite via async SQLAlchemy, alembic migrations, user-scoped repositories.

* ``database.Database``: engine + session factory + ``upgrade()``.
* ``repository``: ``UserRepository`` and the per-user ``Conversation``/``Note``/``Reminder``
  repositories, the only code that touches the tables.
* ``context.load_context``: resume a conversation as an OpenAI-format message list.
"""
