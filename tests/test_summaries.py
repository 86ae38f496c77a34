"""A conversation that outgrows the resume budget is condensed into a summary when a session
ends, and the next session resumes from it: what fell out of the window is not forgotten."""

from __future__ import annotations

from assistant.pipeline.summarizer import SUMMARY_INSTRUCTION
from assistant.store.context import SUMMARY_PREFIX
from assistant.store.repository import ConversationRepository
from fakes.groq import ErrorReply
from tests.store.test_overflow import (
    BUDGET,
    OLDEST,
    SISTER,
    long_conversation,
    stored_summaries,
)

ANSWER = "Margaret, in Lisbon."


async def test_session_end_condenses_and_the_next_session_resumes_from_it(
    headless, fake_groq, fake_cartesia
):
    headless.settings = headless.settings.model_copy(update={"context_token_budget": BUDGET})
    _, conversation_id = await long_conversation(headless.db)
    fake_groq.reply_text("Noted.")
    fake_groq.reply_text(SISTER)  # the summary
    async with headless.session(conversation_id=conversation_id) as live:
        await live.user_says("remember that")
        await live.wait_for_messages(lambda rows: any(m.content == "Noted." for m in rows))

    summarizing = fake_groq.chat_requests[-1]
    assert not summarizing.get("stream")
    assert summarizing["messages"][0] == {"role": "system", "content": SUMMARY_INSTRUCTION}
    assert f"User: {OLDEST}" in summarizing["messages"][1]["content"]
    [summary] = await stored_summaries(headless.db, conversation_id)
    assert summary.content == SISTER

    fake_groq.reply_text(ANSWER)
    async with headless.session(conversation_id=conversation_id) as live:
        await live.user_says("where does my sister live")
        await live.wait_for_messages(
            lambda rows: any(m.content == "Margaret, in Lisbon." for m in rows)
        )
    resumed = [r for r in fake_groq.chat_requests if r.get("stream")][-1]
    contents = [m.get("content") for m in resumed["messages"]]
    assert SUMMARY_PREFIX + SISTER in contents
    assert OLDEST not in contents  # condensed, not sent again word for word


async def test_a_failed_summary_loses_nothing(headless, fake_groq, fake_cartesia):
    headless.settings = headless.settings.model_copy(update={"context_token_budget": BUDGET})
    user_id, conversation_id = await long_conversation(headless.db)
    # Every summary request (in the session and at its end, each with its one retry) fails.
    fake_groq.default_reply = lambda body: "Noted." if body.get("stream") else ErrorReply(500)
    async with headless.session(conversation_id=conversation_id) as live:
        await live.user_says("remember that")
        await live.wait_for_messages(lambda rows: any(m.content == "Noted." for m in rows))

    summary_requests = [r for r in fake_groq.chat_requests if not r.get("stream")]
    assert len(summary_requests) >= 2
    assert await stored_summaries(headless.db, conversation_id) == []
    async with headless.db.transaction() as store:
        messages = await ConversationRepository(store, user_id).messages(conversation_id)
    assert messages[0].content == OLDEST and messages[-1].content == "Noted."
