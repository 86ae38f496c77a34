"""Facts about the user: stored once, superseded by newer ones, forgotten for good, per user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from assistant.store.context import estimate_tokens
from assistant.store.database import Database
from assistant.store.memories import BLOCK_PAGE, MemoryRepository, memory_block, subject_of
from assistant.store.models import Memory
from assistant.store.repository import ConversationRepository

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


async def remember(db: Database, user: int, text: str, **kwargs):
    async with db.transaction() as session:
        return await MemoryRepository(session).remember(user, text, **kwargs)


async def current(db: Database, user: int) -> list[str]:
    async with db.transaction() as session:
        return [m.text for m in await MemoryRepository(session).current(user)]


async def forget(db: Database, user: int, what: str) -> list[str]:
    async with db.transaction() as session:
        return [m.text for m in await MemoryRepository(session).forget(user, what)]


async def test_remember_records_where_it_came_from(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        conversation = await ConversationRepository(session, alice).create()
        message = await ConversationRepository(session, alice).append(
            conversation.id, "user", "remember that my sister is called Ana"
        )
    done = await remember(
        db, alice, "My sister is called Ana", conversation_id=conversation.id, message_id=message.id
    )
    assert done.created and done.superseded == []
    assert done.memory.source_conversation_id == conversation.id
    assert done.memory.source_message_id == message.id
    assert done.memory.subject == subject_of("my sister's name is Ana").subject
    assert await current(db, alice) == ["My sister is called Ana"]


async def test_the_same_fact_twice_is_stored_once(db: Database, alice: int) -> None:
    first = await remember(db, alice, "My sister is called Ana.")
    for again in (
        "my sister's name is Ana",
        "Remember that my sister is called Ana",
        "Ana is my sister",
    ):
        repeat = await remember(db, alice, again)
        assert not repeat.created and repeat.memory.id == first.memory.id, again
    assert await current(db, alice) == ["My sister is called Ana."]


async def test_a_newer_fact_on_the_subject_supersedes_the_old(db: Database, alice: int) -> None:
    old = await remember(db, alice, "I live in Paris", at=T0)
    await remember(db, alice, "I like jazz", at=T0)
    new = await remember(db, alice, "I moved to Berlin", at=T0 + timedelta(days=3))

    assert new.created and [m.id for m in new.superseded] == [old.memory.id]
    assert sorted(await current(db, alice)) == ["I like jazz", "I moved to Berlin"]
    async with db.transaction() as session:
        repo = MemoryRepository(session)
        kept = await repo.get(alice, old.memory.id)
        assert kept is not None and kept.superseded_by_id == new.memory.id
        assert kept.superseded_at == T0 + timedelta(days=3)
        assert [m.id for m in await repo.history(alice, new.memory.id)] == [old.memory.id]
        block = memory_block(await repo.current(alice), 400)
    assert "Berlin" in block and "Paris" not in block


async def test_a_superseded_fact_never_comes_back_as_current(db: Database, alice: int) -> None:
    await remember(db, alice, "My favourite colour is blue")
    await remember(db, alice, "my favorite color is green now")
    async with db.transaction() as session:
        everything = await MemoryRepository(session).current(alice)
        # memory_block ignores a superseded fact even when a caller hands it one.
        all_rows = [
            *everything,
            *(await MemoryRepository(session).history(alice, everything[0].id)),
        ]
    assert [m.text for m in everything] == ["my favorite color is green now"]
    assert "blue" not in memory_block(all_rows, 400)


async def test_unrelated_facts_with_shared_words_both_stay(db: Database, alice: int) -> None:
    await remember(db, alice, "I like jazz")
    await remember(db, alice, "I like hiking")
    await remember(db, alice, "My sister is called Ana")
    await remember(db, alice, "My sister is a nurse")
    assert len(await current(db, alice)) == 4


async def test_forget_by_words_or_description_removes_the_fact_and_its_history(
    db: Database, alice: int
) -> None:
    await remember(db, alice, "I live in Paris")
    await remember(db, alice, "I live in Lisbon")
    await remember(db, alice, "I like jazz")
    await remember(db, alice, "I like hiking")
    await remember(db, alice, "My sister is called Ana")

    assert await forget(db, alice, "where I live") == ["I live in Paris", "I live in Lisbon"]
    assert await forget(db, alice, "that I like jazz") == ["I like jazz"]
    assert await forget(db, alice, "my sister's name") == ["My sister is called Ana"]
    assert await forget(db, alice, "my dentist") == []
    assert await current(db, alice) == ["I like hiking"]
    async with db.transaction() as session:
        assert await session.get(Memory, 1) is None  # for good, not marked


async def test_forget_by_id_and_delete_take_history_too(db: Database, alice: int) -> None:
    await remember(db, alice, "I work at Acme")
    newer = await remember(db, alice, "I work at Globex")
    assert await forget(db, alice, str(newer.memory.id)) == ["I work at Acme", "I work at Globex"]
    await remember(db, alice, "I'm 34")
    last = await remember(db, alice, "I'm 35")
    async with db.transaction() as session:
        assert await MemoryRepository(session).delete(alice, last.memory.id)
        assert await session.scalar(Memory.__table__.select().with_only_columns(Memory.id)) is None


async def test_another_user_never_sees_or_changes_any_of_it(
    db: Database, alice: int, bob: int
) -> None:
    mine = await remember(db, alice, "My sister is called Ana")
    async with db.transaction() as session:
        repo = MemoryRepository(session)
        assert await repo.get(bob, mine.memory.id) is None
        assert await repo.update(bob, mine.memory.id, pinned=True) is None
        assert not await repo.delete(bob, mine.memory.id)
        assert await repo.forget(bob, "my sister") == []
        assert await repo.delete_all(bob) == 0
        await repo.mark_used(bob, [mine.memory.id])
        assert await repo.current(bob) == []
    theirs = await remember(db, bob, "My sister is called Ana")
    assert theirs.created and theirs.memory.id != mine.memory.id
    async with db.transaction() as session:
        kept = await MemoryRepository(session).get(alice, mine.memory.id)
        assert kept is not None and kept.use_count == 0 and not kept.pinned


async def test_another_users_conversation_is_not_recorded_as_the_source(
    db: Database, alice: int, bob: int
) -> None:
    async with db.transaction() as session:
        bobs = await ConversationRepository(session, bob).create()
    done = await remember(db, alice, "I like tea", conversation_id=bobs.id)
    assert done.memory.source_conversation_id is None


async def test_deleting_the_conversation_keeps_the_fact(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        conversation = await ConversationRepository(session, alice).create()
        message = await ConversationRepository(session, alice).append(conversation.id, "user", "hi")
    done = await remember(
        db, alice, "I like tea", conversation_id=conversation.id, message_id=message.id
    )
    async with db.transaction() as session:
        assert await ConversationRepository(session, alice).delete(conversation.id)
    async with db.transaction() as session:
        kept = await MemoryRepository(session).get(alice, done.memory.id)
    assert kept is not None and kept.text == "I like tea"
    assert kept.source_conversation_id is None and kept.source_message_id is None


async def test_update_pin_and_the_block_order(db: Database, alice: int) -> None:
    a = await remember(db, alice, "I like tea", at=T0)
    b = await remember(db, alice, "I like hiking", at=T0 + timedelta(hours=1))
    c = await remember(db, alice, "I have a dog called Rex", at=T0 + timedelta(hours=2))
    async with db.transaction() as session:
        repo = MemoryRepository(session)
        await repo.mark_used(alice, [a.memory.id], at=T0 + timedelta(days=1))
        await repo.update(alice, b.memory.id, pinned=True)
        edited = await repo.update(alice, c.memory.id, text="I have a dog called Max")
        assert edited is not None and edited.subject == subject_of("my dog's name is Rex").subject
        order = [m.text for m in await repo.current(alice)]
        block = memory_block(await repo.current(alice), 400)
    assert order == ["I like hiking", "I like tea", "I have a dog called Max"]
    assert block.splitlines()[1:] == [f"- {text}" for text in order]
    with pytest.raises(ValueError):
        async with db.transaction() as session:
            await MemoryRepository(session).update(alice, a.memory.id, text="  ")


def _memory(n: int, text: str, **kwargs) -> Memory:
    values = {
        "id": n,
        "user_id": 1,
        "text": text,
        "subject": "~",
        "pinned": False,
        "use_count": 0,
        "created_at": T0,
        "updated_at": T0 + timedelta(minutes=n),
        "superseded_at": None,
        "last_used_at": None,
    }
    values.update(kwargs)
    return Memory(**values)


@pytest.mark.parametrize("budget", [0, 10, 25, 40, 80, 400])
def test_the_block_never_exceeds_its_budget(budget: int) -> None:
    memories = [_memory(n, f"fact number {n} " + "word " * (n % 7)) for n in range(1, 60)]
    block = memory_block(memories, budget)
    if block:
        assert estimate_tokens({"content": block}) <= budget
    assert memory_block(memories, 400).count("\n- ") > 10
    assert memory_block([], 400) == ""


def test_the_block_puts_pinned_then_used_then_recent_first_and_skips_what_does_not_fit() -> None:
    memories = [
        _memory(1, "old and unused"),
        _memory(2, "newer and unused"),
        _memory(3, "used twice", use_count=2),
        _memory(4, "pinned", pinned=True),
        _memory(5, "a very long fact " * 40),
    ]
    block = memory_block(memories, 60)
    assert block.splitlines()[1:] == [
        "- pinned",
        "- used twice",
        "- newer and unused",
        "- old and unused",
    ]


async def test_spelling_variants_are_one_subject(db: Database, alice: int) -> None:
    await remember(db, alice, "My email is ana@old.com")
    newer = await remember(db, alice, "My e-mail is ana@new.com")
    assert [m.text for m in newer.superseded] == ["My email is ana@old.com"]
    await remember(db, alice, "I'm afraid of flying")
    assert await forget(db, alice, "my fear of flying") == ["I'm afraid of flying"]


async def test_forget_by_a_word_of_the_subject(db: Database, alice: int) -> None:
    await remember(db, alice, "I'm allergic to peanuts")
    await remember(db, alice, "I'm allergic to cats")
    assert await forget(db, alice, "the peanut allergy") == ["I'm allergic to peanuts"]
    assert await current(db, alice) == ["I'm allergic to cats"]


@pytest.mark.parametrize("budget", [0, 6, 40, 150, 400, 2_000])
async def test_the_stored_block_is_the_block_of_the_current_facts(
    db: Database, alice: int, budget: int
) -> None:
    # Facts of every length, some pinned, some used, some superseded: what a session start reads
    # (MemoryRepository.block, a page at a time) is memory_block of all of them.
    rows = [
        {
            "user_id": alice,
            "text": f"fact {n} " + "word " * (n * 7 % 23),
            "subject": f"s{n}",
            "pinned": n % 31 == 0,
            "use_count": n % 5,
            "created_at": T0,
            "updated_at": T0 + timedelta(minutes=n),
            "superseded_at": T0 if n % 9 == 0 else None,
        }
        for n in range(300)
    ]
    async with db.transaction() as session:
        session.add_all(Memory(**row) for row in rows)
    async with db.transaction() as session:
        repo = MemoryRepository(session)
        text, ids = await repo.block(alice, budget)
        everything = await repo.current(alice)
    assert text == memory_block(everything, budget)
    by_id = {m.id: m.text for m in everything}
    assert ["- " + " ".join(by_id[i].split()) for i in ids] == text.splitlines()[1:]


async def test_the_stored_block_reads_only_until_it_is_full(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        session.add_all(
            Memory(
                user_id=alice,
                text=f"a fact of some length, number {n}",
                subject=f"s{n}",
                created_at=T0,
                updated_at=T0 + timedelta(minutes=n),
            )
            for n in range(2_000)
        )
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with db.transaction() as session:
            text, ids = await MemoryRepository(session).block(alice, 400)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert 20 < len(ids) < BLOCK_PAGE
    # The facts that fit and the few tried after the first that did not: one page of 2,000.
    assert len([s for s in statements if "FROM memories" in s]) == 1
