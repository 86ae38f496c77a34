"""The set_voice tool: validation, persistence on the conversation, the live settings frame."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import TTSUpdateSettingsFrame
from pipecat.services.cartesia.tts import CartesiaEmotion

from assistant.store.repository import ConversationRepository
from assistant.tools.emotion import SET_VOICE, canonical_emotion
from assistant.voice import EMOTIONS


def test_our_emotion_names_are_exactly_pipecats_cartesia_emotions():
    assert {emotion.value for emotion in CartesiaEmotion} == EMOTIONS


async def stored_voice(context) -> tuple[str, float, float]:
    async with context.db.transaction() as session:
        conversation = await ConversationRepository(session, context.user_id).get(
            context.conversation_id
        )
    return conversation.emotion, conversation.speed, conversation.volume


def pushed_configs(context) -> list[dict]:
    configs = []
    for frame in context.frames:
        assert isinstance(frame, TTSUpdateSettingsFrame)
        configs.append(frame.delta.generation_config.model_dump())
    return configs


async def test_set_voice_stores_pushes_the_full_config_and_notifies(tool_context, call_tool):
    result = await call_tool(SET_VOICE, emotion="Excited", speed=1.2)

    assert result == {"ok": True, "emotion": "excited", "speed": 1.2, "volume": 1.0}
    assert await stored_voice(tool_context) == ("excited", 1.2, 1.0)
    # The whole GenerationConfig, volume included, though only two fields were asked for.
    assert pushed_configs(tool_context) == [{"emotion": "excited", "speed": 1.2, "volume": 1.0}]
    assert tool_context.notifications == [
        {"type": "voice", "emotion": "excited", "speed": 1.2, "volume": 1.0}
    ]


async def test_missing_fields_keep_the_conversations_current_values(tool_context, call_tool):
    await call_tool(SET_VOICE, emotion="calm", speed=0.8, volume=1.5)
    tool_context.frames.clear()

    result = await call_tool(SET_VOICE, {"volume": "0.7", "speed": None})

    assert result == {"ok": True, "emotion": "calm", "speed": 0.8, "volume": 0.7}
    assert await stored_voice(tool_context) == ("calm", 0.8, 0.7)
    assert pushed_configs(tool_context) == [{"emotion": "calm", "speed": 0.8, "volume": 0.7}]


@pytest.mark.parametrize(
    ("said", "emotion"),
    [("  SAD ", "sad"), ("joking", "joking/comedic"), ("cheerful", "happy"), ("normal", "neutral")],
)
async def test_case_and_obvious_synonyms(call_tool, said, emotion):
    assert (await call_tool(SET_VOICE, emotion=said))["emotion"] == emotion


def test_every_cartesia_emotion_is_accepted_as_is():
    assert {canonical_emotion(e) for e in EMOTIONS} == EMOTIONS


async def test_limits_are_inclusive(call_tool):
    assert (await call_tool(SET_VOICE, speed=0.6, volume=2.0))["ok"] is True
    assert (await call_tool(SET_VOICE, speed=1.5, volume=0.5))["ok"] is True


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"emotion": "ecstaticish"}, "unknown emotion 'ecstaticish'"),
        ({"emotion": "exited"}, "did you mean excited"),
        ({"emotion": "happy", "speed": 3}, "speed must be between 0.6 and 1.5"),
        ({"speed": 0.59}, "speed must be between 0.6 and 1.5"),
        ({"volume": 2.01}, "volume must be between 0.5 and 2.0"),
        ({"volume": 0}, "volume must be between"),
        ({"speed": "nan"}, "speed must be between"),
        ({"speed": "fast"}, "invalid arguments"),
        ({"speed": True}, "invalid arguments"),
        ({"emotion": 5}, "invalid arguments"),
        ({"emotion": ""}, "unknown emotion"),
        ({}, "say what to change"),
        ({"emotion": None, "speed": None}, "say what to change"),
        ("[]", "arguments must be a JSON object"),
    ],
)
async def test_bad_input_changes_nothing(tool_context, raw, message):
    await tool_context.call(SET_VOICE, emotion="sad", speed=0.9, volume=1.1)
    tool_context.frames.clear()
    tool_context.notifications.clear()

    result = await tool_context.call(SET_VOICE, raw)

    assert result["ok"] is False
    assert message in result["error"]
    assert await stored_voice(tool_context) == ("sad", 0.9, 1.1)
    assert tool_context.frames == [] and tool_context.notifications == []


async def test_the_unknown_emotion_error_lists_the_choices(call_tool):
    error = (await call_tool(SET_VOICE, emotion="grumpy"))["error"]
    assert all(emotion in error for emotion in EMOTIONS)


async def test_only_the_sessions_own_conversation_can_change(make_context):
    alice = await make_context("alice")
    bob = await make_context("bob")
    # Even if bob's session somehow named alice's conversation, the store wouldn't find it.
    bob.conversation_id = alice.conversation_id

    result = await bob.call(SET_VOICE, emotion="angry")

    assert result["ok"] is False and "no longer exists" in result["error"]
    assert await stored_voice(alice) == ("neutral", 1.0, 1.0)
    assert bob.frames == []


async def test_a_broken_pipeline_push_still_saves_the_voice(tool_context):
    async def broken(_frame):
        raise RuntimeError("pipeline gone")

    tool_context.push_frame = broken
    assert (await tool_context.call(SET_VOICE, emotion="tired"))["ok"] is True
    assert await stored_voice(tool_context) == ("tired", 1.0, 1.0)


async def test_without_a_pipeline_it_only_stores(tool_context):
    tool_context.push_frame = None
    assert (await tool_context.call(SET_VOICE, emotion="curious"))["ok"] is True
    assert await stored_voice(tool_context) == ("curious", 1.0, 1.0)
