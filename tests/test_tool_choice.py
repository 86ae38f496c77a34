"""Does the model pick the right tool, with sensible arguments, for what people say?

About thirty spoken-style requests (remember, forget, search past conversations, notes,
reminders, voice), each sent as the session sends it: our system instruction with a block of
facts, every tool's schema, the clock line before the user's words, through `AssistantLLM`'s
own request building and sending.

`uv run pytest -m live` asks the real Groq model (skipped without GROQ_API_KEY) and prints the
misses; it passes when at least `LIVE_TARGET` of the cases are right. In the normal suite the
same cases run against the fake Groq, which answers each with the expected call: that tests the
mechanics (what our request carries, how the answer's tool calls are read) and that the checker
fails a wrong tool or wrong arguments, so a live run's score means something.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from openai import RateLimitError
from pipecat.processors.aggregators.llm_context import LLMContext

from assistant.config import Settings
from assistant.pipeline.llm import AssistantLLM, create_llm
from assistant.pipeline.prompt import clock_line, system_instruction
from assistant.pipeline.rate_limits import rate_limit_of
from assistant.store.memories import memory_block
from assistant.store.models import Memory
from assistant.tools.base import ToolContext
from assistant.tools.registry import ALL_TOOLS, default_tools

ZONE = "Europe/Paris"
NOW = datetime(2026, 3, 14, 9, 5, tzinfo=UTC)
# The block of facts a session of a user who said these before starts with.
KNOWN = memory_block(
    [
        Memory(id=i, text=text, pinned=False, use_count=0, updated_at=NOW, last_used_at=None)
        for i, text in enumerate(
            ["my sister is called Ana", "I live in Lyon", "I take my coffee black"], 1
        )
    ],
    400,
)
LIVE_TARGET = 0.9

Args = dict[str, Any]


def _said(args: Args) -> str:
    """Every string in the arguments, lowercased: where a check looks for the user's words."""
    return " ".join(str(v) for v in args.values() if isinstance(v, str)).lower()


def mentions(*words: str) -> Callable[[Args], bool]:
    """Some argument carries one of ``words``."""
    return lambda args: any(w.lower() in _said(args) for w in words)


def anything(_args: Args) -> bool:
    return True


def number(key: str, test: Callable[[float], bool]) -> Callable[[Args], bool]:
    return lambda args: isinstance(args.get(key), int | float) and test(args[key])


def emotion(*names: str) -> Callable[[Args], bool]:
    return lambda args: str(args.get("emotion", "")).lower() in names


@dataclass(frozen=True)
class Case:
    said: str
    tool: str
    check: Callable[[Args], bool]
    example: Args  # what a sensible model sends (the fake answers with it)
    wrong: Args | None = field(default=None)  # arguments the check must refuse


