"""What a resume would leave out (`find_overflow`), and how a summary of it makes it fit."""

from __future__ import annotations

from sqlalchemy import select

from assistant.store.context import (
    MAX_OVERFLOW_BUDGETS,
    SUMMARY_PREFIX,
    estimate_tokens,
    find_overflow,
    load_context,
)
from assistant.store.models import Message, MessageKind
from assistant.store.repository import ConversationRepository, UserRepository

BUDGET = 256
OLDEST = "My sister's name is Margaret and she lives in Lisbon."
SISTER = "Alice's sister Margaret lives in Lisbon."  # a summary of it


async def long_conversation(db, user: str = "alice", exchanges: int = 30) -> tuple[int, str]:
    """A conversation well over BUDGET tokens, OLDEST its first user message."""
    async with db.transaction() as store:
        account = await UserRepository(store).get_or_create(user)
        conversations = ConversationRepository(store, account.id)
        conversation_id = (await conversations.create()).id
        for i in range(exchanges):
            said = OLDEST if i == 0 else f"Question number {i} about the weather in town today?"
            await conversations.append(conversation_id, "user", said)
            await conversations.append(conversation_id, "assistant", f"Answer number {i}, sunny.")
    return account.id, conversation_id


async def stored_summaries(db, conversation_id: str) -> list[Message]:
    async with db.transaction() as store:
        rows = await store.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .where(Message.kind == MessageKind.SUMMARY)
        )
        return list(rows)


async def test_overflow_is_the_older_part_and_a_summary_makes_everything_fit(db):
    user_id, conversation_id = await long_conversation(db)
    async with db.transaction() as store:
        overflow = await find_overflow(store, user_id, conversation_id, BUDGET)
        before = await load_context(store, user_id, conversation_id, BUDGET)
    assert overflow is not None
    assert overflow.transcript[0] == {"role": "user", "content": OLDEST}
    assert all(OLDEST not in m["content"] for m in before)  # forgotten without a summary

    async with db.transaction() as store:
        repo = ConversationRepository(store, user_id)
        await repo.append_summary(
            conversation_id, "Alice's sister Margaret lives in Lisbon.", overflow.until_seq
        )
    async with db.transaction() as store:
        after = await load_context(store, user_id, conversation_id, BUDGET)
        again = await find_overflow(store, user_id, conversation_id, BUDGET)
        kept = (
            await store.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.seq > overflow.until_seq)
                .where(Message.kind == MessageKind.MESSAGE)
                .order_by(Message.seq)
            )
        ).all()
    assert after[0]["content"] == SUMMARY_PREFIX + SISTER
    # Every message after the summary is in the context, from a user turn on, in order.
    assert [m["content"] for m in after[1:]] == [m.content for m in kept]
    assert kept[0].role == "user"
    assert again is None  # nothing left over until the conversation grows


async def test_another_users_conversation_has_no_overflow(db, bob):
    _, conversation_id = await long_conversation(db)
    async with db.transaction() as store:
        assert await find_overflow(store, bob, conversation_id, BUDGET) is None


async def test_one_request_condenses_at_most_a_few_budgets_the_newest_first(db):
    user_id, conversation_id = await long_conversation(db, exchanges=150)
    async with db.transaction() as store:
        overflow = await find_overflow(store, user_id, conversation_id, BUDGET)
    assert overflow is not None
    tokens = sum(estimate_tokens(m) for m in overflow.transcript)
    assert tokens <= MAX_OVERFLOW_BUDGETS * BUDGET
    assert all(m["content"] != OLDEST for m in overflow.transcript)  # the oldest part is left
    # ... and what is condensed runs right up to the cut.
    assert overflow.transcript[-1]["content"].startswith("Answer number")
    async with db.transaction() as store:
        first_kept = await store.scalar(
            select(Message.content).where(
                Message.conversation_id == conversation_id, Message.seq == overflow.until_seq + 1
            )
        )
    assert first_kept.startswith("Question number")
    previous = int(overflow.transcript[-1]["content"].split()[2].rstrip(","))
    assert first_kept == f"Question number {previous + 1} about the weather in town today?"
