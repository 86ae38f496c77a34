"""MEMORY_AUTO: one pass at the end of a session proposes facts from the user's own words;
the assistant's words, tool results and the facts already injected never become one."""

from __future__ import annotations

import pytest

from assistant.pipeline.auto_memory import AUTO_MEMORY_INSTRUCTION, grounded, proposals
from assistant.store.memories import MemoryRepository
from assistant.store.repository import UsageRepository
from assistant.tools.registry import default_tools


def is_memory_pass(body: dict) -> bool:
    return body["messages"][0]["content"] == AUTO_MEMORY_INSTRUCTION


def test_the_answer_is_read_as_dash_lines_and_none_is_nothing():
    answer = "Here you go:\n- my sister is called Ana\n* I work nights\nNONE\n- \n- none"
    assert proposals(answer) == ["my sister is called Ana", "I work nights"]
    assert proposals("NONE") == [] and proposals("OK.") == []


@pytest.mark.parametrize(
    ("fact", "kept"),
    [
        ("my sister is called Ana", True),  # as said, another way
        ("my sisters are called Ana", True),  # a plural of a word said
        ("the capital of Portugal is Lisbon", False),  # Lisbon: the assistant's word
        ("I take my coffee black", False),  # the injected block's, never said
        ("I am", False),  # nothing but glue
    ],
)
def test_a_proposal_must_be_in_the_users_words(fact, kept):
    said = "my sister's name is Ana\nwhat's the capital of Portugal"
    assert grounded(fact, said) is kept


async def test_the_pass_reads_only_the_users_words_and_keeps_only_their_facts(
    headless, fake_groq, settings
):
    headless.settings = settings.model_copy(update={"memory_auto": True})
    headless.tool_factory = default_tools
    spec = await headless.open_conversation("alice")
    async with headless.db.transaction() as session:
        await MemoryRepository(session).remember(spec.user_id, "I take my coffee black")
    fake_groq.route(
        is_memory_pass,
        "- my sister is called Ana\n- the capital of Portugal is Lisbon\n"
        "- I take my coffee black\n- I love the Lisbon tram",
    )
    fake_groq.reply_text("Nice, Ana is a lovely name.")
    fake_groq.reply_tool_call("take_note", {"content": "Lisbon tram pass"})
    fake_groq.reply_text("The capital of Portugal is Lisbon. Noted the Lisbon tram pass too.")

    async with headless.session("alice", spec.conversation_id) as live:
        await live.user_said("my sister's name is Ana")
        await live.user_said("what is the capital of Portugal and note my tram pass")
        await live.wait_for_messages(lambda rows: any("Noted" in (m.content or "") for m in rows))
        assert "coffee black" in live.session.known_facts.block

    [request] = [body for body in fake_groq.chat_requests if is_memory_pass(body)]
    read = request["messages"][1]["content"]
    assert read == "my sister's name is Ana\nwhat is the capital of Portugal and note my tram pass"
    assert "Lisbon" not in read and "coffee" not in read  # no assistant words, no tool, no block

    async with headless.db.session() as session:
        facts = await MemoryRepository(session).current(spec.user_id)
        usage = await UsageRepository(session, spec.user_id).conversation_total(
            spec.conversation_id
        )
    assert sorted((m.text, m.inferred) for m in facts) == [
        ("I take my coffee black", False),
        ("my sister is called Ana", True),
    ]
    [ana] = [m for m in facts if m.inferred]
    assert ana.source_conversation_id == spec.conversation_id
    assert usage.requests == 4  # three replies and the pass
    assert fake_groq.protocol_errors == []


async def test_off_by_default_no_pass(headless, fake_groq):
    fake_groq.route(is_memory_pass, "- my sister is called Ana")
    fake_groq.reply_text("Nice.")
    async with headless.session("alice") as live:
        await live.user_said("my sister's name is Ana")
        user_id = live.spec.user_id
    assert not any(is_memory_pass(body) for body in fake_groq.chat_requests)
    async with headless.db.session() as session:
        assert await MemoryRepository(session).current(user_id) == []
