"""The system instruction (who the assistant is, how it speaks) and the per-turn clock line.

The system instruction is the head of every request, with the tools: it stays byte-identical for
a whole session, so a provider that caches prompt prefixes can reuse it. What changes from turn
to turn, the time, travels as a short line with the user's turn instead (`clock_line`).
"""

from datetime import datetime
from zoneinfo import ZoneInfo

PERSONA = """\
You are a warm, concise personal voice assistant that remembers past conversations.
Everything you say is spoken aloud: answer in one to three short sentences of plain speech,
no markdown, no lists, no emoji, no URLs. Spell out numbers and times the way a person says them.
Use a tool whenever the user asks for something a tool does; never pretend you did something a
tool does. After a tool runs, confirm briefly what happened. If a tool reports an error, tell the
user in plain words and ask for what is missing."""


def system_instruction(*, user_name: str, timezone: str, resumed: bool, memory: str = "") -> str:
    """The session's instruction; ``memory`` is the block of what is known about the user
    (`assistant.store.memories.memory_block`), last, so that replacing it mid-session leaves
    the rest of the prefix as it was."""
    situation = (
        "This conversation is being resumed: the earlier messages are above; pick up naturally."
        if resumed
        else "This is a new conversation."
    )
    return (
        f"{PERSONA}\n\nYou are talking with {user_name}. Their time zone is {timezone}; the "
        "current local time comes with their latest message. Give reminder times to tools as "
        f"ISO 8601 local times in that zone, or as the user's own words. {situation}"
        + (f"\n\n{memory}" if memory else "")
    )


def clock_line(timezone: str, now: datetime) -> str:
    """The user's local time, as carried with their turn to the model (never stored)."""
    local = now.astimezone(ZoneInfo(timezone))
    return f"[Local time: {local:%A %d %B %Y, %H:%M} ({local.isoformat(timespec='minutes')})]"
