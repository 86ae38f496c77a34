"""The registry the server hands each session: every tool, plain schemas, bound handlers."""

from __future__ import annotations

import json
from types import SimpleNamespace

from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.adapters.llm.services.open_ai_adapter import OpenAILLMAdapter
from pipecat.frames.frames import TTSUpdateSettingsFrame

from assistant.store.repository import NoteRepository
from assistant.tools.base import VALIDATION_ONLY, model_facing
from assistant.tools.registry import ALL_TOOLS, default_tools

EXPECTED = {
    "take_note",
    "list_notes",
    "search_notes",
    "append_to_note",
    "edit_note",
    "delete_note",
    "set_reminder",
    "list_reminders",
    "cancel_reminder",
    "set_voice",
    "remember",
    "forget",
    "search_conversations",
}


def test_every_tool_once():
    names = [tool.name for tool in ALL_TOOLS]
    assert sorted(names) == sorted(EXPECTED)


def test_every_tool_has_a_label_for_the_page():
    # The page names a call by its label ("took a note"); without one it shows the tool's name.
    unlabelled = [tool.name for tool in ALL_TOOLS if tool.label is None]
    assert unlabelled == []
    assert all(tool.label.done and tool.label.doing for tool in ALL_TOOLS)


async def test_schemas_are_plain_json_schema_without_session_fields(tool_context):
    schemas = default_tools(tool_context)

    assert {s.name for s in schemas} == EXPECTED
    for schema in schemas:
        text = json.dumps(schema.to_default_dict())
        # Who and where come from the session; the LLM is never asked for them.
        for session_field in ("user_id", "user", "conversation_id", "timezone"):
            assert session_field not in schema.properties, (schema.name, session_field)
        for construct in ('"$ref"', '"$defs"', '"title"', '"anyOf"'):
            assert construct not in text, (schema.name, construct)
        assert schema.description and schema.handler is not None
        for name, prop in schema.properties.items():
            assert prop["type"] in {"string", "integer", "number"}, (schema.name, name)
            # Checked when a call comes in; not worth its tokens in every request.
            assert not VALIDATION_ONLY & prop.keys(), (schema.name, name)
        assert set(schema.required) <= set(schema.properties)


def test_every_request_carries_lean_schemas(tool_context):
    """All thirteen tools go with every request, so they are kept short (what trimming them
    saved: bench/README.md, tokens)."""
    sent = OpenAILLMAdapter().from_standard_tools(ToolsSchema(default_tools(tool_context)))
    assert len(json.dumps(sent)) <= 3700


def test_validation_keywords_stay_with_property_names_that_look_like_them():
    schema = {
        "type": "object",
        "properties": {"default": {"type": "string", "maxLength": 5, "title": "Default"}},
        "required": ["default"],
    }
    assert model_facing(schema) == {
        "type": "object",
        "properties": {"default": {"type": "string"}},
        "required": ["default"],
    }


class FakeLLM:
    def __init__(self) -> None:
        self.pushed = []

    async def push_frame(self, frame) -> None:
        self.pushed.append(frame)


async def call_handler(schema, arguments, llm=None):
    results = []

    async def result_callback(result, **_kwargs):
        results.append(result)

    params = SimpleNamespace(
        function_name=schema.name,
        tool_call_id="call_1",
        arguments=arguments,
        llm=llm or FakeLLM(),
        result_callback=result_callback,
    )
    await schema.handler(params)
    return results


async def test_handlers_run_as_the_session_user(tool_context, make_context):
    bob = await make_context("bob")
    take_note = next(s for s in default_tools(tool_context) if s.name == "take_note")

    results = await call_handler(take_note, {"content": "from the LLM", "user_id": bob.user_id})

    assert len(results) == 1 and results[0]["ok"] is True
    async with tool_context.db.transaction() as session:
        alices = await NoteRepository(session, tool_context.user_id).recent()
        bobs = await NoteRepository(session, bob.user_id).recent()
    assert [n.content for n in alices] == ["from the LLM"] and bobs == []
    assert tool_context.notifications == [{"type": "notes-changed"}]


async def test_handlers_answer_bad_input_instead_of_raising(tool_context):
    for schema in default_tools(tool_context):
        results = await call_handler(schema, {"note_id": "x", "reminder_id": [], "speed": {}})
        assert len(results) == 1 and isinstance(results[0]["ok"], bool), schema.name


async def test_set_voice_pushes_its_frame_from_the_llm(tool_context):
    set_voice = next(s for s in default_tools(tool_context) if s.name == "set_voice")
    llm = FakeLLM()

    [result] = await call_handler(set_voice, {"emotion": "happy"}, llm)

    assert result["ok"] is True
    [frame] = llm.pushed
    assert isinstance(frame, TTSUpdateSettingsFrame)
    assert frame.delta.generation_config.model_dump() == {
        "emotion": "happy",
        "speed": 1.0,
        "volume": 1.0,
    }
