"""Recall across conversations in a live session: what was said in one conversation is what the
search tool hands the model in another, and never in another user's."""

from __future__ import annotations

import json

from assistant.tools.registry import default_tools


def tool_result(request: dict) -> dict:
    [message] = [m for m in request["messages"] if m["role"] == "tool"]
    return json.loads(message["content"])


async def test_what_was_said_in_one_conversation_is_found_from_the_next(headless, fake_groq):
    headless.tool_factory = default_tools
    fake_groq.reply_text("Porto in May it is.")
    async with headless.session(user="alice") as live:
        await live.user_said("we decided the trip goes to Porto in May")
        await live.wait_for_messages(lambda rows: any(m.role == "assistant" for m in rows))

    for user in ("alice", "bob"):
        before = len(fake_groq.chat_requests)
        fake_groq.reply_tool_call("search_conversations", {"query": "trip"})
        fake_groq.reply_text("We said Porto, in May.")
        async with headless.session(user=user) as live:  # a new conversation
            await live.user_said("what did we decide about the trip")
            await fake_groq.wait_for_chat_requests(before + 2, timeout=10)
        found = tool_result(fake_groq.chat_requests[before + 1])
        said = " ".join(r["said"] for r in found["results"])
        if user == "alice":
            assert "Porto in May" in said
        else:
            assert found["results"] == [] and "Porto" not in json.dumps(found)
    assert fake_groq.protocol_errors == []
