"""`assistant user add|passwd|list|remove`: the accounts AUTH=password signs in with.

Passwords are read with getpass (twice, to catch a typo) or, with ``--password-stdin``, as one
line of standard input for scripts; they are never printed or logged, and only their argon2id
hash is stored.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from argparse import Namespace

from assistant.config import Settings
from assistant.store.accounts import (
    MAX_PASSWORD_CHARS,
    AccountRepository,
    Passwords,
    UserExistsError,
    WebSessionRepository,
)
from assistant.store.database import Database

MIN_PASSWORD_CHARS = 8


class CommandError(Exception):
    """Said to the person at the terminal, and the command exits 1."""


def add_parsers(commands) -> None:
    """The `user` command and its sub-commands, on `assistant`'s sub-parsers."""
    user = commands.add_parser("user", help="accounts for AUTH=password")
    actions = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in (("add", "add a user"), ("passwd", "change a user's password")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("name")
        action.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
    actions.add_parser("list", help="list the users")
    remove = actions.add_parser("remove", help="delete a user and everything of theirs")
    remove.add_argument("name")
    remove.add_argument("--yes", action="store_true", help="do not ask for a confirmation")


def run(settings: Settings, args: Namespace) -> int:
    try:
        return asyncio.run(_run(settings, args))
    except CommandError as error:
        print(error, file=sys.stderr)
        return 1


async def _run(settings: Settings, args: Namespace) -> int:
    if args.action in ("add", "passwd"):
        # Asked before the database is opened: a typo costs nothing.
        password = read_password(args.password_stdin)
        password_hash = await asyncio.to_thread(Passwords().hash, password)
    async with Database(settings.database_url) as db:
        await db.upgrade_if_behind()
        name = getattr(args, "name", "").strip()
        if args.action == "add":
            async with db.transaction() as store:
                try:
                    await AccountRepository(store).add(name, password_hash)
                except UserExistsError:
                    raise CommandError(
                        f"{name} exists already; `assistant user passwd {name}` sets a new "
                        "password."
                    ) from None
                except ValueError as error:
                    raise CommandError(str(error)) from None
            print(f"Added {name}.{_auth_note(settings)}")
        elif args.action == "passwd":
            async with db.transaction() as store:
                user = await _existing(AccountRepository(store), name)
                await AccountRepository(store).set_password(user.id, password_hash)
                ended = await WebSessionRepository(store).end_all(user.id)
            print(f"New password for {name}; signed out of {ended} browser session(s).")
        elif args.action == "list":
            async with db.transaction() as store:
                accounts = await AccountRepository(store).list()
            if not accounts:
                print("No users yet: `assistant user add NAME` adds one.")
            width = max((len(a.name) for a in accounts), default=0)
            for account in accounts:
                password = "password set" if account.has_password else "no password (can't sign in)"
                print(
                    f"{account.name:<{width}}  {password}  {account.sessions} session(s)  "
                    f"since {account.created_at:%Y-%m-%d}"
                )
        elif args.action == "remove":
            async with db.transaction() as store:
                await _existing(AccountRepository(store), name)
            if not args.yes and not _confirm(
                f"Delete {name} and everything of theirs (conversations, notes, reminders, "
                "sessions)? This cannot be undone. [y/N] "
            ):
                print("Nothing deleted.")
                return 1
            async with db.transaction() as store:
                await AccountRepository(store).remove(name)
            print(f"Deleted {name} and everything of theirs.")
    return 0


async def _existing(accounts: AccountRepository, name: str):
    user = await accounts.by_name(name)
    if user is None:
        raise CommandError(f"No user {name!r}; `assistant user list` shows them.")
    return user


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Same password again: ") != password:
            raise CommandError("The two passwords differ; nothing changed.")
    if len(password) < MIN_PASSWORD_CHARS:
        raise CommandError(f"A password needs at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise CommandError(f"A password may have at most {MAX_PASSWORD_CHARS} characters.")
    return password


def _auth_note(settings: Settings) -> str:
    if settings.auth == "password":
        return ""
    return " (AUTH is none here, so the page asks only for a name; set AUTH=password to sign in.)"
