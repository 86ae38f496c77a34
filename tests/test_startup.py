"""A quick start: the server imports neither the voice stack nor alembic before it serves.

`import assistant.server.app` leaves pipecat/aiortc/openai for `VoiceBots.warm_up` (a worker
thread, once the app has started), and the start skips alembic when the database is at head.
These guard the mechanism (what gets imported, what runs), not timings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from assistant.store.database import MIGRATIONS_DIR, Database, alembic_config, script_heads

ROOT = Path(__file__).resolve().parents[1]
VOICE_STACK = ("pipecat", "aiortc", "aioice", "openai", "onnxruntime")
MIGRATION_TOOLS = ("alembic", "mako")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def run_python(code: str, *args: str) -> dict:
    """Run `code` (with `args` as sys.argv[1:]) in a fresh interpreter; it prints one JSON
    object as its last line."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


LOADED = """
def loaded(*packages):
    return sorted({name.split(".")[0] for name in sys.modules} & set(packages))
"""


def test_importing_the_app_and_creating_it_loads_no_voice_stack_or_alembic(tmp_path):
    report = run_python(
        "import json, sys\n" + LOADED + "import assistant.server.app\n"
        f"on_import = loaded(*{VOICE_STACK + MIGRATION_TOOLS!r})\n"
        "from assistant.config import Settings\n"
        "settings = Settings(_env_file=None, groq_api_key='g', cartesia_api_key='c',"
        f" database_url={sqlite_url(tmp_path / 'a.db')!r})\n"
        f"on_settings = loaded(*{VOICE_STACK + MIGRATION_TOOLS!r})\n"
        "before = set(sys.modules)\n"
        "assistant.server.app.create_app(settings)\n"
        "added = {name.split('.')[0] for name in set(sys.modules) - before}\n"
        f"on_create = sorted(added & set({VOICE_STACK + MIGRATION_TOOLS!r}))\n"
        "print(json.dumps({'on_import': on_import, 'on_settings': on_settings,"
        " 'on_create': on_create}))\n"
    )
    assert report == {"on_import": [], "on_settings": [], "on_create": []}


START_THE_APP = (
    "import asyncio, json, sys\n"
    + LOADED
    + """
import assistant.server.app
from assistant.config import Settings
from assistant.server.app import create_app
from assistant.runtime.live_sessions import VoiceBots

assistant.server.app.WARM_UP_DELAY_SECS = 0

warm_ups = []
warm_up = VoiceBots.warm_up
VoiceBots.warm_up = lambda bots: (warm_ups.append(bots), warm_up(bots))[-1]


async def main(url):
    app = create_app(Settings(_env_file=None, groq_api_key="g", cartesia_api_key="c",
                              database_url=url))
    async with app.router.lifespan_context(app):
        for _ in range(1000):  # until the lifespan's timer fires (WARM_UP_DELAY_SECS = 0)
            if warm_ups:
                break
            await asyncio.sleep(0)
        started = warm_ups == [app.state.bots]  # by the lifespan, not by ready() below
        await app.state.bots.ready()  # the warm-up has finished
        return {"warm-up started": started, "voice": loaded("pipecat", "aiortc"),
                "migration": loaded("alembic")}


print(json.dumps(asyncio.run(main(sys.argv[1]))))
"""
)


def start_the_app(url: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", START_THE_APP, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


async def test_start_on_a_database_at_head_skips_alembic_and_warms_the_voice_stack(tmp_path):
    url = sqlite_url(tmp_path / "a.db")
    db = Database(url)
    await db.upgrade()
    await db.dispose()

    report = start_the_app(url)
    assert report == {"warm-up started": True, "voice": ["aiortc", "pipecat"], "migration": []}


async def test_start_on_a_new_database_migrates_it(tmp_path):
    url = sqlite_url(tmp_path / "new.db")
    assert start_the_app(url)["migration"] == ["alembic"]
    db = Database(url)
    try:
        assert await db.current_revision() == _alembic_heads(MIGRATIONS_DIR).pop()
    finally:
        await db.dispose()


def _alembic_heads(migrations_dir: Path) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(None, migrations_dir)).get_heads())


def test_script_heads_agree_with_alembic():
    assert script_heads() == _alembic_heads(MIGRATIONS_DIR)


def _with_revision(tmp_path: Path, source: str) -> Path:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "0002_more.py").write_text(source)
    return migrations


(HEAD,) = script_heads()
NEXT_REVISION = (
    "from alembic import op\n"
    "revision = '0002_more'\n"
    f"down_revision = {HEAD!r}\n"
    "def upgrade():\n"
    "    op.execute('CREATE TABLE more (id INTEGER)')\n"
    "def downgrade():\n"
    "    op.execute('DROP TABLE more')\n"
)


async def test_a_database_behind_is_upgraded_and_one_at_head_left_alone(tmp_path, monkeypatch):
    migrations = _with_revision(tmp_path, NEXT_REVISION)
    assert script_heads(migrations) == _alembic_heads(migrations) == {"0002_more"}
    db = Database(sqlite_url(tmp_path / "a.db"), migrations_dir=migrations)
    try:
        await db.upgrade(HEAD)
        assert await db.upgrade_if_behind() is True
        assert await db.current_revision() == "0002_more"

        async def no_alembic(*args, **kwargs):
            raise AssertionError("alembic ran on a database at head")

        monkeypatch.setattr(db, "upgrade", no_alembic)
        assert await db.upgrade_if_behind() is False
    finally:
        await db.dispose()


async def test_unreadable_scripts_fall_back_to_alembic(tmp_path):
    # A revision id alembic can load but our literal reading can't: ask alembic instead.
    migrations = _with_revision(
        tmp_path, NEXT_REVISION.replace("revision = '0002_more'", "revision = '0002_' + 'more'")
    )
    assert script_heads(migrations) is None
    db = Database(sqlite_url(tmp_path / "a.db"), migrations_dir=migrations)
    try:
        await db.upgrade()
        assert await db.upgrade_if_behind() is True  # alembic ran (and found nothing to do)
        assert await db.current_revision() == "0002_more"
    finally:
        await db.dispose()


@pytest.mark.parametrize("shape", ["merge", "branches"])
def test_script_heads_follow_merges_and_branches(tmp_path, shape):
    down = f"('{HEAD}', '0002_more')" if shape == "merge" else f"'{HEAD}'"
    migrations = _with_revision(tmp_path, NEXT_REVISION)
    (migrations / "versions" / "0003_other.py").write_text(
        f"revision: str = '0003_other'\ndown_revision: tuple | str | None = {down}\n"
        "def upgrade():\n    pass\ndef downgrade():\n    pass\n"
    )
    assert script_heads(migrations) == _alembic_heads(migrations)


def test_the_app_hands_its_one_reminder_scheduler_to_every_session(tmp_path):
    from assistant.config import Settings
    from assistant.runtime.reminders import ReminderScheduler
    from assistant.server.app import create_app

    settings = Settings(
        _env_file=None,
        groq_api_key="g",
        cartesia_api_key="c",
        database_url=sqlite_url(tmp_path / "a.db"),
    )
    app = create_app(settings)
    assert isinstance(app.state.reminders, ReminderScheduler)
    assert app.state.bots.session_hooks == (app.state.reminders.attach,)
