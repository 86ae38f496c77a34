"""A long live session stays within the token budget: each request carries the summary, the
newest history that fits and the current turn; older turns are folded into a stored summary in
the background, and no reply waits for it."""

from __future__ import annotations

import asyncio
from typing import Any

from assistant.store.context import SUMMARY_PREFIX, estimate_tokens
from assistant.store.repository import ConversationRepository
from fakes.groq import FakeGroq
from tests.store.test_overflow import stored_summaries

BUDGET = 200
TURNS = 24


def question(i: int) -> str:
    return f"Question {i}: what is the weather like in town number {i} today?"


def answer(i: int) -> str:
    return f"In town number {i} it is sunny and mild, about {i + 10} degrees."


def summary_text(n: int) -> str:
    return f"Summary {n}: Alice asked about the weather in many towns; all were sunny."


class Replies:
    """The fake model: numbered answers, and numbered summaries (which may be held back)."""

    def __init__(self, fake: FakeGroq):
        self.answers = 0
        self.summaries = 0
        self.summaries_may_finish = asyncio.Event()
        self.summaries_may_finish.set()
        fake.default_reply = self

    async def __call__(self, body: dict[str, Any]) -> str:
        if body.get("stream"):
            self.answers += 1
            return answer(self.answers - 1)
        self.summaries += 1
        await self.summaries_may_finish.wait()
        return summary_text(self.summaries)


def replies(fake: FakeGroq) -> list[dict[str, Any]]:
    return [r for r in fake.chat_requests if r.get("stream")]


def current_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last_user = max(
        i
        for i, m in enumerate(messages)
        if m["role"] == "user" and not m["content"].startswith(SUMMARY_PREFIX)
    )
    return messages[last_user:]


def assert_within_budget(request: dict[str, Any]) -> None:
    messages = request["messages"]
    assert messages[0]["role"] == "system"
    sent = sum(estimate_tokens(m) for m in messages[1:])
    turn = sum(estimate_tokens(m) for m in current_turn(messages))
    assert sent <= BUDGET + turn, [m["content"][:30] for m in messages]


async def test_a_long_session_stays_within_the_budget(headless, fake_groq, fake_cartesia):
    headless.settings = headless.settings.model_copy(update={"context_token_budget": BUDGET})
    Replies(fake_groq)
    async with headless.session() as live:
        for i in range(TURNS):
            await live.user_said(question(i))
        summaries = await stored_summaries(headless.db, live.spec.conversation_id)
        context = list(live.session.context.messages)

    requests = replies(fake_groq)
    assert len(requests) == TURNS
    said = sum(
        estimate_tokens({"role": "user", "content": question(i)})
        + estimate_tokens({"role": "assistant", "content": answer(i)})
        for i in range(TURNS)
    )
    assert said > 3 * BUDGET  # long enough to need several summaries
    for request in requests:
        assert_within_budget(request)
    # The system instruction is left alone: the summary comes after it.
    assert len({r["messages"][0]["content"] for r in requests}) == 1
    assert summaries, "no summary was stored during the session"
    # Later requests carry a stored summary right after the system instruction, and the live
    # context was rewritten from it (not just trimmed request by request).
    stored = {SUMMARY_PREFIX + s.content for s in summaries}
    assert requests[-1]["messages"][1]["content"] in stored
    assert context[0]["content"] in stored
    assert len(context) < 2 * TURNS
    assert fake_groq.protocol_errors == []
    # Every word is still stored.
    async with headless.db.session() as store:
        rows = await ConversationRepository(store, live.spec.user_id).messages(
            live.spec.conversation_id
        )
    assert [m.content for m in rows if m.role == "user"] == [question(i) for i in range(TURNS)]


async def test_replies_do_not_wait_for_the_summary(headless, fake_groq, fake_cartesia):
    headless.settings = headless.settings.model_copy(update={"context_token_budget": BUDGET})
    model = Replies(fake_groq)
    model.summaries_may_finish.clear()  # the summary request hangs until the test says
    async with headless.session() as live:
        turn = 0
        while model.summaries == 0 and turn < TURNS:
            await live.user_said(question(turn))
            turn += 1
        assert model.summaries == 1, "no summary was asked for"
        before = len(replies(fake_groq))
        for _ in range(4):  # answered while the summary is still being written
            await live.user_said(question(turn))
            turn += 1
        assert model.summaries == 1
        assert await stored_summaries(headless.db, live.spec.conversation_id) == []
        waiting = replies(fake_groq)[before:]
        for request in waiting:  # the oldest turns trimmed instead
            assert_within_budget(request)
            assert not request["messages"][1]["content"].startswith(SUMMARY_PREFIX)

        model.summaries_may_finish.set()
        await asyncio.wait_for(live.session.summarizer.wait_applied(1), 10)
        await live.user_said(question(turn))
        stored = await stored_summaries(headless.db, live.spec.conversation_id)
    # The next reply carries it (or the one made right after it, from the turns said meanwhile).
    last = replies(fake_groq)[-1]
    assert last["messages"][1]["content"] in {SUMMARY_PREFIX + s.content for s in stored}
    assert_within_budget(last)