CASES: list[Case] = [
    # remember: a fact about the user, in their words
    Case(
        "remember that my sister is called Ana",
        "remember",
        mentions("ana"),
        {"fact": "my sister is called Ana"},
        {"fact": "my brother is called Tom"},
    ),
    Case(
        "please keep in mind that I'm allergic to peanuts",
        "remember",
        mentions("peanut"),
        {"fact": "I'm allergic to peanuts"},
        {"fact": "I like cats"},
    ),
    Case(
        "for future reference my daughter's birthday is on the fourth of May",
        "remember",
        mentions("may", "4"),
        {"fact": "my daughter's birthday is on the fourth of May"},
    ),
    Case(
        "I moved to Marseille last month, remember that",
        "remember",
        mentions("marseille"),
        {"fact": "I live in Marseille"},
        {"fact": "I live in Lyon"},
    ),
    Case(
        "don't forget that my dentist is doctor Patel",
        "remember",
        mentions("patel"),
        {"fact": "my dentist is doctor Patel"},
    ),
    Case(
        "remember I work night shifts on Tuesdays",
        "remember",
        mentions("night", "tuesday"),
        {"fact": "I work night shifts on Tuesdays"},
    ),
    # forget: what the user said to forget, not an id
    Case(
        "forget that my sister is called Ana",
        "forget",
        mentions("ana", "sister"),
        {"what": "my sister is called Ana"},
        {"what": "dentist"},
    ),
    Case(
        "please forget where I live", "forget", mentions("live", "lyon"), {"what": "where I live"}
    ),
    Case("stop remembering how I take my coffee", "forget", mentions("coffee"), {"what": "coffee"}),
    Case(
        "erase what you know about my dentist",
        "forget",
        mentions("dentist", "patel"),
        {"what": "my dentist"},
    ),
    # search past conversations: the topic, with time words when said
    Case(
        "what did we decide about the trip last week",
        "search_conversations",
        mentions("trip"),
        {"query": "trip", "when": "last week"},
        {"query": "budget"},
    ),
    Case(
        "what restaurant did I mention yesterday",
        "search_conversations",
        mentions("restaurant"),
        {"query": "restaurant", "when": "yesterday"},
    ),
    Case(
        "did I tell you my landlord's name in another conversation",
        "search_conversations",
        mentions("landlord"),
        {"query": "landlord"},
    ),
    Case(
        "what was that book you recommended the other day",
        "search_conversations",
        mentions("book"),
        {"query": "book recommendation"},
    ),
    Case(
        "when did we talk about my knee",
        "search_conversations",
        mentions("knee"),
        {"query": "knee"},
    ),
    Case(
        "remind me what we said about the budget last month",
        "search_conversations",
        mentions("budget"),
        {"query": "budget", "when": "last month"},
    ),
    # notes
    Case(
        "take a note: buy oat milk and eggs",
        "take_note",
        mentions("oat milk"),
        {"content": "buy oat milk and eggs"},
        {"content": "buy bread"},
    ),
    Case(
        "make a note that the meeting room is B twelve",
        "take_note",
        mentions("b12", "b twelve", "b 12"),
        {"content": "the meeting room is B12"},
    ),
    Case("read me my notes", "list_notes", anything, {}),
    Case("what are my latest notes", "list_notes", anything, {"limit": 5}),
    Case(
        "do I have a note about the wifi password",
        "search_notes",
        mentions("wifi", "wi-fi"),
        {"query": "wifi password"},
        {"query": "milk"},
    ),
    # reminders
    Case(
        "remind me to call mum at six pm",
        "set_reminder",
        lambda a: mentions("mum", "mom", "mother")(a) and bool(a.get("when")),
        {"text": "call mum", "when": "2026-03-14T18:00"},
        {"text": "call mum", "when": ""},
    ),
    Case(
        "set a reminder for tomorrow at nine to water the plants",
        "set_reminder",
        mentions("plant"),
        {"text": "water the plants", "when": "2026-03-15T09:00"},
    ),
    Case(
        "in twenty minutes remind me to take the pizza out",
        "set_reminder",
        mentions("pizza"),
        {"text": "take the pizza out", "when": "in twenty minutes"},
    ),
    Case("what reminders do I have", "list_reminders", anything, {}),
    Case("which reminders are coming up", "list_reminders", anything, {"limit": 10}),
    # voice
    Case(
        "can you sound more excited",
        "set_voice",
        emotion("excited", "happy", "enthusiastic"),
        {"emotion": "excited"},
        {"emotion": "sad"},
    ),
    Case(
        "speak a bit slower please",
        "set_voice",
        number("speed", lambda s: s < 1),
        {"speed": 0.8},
        {"speed": 1.3},
    ),
    Case(
        "talk louder",
        "set_voice",
        number("volume", lambda v: v > 1),
        {"volume": 1.5},
        {"volume": 0.7},
    ),
    Case(
        "use a calm voice from now on",
        "set_voice",
        emotion("calm", "peaceful"),
        {"emotion": "calm"},
    ),
]


def verdict(case: Case, calls: list[tuple[str, Args]]) -> str | None:
    """None if the model did what the case wants; what it did wrong otherwise."""
    if not calls:
        return "no tool call"
    name, args = calls[0]
    if name != case.tool:
        return f"called {name}({json.dumps(args)}), not {case.tool}"
    if not case.check(args):
        return f"{name} with arguments {json.dumps(args)} that miss what was said"
    return None


