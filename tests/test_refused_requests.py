"""Groq refuses an LLM request itself (400): the turn is retried once with a repaired context,
the user hears at most one short apology, and the refused request never goes out again."""

from __future__ import annotations

import asyncio
from typing import Any

from assistant.pipeline.outages import APOLOGIES
from assistant.store.repository import ConversationRepository
from fakes.groq import prompt_tokens
from fakes.harness import without_clock
from tests.store.test_overflow import stored_summaries
from tests.test_faults import spoken

EXCHANGES = 40


def history(i: int) -> tuple[str, str]:
    return (
        f"Tell me about town number {i} and the weather there this week.",
        f"Town number {i} has mild weather this week, with some sun on most days.",
    )


async def seeded(headless, exchanges: int = EXCHANGES) -> str:
    """A conversation well within the resume budget, but long."""
    spec = await headless.open_conversation("alice")
    async with headless.db.transaction() as store:
        repo = ConversationRepository(store, spec.user_id)
        for i in range(exchanges):
            said, answered = history(i)
            await repo.append(spec.conversation_id, "user", said)
            await repo.append(spec.conversation_id, "assistant", answered)
    return spec.conversation_id


def answering(fake_groq, *answers: str) -> None:
    """The model answers the user in order (then "OK."); summary requests get a summary."""
    queue = list(answers)

    def reply(body: dict[str, Any]) -> str:
        if not body.get("stream"):
            return "Alice asked about the weather in many towns."
        return queue.pop(0) if queue else "OK."

    fake_groq.default_reply = reply


def replies(fake_groq) -> list[dict[str, Any]]:
    return [r for r in fake_groq.chat_requests if r.get("stream")]


def apologies(fake_cartesia) -> int:
    text = spoken(fake_cartesia)
    return sum(text.count(apology) for apology in set(APOLOGIES.values()))


def last_user_words(request: dict) -> str | None:
    """The request's last message, a user's, as the user said it (without the clock line)."""
    last = request["messages"][-1]
    assert last["role"] == "user", last
    return without_clock(last["content"])


async def test_a_request_too_long_is_repaired_and_answered(headless, fake_groq, fake_cartesia):
    conversation_id = await seeded(headless)
    answering(fake_groq, "Town one is lovely.", "Town two is lovely too.", "Town three, also.")
    async with headless.session(conversation_id=conversation_id) as live:
        await live.user_said("what about town one")
        # The model's window turns out smaller than the budget: the next request won't fit.
        fake_groq.context_limit = prompt_tokens(replies(fake_groq)[-1])
        await live.user_said("and town two")
        refused, retried = replies(fake_groq)[-2:]
        await live.user_said("and town three")
        assert live.session.llm.is_usable
        # ... and the older history is folded into a summary.
        await asyncio.wait_for(live.session.summarizer.wait_applied(1), 10)
        summaries = await stored_summaries(headless.db, conversation_id)

    assert fake_groq.context_refusals == 1  # once, not every turn after
    assert prompt_tokens(refused) > fake_groq.context_limit >= prompt_tokens(retried)
    assert last_user_words(retried) == "and town two"
    assert retried["messages"][0] == refused["messages"][0]  # the system instruction as it was
    assert prompt_tokens(replies(fake_groq)[-1]) <= fake_groq.context_limit
    assert "Town two is lovely too." in spoken(fake_cartesia)
    assert "Town three, also." in spoken(fake_cartesia)
    assert apologies(fake_cartesia) == 0
    assert summaries


async def test_a_refused_message_is_dropped(headless, fake_groq, fake_cartesia):
    conversation_id = await seeded(headless, exchanges=2)
    bad = {"role": "assistant", "content": "Green it is.", "refusal": None}  # Groq: unsupported
    answering(fake_groq, "Your colour is green.", "Still green.")
    async with headless.session(conversation_id=conversation_id) as live:
        live.session.context.messages.insert(2, bad)
        await live.user_said("which colour")
        await live.user_said("once more")
        assert live.session.llm.is_usable
        context = list(live.session.context.messages)

    refused, retried, following = replies(fake_groq)
    assert bad in refused["messages"]
    assert len(fake_groq.protocol_errors) == 1 and "refusal" in fake_groq.protocol_errors[0]
    assert bad not in retried["messages"] and bad not in following["messages"]
    assert bad not in context
    assert last_user_words(retried) == "which colour"
    assert last_user_words(following) == "once more"
    assert "Your colour is green." in spoken(fake_cartesia)
    assert "Still green." in spoken(fake_cartesia)
    assert apologies(fake_cartesia) == 0


async def test_a_refusal_the_repair_cannot_fix_gets_one_apology(headless, fake_groq, fake_cartesia):
    conversation_id = await seeded(headless)
    fake_groq.context_limit = 10  # not even the system instruction fits
    async with headless.session(conversation_id=conversation_id) as live:
        await live.user_said("what about town one")
        await fake_cartesia.wait_for(lambda: APOLOGIES["llm"] in spoken(fake_cartesia))
        assert len(replies(fake_groq)) == 2  # the request and its one repaired retry
        assert live.session.llm.is_usable

        fake_groq.context_limit = None
        answering(fake_groq, "Town one is lovely.")
        await live.user_said("what about town one")
        await fake_cartesia.wait_for(lambda: "Town one is lovely." in spoken(fake_cartesia))
        assert live.session.llm.is_usable

    assert fake_groq.context_refusals == 2
    assert apologies(fake_cartesia) == 1
    assert len(replies(fake_groq)) == 3
