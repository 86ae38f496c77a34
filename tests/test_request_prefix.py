"""Each request starts with the same bytes all session long (system instruction, memory block,
tools), so a provider that caches prompt prefixes can reuse them; the time, which changes every
turn, travels with the user's latest words instead, and is never stored as theirs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from assistant.store.context import SUMMARY_PREFIX
from assistant.store.repository import ConversationRepository
from assistant.tools.registry import default_tools

ZONE = "Europe/Paris"


def prefix(body: dict) -> str:
    """System instruction, the summary (the memory block), tools: as the fake received them."""
    return json.dumps([body["messages"][:2], body["tools"]])


async def test_turns_share_the_prefix_and_each_carries_its_own_time(headless, fake_groq):
    clock = [datetime(2026, 3, 14, 9, 5, tzinfo=UTC)]
    headless.now = lambda: clock[0]
    headless.tool_factory = default_tools
    spec = await headless.open_conversation(timezone=ZONE)
    async with headless.db.transaction() as store:
        repo = ConversationRepository(store, spec.user_id)
        await repo.append(spec.conversation_id, "user", "my sister's birthday is on the 12th")
        await repo.append(spec.conversation_id, "assistant", "Noted, the twelfth.")
        await repo.append_summary(spec.conversation_id, "Alice's sister: birthday the 12th.", 2)

    fake_groq.reply_text("Hello again.")
    fake_groq.reply_text("It is quarter to eleven.")
    async with headless.session(conversation_id=spec.conversation_id, timezone=ZONE) as live:
        await live.user_says("hello there")
        await live.wait_for_messages(lambda rows: any(m.content == "Hello again." for m in rows))
        clock[0] += timedelta(minutes=42)
        await live.user_says("what time is it")
        rows = await live.wait_for_messages(
            lambda rows: any(m.content == "It is quarter to eleven." for m in rows)
        )

    first, second = fake_groq.chat_requests
    assert first["messages"][1]["content"].startswith(SUMMARY_PREFIX)  # resumed: memory block
    assert prefix(first) == prefix(second)
    assert "10:05" not in json.dumps(first["messages"][0])  # no clock in the system instruction
    # 09:05 UTC is 10:05 in Paris; the second turn has the clock of its own time, 10:47.
    assert first["messages"][-1] == {
        "role": "user",
        "content": "[Local time: Saturday 14 March 2026, 10:05 (2026-03-14T10:05+01:00)]\n"
        "hello there",
    }
    assert second["messages"][-1] == {
        "role": "user",
        "content": "[Local time: Saturday 14 March 2026, 10:47 (2026-03-14T10:47+01:00)]\n"
        "what time is it",
    }
    # Earlier turns go as they were said (so as stored), and what is stored is the user's words.
    assert {"role": "user", "content": "hello there"} in second["messages"]
    assert [m.content for m in rows if m.role == "user"] == [
        "my sister's birthday is on the 12th",
        "hello there",
        "what time is it",
    ]
    assert fake_groq.protocol_errors == []