def the_llm(settings: Settings) -> AssistantLLM:
    instruction = system_instruction(user_name="Sam", timezone=ZONE, resumed=False, memory=KNOWN)
    return create_llm(settings, instruction, lambda: clock_line(ZONE, NOW))


def the_context(said: str) -> LLMContext:
    # Schemas only: no tool runs here, so the context they would run with is never used.
    tools = default_tools(ToolContext(db=None, user_id=0, conversation_id="", timezone=ZONE))  # type: ignore[arg-type]
    return LLMContext(messages=[{"role": "user", "content": said}], tools=tools)


async def ask(llm: AssistantLLM, said: str) -> tuple[dict[str, Any], list[tuple[str, Args]]]:
    """Our request for ``said`` as a session makes it, sent; the request and the tool calls of
    the streamed answer."""
    params = await llm.request_params(the_context(said))
    stream = await llm.stream_chat(params)
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    async for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function is None:
                    continue
                if call.function.name:
                    names[call.index] = call.function.name
                arguments[call.index] = arguments.get(call.index, "") + (
                    call.function.arguments or ""
                )
    calls = []
    for index in sorted(names):
        try:
            args = json.loads(arguments.get(index) or "{}")
        except json.JSONDecodeError:
            args = {"unparsed": arguments.get(index)}
        calls.append((names[index], args if isinstance(args, dict) else {"value": args}))
    return params, calls


@pytest.mark.parametrize("case", CASES, ids=[c.said for c in CASES])
async def test_each_case_through_our_request_and_the_fake(case, settings, fake_groq):
    fake_groq.reply_tool_call(case.tool, case.example)
    llm = the_llm(settings)
    params, calls = await ask(llm, case.said)

    sent = fake_groq.chat_requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": llm.settings.system_instruction}
    assert KNOWN in sent["messages"][0]["content"]
    assert sent["messages"][-1]["content"].endswith(f"\n{case.said}")  # after the clock line
    offered = {tool["function"]["name"] for tool in sent["tools"]}
    assert {"remember", "forget", "search_conversations", case.tool} <= offered
    assert (sent["messages"], sent["tools"]) == (params["messages"], params["tools"])
    assert fake_groq.protocol_errors == []

    assert verdict(case, calls) is None
    # The example is what the tool itself accepts (so the checks look at real argument names).
    [tool] = [t for t in ALL_TOOLS if t.name == case.tool]
    tool.arguments.model_validate(case.example)
    # The checker would catch a wrong tool, no tool, and (where the case says) wrong arguments.
    other = next(c.tool for c in CASES if c.tool != case.tool)
    assert verdict(case, [(other, case.example)]) is not None
    assert verdict(case, []) is not None
    if case.wrong is not None:
        assert verdict(case, [(case.tool, case.wrong)]) is not None


def test_the_cases_cover_every_topic_the_issue_names():
    tools = {case.tool for case in CASES}
    assert {"remember", "forget", "search_conversations"} <= tools
    assert tools & {"take_note", "list_notes", "search_notes"}
    assert tools & {"set_reminder", "list_reminders"}
    assert "set_voice" in tools
    assert len(CASES) >= 30


@pytest.mark.live
async def test_the_real_model_picks_the_right_tools(tmp_path):
    key = os.environ.get("GROQ_API_KEY")
    if not key:
        pytest.skip("needs GROQ_API_KEY (a live run asks the real Groq model)")
    settings = Settings(groq_api_key=key, cartesia_api_key="unused", llm_timeout_secs=30)
    llm = the_llm(settings)
    misses = []
    for case in CASES:
        while True:
            try:
                _params, calls = await ask(llm, case.said)
                break
            except RateLimitError as error:  # a free key's per-minute limits: wait them out
                await asyncio.sleep(rate_limit_of(error).wait_secs or 10)
        problem = verdict(case, calls)
        if problem:
            misses.append(f"{case.said!r}: {problem}")
    right = 1 - len(misses) / len(CASES)
    print(f"\n{len(CASES) - len(misses)}/{len(CASES)} right", *misses, sep="\n  ")
    assert right >= LIVE_TARGET, "\n".join(misses)
