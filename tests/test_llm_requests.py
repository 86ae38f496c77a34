"""The LLM request leaves without the openai SDK's request transform, and is the same request."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import openai.resources.chat.completions.completions as sdk_completions
from pipecat.processors.aggregators.llm_context import LLMContext

from assistant.pipeline.llm import AssistantLLM
from assistant.tools.base import ToolContext
from assistant.tools.registry import default_tools

HISTORY = [
    {"role": "user", "content": "Note that the boiler man comes Friday."},
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "take_note", "arguments": '{"text": "boiler man Friday"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"id": 7, "ok": True})},
    {"role": "assistant", "content": "Noted."},
    {"role": "user", "content": "And what's on my list?"},
]


def _llm(settings) -> AssistantLLM:
    return AssistantLLM(
        api_key=settings.groq_api_key.get_secret_value(),
        base_url=settings.groq_base_url,
        timeout_secs=5,
        settings=AssistantLLM.Settings(
            model=settings.groq_llm_model,
            system_instruction="You are a helpful assistant.",
            temperature=0.4,
            max_tokens=300,
        ),
    )


def _context() -> LLMContext:
    tools = default_tools(
        ToolContext(
            db=None,  # type: ignore[arg-type]  # schemas only: nothing is called
            user_id=1,
            conversation_id="c",
            timezone="UTC",
            now=lambda: datetime.now(UTC),
            notify=None,  # type: ignore[arg-type]
        )
    )
    return LLMContext(messages=[dict(m) for m in HISTORY], tools=tools, tool_choice="auto")


async def _text_of(stream) -> str:
    parts = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts)


async def test_the_request_is_what_the_sdk_would_send(settings, fake_groq):
    llm = _llm(settings)
    params = await llm.request_params(_context())
    params["extra_body"] = {"reasoning_format": "hidden"}  # request options go where they belong
    params["extra_headers"] = None  # as `create` takes it: no extra headers
    for _ in range(2):
        fake_groq.reply_text("Boiler man Friday.")

    ours = await _text_of(await llm.stream_chat(params))
    sdks = await _text_of(await llm.client.chat.completions.create(**params))

    ours_body, sdk_body = await fake_groq.wait_for_chat_requests(2)
    assert ours == sdks == "Boiler man Friday."
    assert ours_body == sdk_body
    # and it is the whole request: settings, history, tools
    assert ours_body["temperature"] == 0.4 and ours_body["max_tokens"] == 300
    assert ours_body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert ours_body["messages"][1:] == HISTORY
    assert {tool["function"]["name"] for tool in ours_body["tools"]} >= {"take_note"}
    assert ours_body["reasoning_format"] == "hidden"
    assert "seed" not in ours_body  # not given: not sent


async def test_a_turn_does_not_run_the_sdk_request_transform(
    headless, fake_groq, fake_cartesia, monkeypatch
):
    # The transform walks every message against the SDK's TypedDicts, on the loop all sessions
    # share, at a cost that grows with the context (bench/README.md, the LLM request).
    transforms = 0
    real = sdk_completions.async_maybe_transform

    async def counted(*args, **kwargs):
        nonlocal transforms
        transforms += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(sdk_completions, "async_maybe_transform", counted)
    fake_groq.reply_text("Hello there.")
    async with headless.session() as live:
        await live.user_says("hello there")
        await live.wait_for_messages(lambda rows: any(m.role == "assistant" for m in rows))

    assert len(fake_groq.chat_requests) == 1
    assert transforms == 0
