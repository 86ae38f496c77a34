"""What the assistant knows about the user, in the system instruction the fake Groq receives:
read once when a session starts, replaced (never appended) when a tool changes a fact, and
nothing read on a turn that does not."""

from __future__ import annotations

import pytest

from assistant.pipeline import known_facts
from assistant.store.memories import BLOCK_HEADER, MemoryRepository
from assistant.tools.registry import default_tools


def system(request: dict) -> str:
    [first] = [m for m in request["messages"][:1] if m["role"] == "system"]
    return first["content"]


async def remember_by_voice(live, fake_groq, text: str, said: str | None = None) -> None:
    """A turn where the model calls `remember`, and the reply after its result."""
    replies = sum(m.content == "I'll remember that." for m in await live.messages())
    before = len(fake_groq.chat_requests)
    fake_groq.reply_tool_call("remember", {"fact": text})
    fake_groq.reply_text("I'll remember that.")
    await live.user_said(said or f"remember that {text}")
    await fake_groq.wait_for_chat_requests(before + 2, timeout=10)
    await live.wait_for_messages(
        lambda rows: sum(m.content == "I'll remember that." for m in rows) > replies
    )


async def current_texts(db, user_id: int) -> list[str]:
    async with db.session() as session:
        return [m.text for m in await MemoryRepository(session).current(user_id)]


@pytest.fixture
def counted_reads(monkeypatch):
    """How many times sessions read the user's facts from the store."""
    reads = []
    real = known_facts.read_block

    async def counting(*args, **kwargs):
        reads.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(known_facts, "read_block", counting)
    return reads


async def test_remembered_in_one_conversation_is_in_the_next_ones_instruction(headless, fake_groq):
    headless.tool_factory = default_tools
    async with headless.session(user="alice") as live:
        await remember_by_voice(live, fake_groq, "my sister is called Ana")
    assert "my sister is called Ana" not in system(fake_groq.chat_requests[0])

    fake_groq.reply_text("Hello Alice.")
    async with headless.session(user="alice") as live:  # a new conversation
        await live.user_said("hello")
    assert "my sister is called Ana" in system(fake_groq.chat_requests[-1])

    # Another user never sees it, in a new conversation or in the API's answers.
    fake_groq.reply_text("Hello Bob.")
    async with headless.session(user="bob") as live:
        await live.user_said("hello")
        bob_id = live.spec.user_id
    assert "Ana" not in system(fake_groq.chat_requests[-1])
    assert await current_texts(headless.db, bob_id) == []
    assert fake_groq.protocol_errors == []


async def test_a_tool_that_changes_a_fact_replaces_the_block_for_the_very_next_request(
    headless, fake_groq, counted_reads
):
    headless.tool_factory = default_tools
    async with headless.session(user="alice") as live:
        await remember_by_voice(live, fake_groq, "I live in Lyon")
        user_id = live.spec.user_id

    fake_groq.reply_text("Nice to hear from you.")
    async with headless.session(user="alice") as live:
        await live.user_said("good morning")
        start = len(fake_groq.chat_requests) - 1
        assert "I live in Lyon" in system(fake_groq.chat_requests[start])
        reads_after_start = len(counted_reads)

        # An ordinary turn: no memory work, the same instruction.
        fake_groq.reply_text("Sunny, I think.")
        await live.user_said("what a nice day")
        assert len(counted_reads) == reads_after_start

        # A newer fact on the same subject: the request right after the tool's result already
        # carries the new block instead of the old one, once.
        await remember_by_voice(live, fake_groq, "I live in Marseille", "I moved to Marseille")
        after_tool = fake_groq.chat_requests[-1]
        assert any(m["role"] == "tool" for m in after_tool["messages"])
        assert "I live in Marseille" in system(after_tool)
        assert "Lyon" not in system(after_tool)
        assert system(after_tool).count(BLOCK_HEADER) == 1
        assert live.session.known_facts.replaced == 1

        # Then the instruction stays as replaced, turn after turn.
        fake_groq.reply_text("Bye.")
        await live.user_said("thanks")
        assert system(fake_groq.chat_requests[-1]) == system(after_tool)
        assert len(counted_reads) == reads_after_start + 1

        # Forgetting takes it out of the block before the model answers again.
        fake_groq.reply_tool_call("forget", {"what": "Marseille"})
        fake_groq.reply_text("Forgotten.")
        before = len(fake_groq.chat_requests)
        await live.user_said("forget where I live")
        await fake_groq.wait_for_chat_requests(before + 2, timeout=10)
        assert "Marseille" not in system(fake_groq.chat_requests[-1])

    assert await current_texts(headless.db, user_id) == []
    # Unchanged parts of the instruction (persona, user, time zone) stayed byte-identical.
    head = system(fake_groq.chat_requests[start]).split(BLOCK_HEADER)[0].rstrip()
    assert system(fake_groq.chat_requests[-1]).startswith(head)
    assert fake_groq.protocol_errors == []


async def test_no_facts_no_block(headless, fake_groq):
    fake_groq.reply_text("Hi.")
    async with headless.session(user="carol") as live:
        await live.user_said("hello")
        assert live.session.known_facts.block == ""
    assert system(fake_groq.chat_requests[0]).endswith("This is a new conversation.")


async def test_facts_the_user_talked_about_count_as_used_once_the_session_ends(headless, fake_groq):
    spec = await headless.open_conversation("alice")
    async with headless.db.transaction() as session:
        memories = MemoryRepository(session)
        ana = (await memories.remember(spec.user_id, "my sister is called Ana")).memory.id
        coffee = (await memories.remember(spec.user_id, "I take my coffee black")).memory.id

    async def use_counts() -> dict[int, int]:
        async with headless.db.session() as session:
            facts = await MemoryRepository(session).current(spec.user_id)
            return {m.id: m.use_count for m in facts}

    fake_groq.reply_text("How about a book?")
    async with headless.session("alice", spec.conversation_id) as live:
        await live.user_said("what should I buy my sister for her birthday")
        assert await use_counts() == {ana: 0, coffee: 0}  # nothing on the turn's path
    assert await use_counts() == {ana: 1, coffee: 0}


async def test_a_change_made_on_the_page_replaces_the_block_of_the_users_live_sessions(
    headless, fake_groq, settings
):
    from assistant.runtime.live_sessions import VoiceBots

    bots = VoiceBots(settings, headless.db, default_tools)
    fake_groq.reply_text("Hi.")
    fake_groq.reply_text("Ana, of course.")
    async with (
        headless.session("alice") as live,
        headless.session("bob") as other,
    ):
        await live.user_said("hello")
        # As a connection registers its session (VoiceBots._run).
        bots._live[live.spec.conversation_id] = live.session
        bots._live[other.spec.conversation_id] = other.session
        async with headless.db.transaction() as session:  # what PATCH/DELETE /api/memories do
            await MemoryRepository(session).remember(live.spec.user_id, "my sister is called Ana")
        await bots.memory_changed(live.spec.user_id)
        await live.user_said("what is my sister called")
        assert other.session.known_facts.replaced == 0
    assert "my sister is called Ana" in system(fake_groq.chat_requests[-1])
