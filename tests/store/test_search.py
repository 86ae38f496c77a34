"""Recall across conversations: the FTS index follows the messages, and search is per user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from assistant.store import search_postgres
from assistant.store.database import Database
from assistant.store.models import Message
from assistant.store.repository import ConversationRepository
from assistant.store.search import SearchRepository, query_terms, snippet


async def conversation(
    db: Database, user: int, *lines: tuple[str, str], at: datetime | None = None
):
    async with db.transaction() as session:
        repo = ConversationRepository(session, user)
        made = await repo.create()
        for role, content in lines:
            message = await repo.append(made.id, role, content)
            if at is not None:
                await session.execute(
                    update(Message).where(Message.id == message.id).values(created_at=at)
                )
        return made.id


async def search(db: Database, user: int, query: str, **kwargs):
    async with db.transaction() as session:
        return await SearchRepository(session).search(user, query, **kwargs)


async def integrity_check(db: Database) -> None:
    """SQLite: the FTS5 index agrees with the messages. PostgreSQL keeps its GIN index in step
    itself: there, the index is there and valid."""
    async with db.engine.begin() as conn:
        if db.url.get_backend_name() == "sqlite":
            await conn.exec_driver_sql(
                "INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')"
            )
        else:
            valid = await conn.exec_driver_sql(
                "SELECT indisvalid FROM pg_index "
                "WHERE indexrelid = 'ix_messages_content_fts'::regclass"
            )
            assert valid.scalar_one() is True


async def test_finds_what_was_said_in_another_conversation(db: Database, alice: int) -> None:
    trip = await conversation(
        db,
        alice,
        ("user", "Let's plan the trip to Porto"),
        ("assistant", "Sure. Train or plane?"),
        ("user", "We decided on the train, leaving on the 12th of May"),
    )
    await conversation(db, alice, ("user", "What's the weather like?"), ("assistant", "Sunny."))

    hits = await search(db, alice, "what did we decide about the Porto trip")

    assert hits and hits[0].conversation_id == trip
    assert {h.conversation_id for h in hits} == {trip}
    assert any("train" in h.snippet for h in hits)
    assert hits[0].conversation_title == "Let's plan the trip to Porto"
    assert hits[0].role == "user" and hits[0].message_id is not None


async def test_nothing_relevant_gives_nothing(db: Database, alice: int) -> None:
    await conversation(db, alice, ("user", "My dentist appointment is on Friday"))
    assert await search(db, alice, "what did I say about my cat's vet appointment") == []
    assert await search(db, alice, "what did we talk about") == []
    assert await search(db, alice, "") == []
    assert await search(db, alice, 'NEAR(" * AND') == []


async def test_tool_plumbing_is_not_searched_but_summaries_are(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        repo = ConversationRepository(session, alice)
        made = await repo.create()
        call = [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "take_note", "arguments": '{"content": "zebra crossing"}'},
            }
        ]
        await repo.append(made.id, "assistant", None, tool_calls=call)
        await repo.append(
            made.id, "tool", '{"ok": true, "note": "zebra crossing"}', tool_call_id="c1"
        )
        await repo.append(made.id, "user", "hello there")
        await repo.append_summary(made.id, "They talked about the zebra exhibit at the zoo.", 3)
    hits = await search(db, alice, "zebra")
    assert [(h.role, h.message_id) for h in hits] == [("summary", None)]
    await integrity_check(db)


async def test_another_user_never_finds_it(db: Database, alice: int, bob: int) -> None:
    await conversation(db, alice, ("user", "My locker code is 4711 at the gym"))
    assert await search(db, bob, "locker code gym") == []
    assert len(await search(db, alice, "locker code gym")) == 1


async def test_deleting_a_conversation_removes_its_entries(db: Database, alice: int) -> None:
    gone = await conversation(db, alice, ("user", "The wifi password is purple elephant"))
    kept = await conversation(db, alice, ("user", "The purple elephant toy is for Ana"))
    async with db.transaction() as session:
        assert await ConversationRepository(session, alice).delete(gone)
    hits = await search(db, alice, "purple elephant")
    assert [h.conversation_id for h in hits] == [kept]
    await integrity_check(db)
    if db.url.get_backend_name() == "sqlite":  # PostgreSQL's index has no rows of its own
        async with db.engine.connect() as conn:
            rows = await conn.execute(text("SELECT count(*) FROM messages_fts('wifi')"))
            assert rows.scalar() == 0


async def test_time_bounds(db: Database, alice: int) -> None:
    t = datetime(2025, 3, 10, 12, tzinfo=UTC)
    old = await conversation(
        db, alice, ("user", "The budget for the kitchen is 5000"), at=t - timedelta(days=40)
    )
    new = await conversation(db, alice, ("user", "New kitchen budget: 8000"), at=t)
    assert {h.conversation_id for h in await search(db, alice, "kitchen budget")} == {old, new}
    within = await search(
        db, alice, "kitchen budget", since=t - timedelta(days=7), until=t + timedelta(days=1)
    )
    assert [h.conversation_id for h in within] == [new]
    assert within[0].created_at == t
    before = await search(db, alice, "kitchen budget", until=t - timedelta(days=7))
    assert [h.conversation_id for h in before] == [old]


async def test_at_most_limit_and_two_per_conversation(db: Database, alice: int) -> None:
    for n in range(4):
        await conversation(
            db, alice, *[("user", f"tennis lesson number {n}.{k}") for k in range(4)]
        )
    hits = await search(db, alice, "tennis lesson")
    assert len(hits) == 5
    counts = {}
    for hit in hits:
        counts[hit.conversation_id] = counts.get(hit.conversation_id, 0) + 1
    assert max(counts.values()) <= 2


def test_query_terms_drop_stopwords_and_talk_about_talking() -> None:
    assert query_terms("What did we decide about the trip?") == ["trip"]
    assert query_terms("what did I tell you about my sister's wedding") == ["sister", "wedding"]


def test_snippet_keeps_short_messages_whole_and_cuts_long_ones_around_the_match() -> None:
    assert snippet("  short\nmessage ", ["short"]) == "short message"
    long = "filler " * 100 + "the passport is in the blue drawer " + "more " * 100
    cut = snippet(long, ["passport"], max_chars=120)
    assert "passport is in the blue drawer" in cut and len(cut) <= 122
    assert cut.startswith("…") and cut.endswith("…")


async def test_a_person_or_a_name_in_the_query_must_be_in_the_hit(db: Database, alice: int) -> None:
    await conversation(db, alice, ("user", "My car needs new tyres"), ("assistant", "Winter ones?"))
    await conversation(db, alice, ("user", "We booked a hotel in Lisbon"), ("assistant", "Nice."))
    assert await search(db, alice, "my brother's car") == []
    assert await search(db, alice, "the hotel in Paris") == []
    assert len(await search(db, alice, "the hotel in Lisbon")) == 1
    assert len(await search(db, alice, "car tyres")) == 1


async def test_rarer_words_rank_first_among_equally_matching_hits(db: Database, alice: int) -> None:
    # bm25 alone would put the short "garden weekend" messages first; "party" is the rarer of
    # the two words they differ by (and "garden", the rarest, is in all three).
    for n in range(30):
        await conversation(db, alice, ("user", f"hello there weekend {n}"))
    for n in range(2):
        await conversation(db, alice, ("user", f"garden weekend {n}"))
        await conversation(db, alice, ("user", f"a birthday party {n}"))
    long_words = " ".join(f"word{k}" for k in range(60))
    party = await conversation(db, alice, ("user", f"The garden party: lanterns, {long_words}"))
    hits = await search(db, alice, "garden weekend party")
    assert len(hits) == 3 and hits[0].conversation_id == party


async def test_more_than_half_of_the_subject_must_be_in_the_hit(db: Database, alice: int) -> None:
    await conversation(
        db, alice, ("user", "We saw a flamenco show in Granada"), ("assistant", "Olé")
    )
    assert await search(db, alice, "the concert in Granada") == []  # one word of two
    assert len(await search(db, alice, "the flamenco show in Granada")) == 1


async def test_the_most_particular_word_must_be_in_the_hit(db: Database, alice: int) -> None:
    await conversation(db, alice, ("user", "Nora's tennis coach is Pablo"))
    await conversation(db, alice, ("user", "The coach was late again"))
    await conversation(db, alice, ("user", "Basketball on TV tonight"))
    # Two of three words, but not the rarest said one: another sport's coach.
    assert await search(db, alice, "Nora's basketball coach") == []
    assert len(await search(db, alice, "Nora's tennis coach")) == 1


async def test_paraphrases_and_irregular_verbs_match(db: Database, alice: int) -> None:
    await conversation(db, alice, ("user", "My cousin is getting married in May"))
    await conversation(db, alice, ("user", "We bought a new kettle for the kitchen"))
    assert len(await search(db, alice, "my cousin's wedding")) == 1
    assert len(await search(db, alice, "what did we buy for the kitchen")) == 1


async def test_a_broader_word_finds_the_narrower_but_not_back(db: Database, alice: int) -> None:
    await conversation(db, alice, ("user", "My daughter's school play is on Friday"))
    assert len(await search(db, alice, "the children's school play")) == 1
    assert await search(db, alice, "my son's school play") == []


async def test_the_side_of_a_subject_asked_about_only_ranks(db: Database, alice: int) -> None:
    await conversation(db, alice, ("user", "The boiler makes a knocking noise at night"))
    assert len(await search(db, alice, "boiler problems")) == 1


async def test_a_person_is_known_by_the_name_the_facts_give(db: Database, alice: int) -> None:
    from assistant.store.memories import MemoryRepository

    await conversation(db, alice, ("user", "Leo's tennis coach is Pablo"))
    assert await search(db, alice, "my son's tennis coach") == []
    async with db.transaction() as session:
        await MemoryRepository(session).remember(alice, "My son is called Leo")
    hits = await search(db, alice, "my son's tennis coach")
    assert len(hits) == 1 and "Pablo" in hits[0].snippet
    assert await search(db, alice, "my daughter's tennis coach") == []


async def test_the_same_sentence_said_again_is_one_hit(db: Database, alice: int) -> None:
    for _ in range(6):
        await conversation(
            db, alice, ("user", "Add oats"), ("assistant", "Added oats to your list.")
        )
    said = await conversation(db, alice, ("user", "I switched my porridge to oats with honey"))
    hits = await search(db, alice, "oats")
    assert said in {h.conversation_id for h in hits}
    assert sum("Added oats to your list." in h.snippet for h in hits) <= 2


async def test_of_equal_hits_the_users_words_come_first(db: Database, alice: int) -> None:
    await conversation(db, alice, ("user", "Dinner?"), ("assistant", "Paella then."))
    user = await conversation(
        db, alice, ("user", "For the guests on Saturday evening I will cook a big paella")
    )
    hits = await search(db, alice, "paella")
    assert len(hits) == 2 and hits[0].conversation_id == user


def test_words_about_telling_teaching_or_considering_are_not_searched_for() -> None:
    assert query_terms("the word you taught me in Japanese") == ["japanese"]
    assert query_terms("names we considered for the puppy") == ["dog"]


async def test_another_users_words_do_not_change_what_is_found(
    db: Database, alice: int, bob: int
) -> None:
    await conversation(db, alice, ("user", "Nora's tennis coach is Pablo"))
    await conversation(db, alice, ("user", "The coach was late again"))
    before = await search(db, alice, "Nora's basketball coach")
    await conversation(db, bob, ("user", "Basketball on TV tonight"))
    after = await search(db, alice, "Nora's basketball coach")
    assert [h.message_id for h in after] == [h.message_id for h in before]
    assert len(before) == 1  # "basketball", said by no one alice knows, tells nothing


@pytest.mark.postgresql_only
async def test_postgresql_search_uses_the_partial_gin_index(db: Database, alice: int) -> None:
    # The index holds only searchable messages; a statement the planner cannot prove to ask for
    # those alone would read every message instead.
    await conversation(db, alice, ("user", "The wifi password is purple elephant"))
    statement = search_postgres.candidates([Message.id], ["purple", "elephant"])
    async with db.transaction() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = await session.execute(text(f"EXPLAIN {compiled}"))
        assert "ix_messages_content_fts" in "\n".join(row[0] for row in plan)
        counts = await search_postgres.document_counts(session, [["purple"], ["zebra"]], alice, 10)
    assert counts == [1, 0]
