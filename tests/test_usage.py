"""Token usage: each response's `usage` is asked for, logged, stored and summed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loguru import logger
from sqlalchemy import select

from assistant.store.models import LLMUsage
from assistant.store.repository import UsageRepository
from assistant.tools.registry import default_tools


async def test_each_responses_usage_is_logged_stored_and_summed(headless, fake_groq):
    headless.tool_factory = default_tools
    fake_groq.reply_tool_call("take_note", {"content": "buy oat milk"})
    fake_groq.reply_text("Noted: buy oat milk.")
    fake_groq.reply_text("You're welcome.")
    logged: list[str] = []
    sink = logger.add(lambda message: logged.append(message), level="INFO", format="{message}")
    try:
        async with headless.session(user="alice") as live:
            await live.user_says("please take a note buy oat milk")
            await live.wait_for_messages(
                lambda rows: any(m.content == "Noted: buy oat milk." for m in rows)
            )
            await live.user_says("thank you")
            await live.wait_for_messages(
                lambda rows: any(m.content == "You're welcome." for m in rows)
            )
            spec = live.spec
    finally:
        logger.remove(sink)

    # Asked for in every streamed request; the fake then reports each completion's usage.
    assert all(r["stream_options"] == {"include_usage": True} for r in fake_groq.chat_requests)
    reported = [(u["prompt_tokens"], u["completion_tokens"]) for u in fake_groq.usage_reported]
    assert len(reported) == 3  # the tool call, its answer, the second turn
    async with headless.db.session() as store:
        rows = (await store.scalars(select(LLMUsage).order_by(LLMUsage.id))).all()
        usage = UsageRepository(store, spec.user_id)
        total = await usage.conversation_total(spec.conversation_id)
        days = await usage.by_day(datetime.now(UTC) - timedelta(days=1))
    assert [(r.prompt_tokens, r.completion_tokens) for r in rows] == reported
    assert {(r.user_id, r.conversation_id, r.purpose) for r in rows} == {
        (spec.user_id, spec.conversation_id, "reply")
    }
    assert (total.requests, total.prompt_tokens, total.completion_tokens) == (
        3,
        sum(p for p, _ in reported),
        sum(c for _, c in reported),
    )
    assert sum(day.total_tokens for day in days) == total.total_tokens
    usage_lines = [line for line in logged if line.startswith("LLM usage in ")]
    assert [line.split(": ", 1)[1].strip() for line in usage_lines] == [
        f"{p} prompt tokens, {c} completion tokens" for p, c in reported
    ]
