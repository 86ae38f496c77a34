"""Voice: change how the assistant sounds (Cartesia emotion, speed, volume) for this conversation.

The state is stored on the conversation, so a resumed conversation sounds the same; the live
TTS gets the frame the pipeline makes of it (`ToolContext.voice_frame`).
"""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Any

from loguru import logger
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from assistant.store.database import Database
from assistant.store.repository import ConversationRepository
from assistant.tools.base import (
    Tool,
    ToolContext,
    ToolError,
    ToolLabel,
    notify_safely,
    ok,
    reject_bool,
)
from assistant.voice import EMOTIONS, SPEED_RANGE, VOLUME_RANGE, VoiceState

# Words people (and models) use for an emotion Cartesia names differently. Only obvious ones:
# anything else gets an error listing close matches, and the LLM picks again.
SYNONYMS = {
    "normal": "neutral",
    "default": "neutral",
    "joking": "joking/comedic",
    "comedic": "joking/comedic",
    "funny": "joking/comedic",
    "cheerful": "happy",
    "joyful": "happy",
    "relaxed": "calm",
    "sorry": "apologetic",
    "afraid": "scared",
    "worried": "anxious",
    "nervous": "anxious",
    "shocked": "surprised",
    "sleepy": "tired",
    "thoughtful": "contemplative",
}


def canonical_emotion(emotion: str) -> str:
    """Cartesia's name for ``emotion`` (any case, or an obvious synonym); ``ToolError`` if none."""
    word = " ".join(emotion.split()).lower()
    if word in EMOTIONS:
        return word
    if word in SYNONYMS:
        return SYNONYMS[word]
    close = difflib.get_close_matches(word, sorted(EMOTIONS), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ToolError(f"unknown emotion {emotion!r}; {hint}use one of: {', '.join(sorted(EMOTIONS))}")


def _check_range(what: str, value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    if not (math.isfinite(value) and low <= value <= high):
        raise ToolError(f"{what} must be between {low} and {high} (1.0 is normal), not {value}")
    return value


async def set_voice(
    db: Database,
    user_id: int,
    conversation_id: str,
    emotion: str | None = None,
    speed: float | None = None,
    volume: float | None = None,
) -> dict[str, Any]:
    """Validate everything first, then store; a missing field keeps the conversation's value."""
    if emotion is not None:
        emotion = canonical_emotion(emotion)
    if speed is not None:
        speed = _check_range("speed", speed, SPEED_RANGE)
    if volume is not None:
        volume = _check_range("volume", volume, VOLUME_RANGE)
    async with db.transaction() as session:
        conversation = await ConversationRepository(session, user_id).set_voice(
            conversation_id, emotion=emotion, speed=speed, volume=volume
        )
    if conversation is None:
        raise ToolError("this conversation no longer exists, so its voice can't be changed")
    return ok(emotion=conversation.emotion, speed=conversation.speed, volume=conversation.volume)


_NUMBER = WithJsonSchema({"type": "number"})
# Named in the schema; any of Cartesia's emotions (or an obvious synonym) is taken, and a wrong
# one is answered with the closest names. Listing all 59 cost ~150 tokens in every request.
SUGGESTED = ("neutral", "happy", "excited", "calm", "sad", "sympathetic", "sarcastic", "angry")


class SetVoiceArgs(BaseModel):
    # Extra keys are ignored: the user and conversation never come from the LLM.
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    # Plain types in the schema (no anyOf-null) but null still accepted: models send it.
    emotion: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(
        None,
        max_length=40,
        description=f"e.g. {', '.join(SUGGESTED)}",
    )
    speed: Annotated[float | None, BeforeValidator(reject_bool), _NUMBER] = Field(
        None,
        description=f"{SPEED_RANGE[0]} slow to {SPEED_RANGE[1]} fast, 1 normal",
    )
    volume: Annotated[float | None, BeforeValidator(reject_bool), _NUMBER] = Field(
        None,
        description=f"{VOLUME_RANGE[0]} quiet to {VOLUME_RANGE[1]} loud, 1 normal",
    )


async def _set_voice(context: ToolContext, args: SetVoiceArgs) -> dict[str, Any]:
    if args.emotion is None and args.speed is None and args.volume is None:
        raise ToolError("say what to change: emotion, speed or volume")
    result = await set_voice(
        context.db, context.user_id, context.conversation_id, args.emotion, args.speed, args.volume
    )
    voice = VoiceState(result["emotion"], result["speed"], result["volume"])
    if context.push_frame is not None and context.voice_frame is not None:
        try:
            await context.push_frame(context.voice_frame(voice))
        except Exception as problem:
            # Stored all the same: it applies from the next session of this conversation.
            logger.warning(f"couldn't apply the voice change live: {problem}")
    await notify_safely(
        context,
        {"type": "voice", "emotion": voice.emotion, "speed": voice.speed, "volume": voice.volume},
    )
    return result


SET_VOICE = Tool(
    name="set_voice",
    description="Change how you sound from now on. Give only what the user asked to change.",
    arguments=SetVoiceArgs,
    run=_set_voice,
    label=ToolLabel("changed how it sounds", "changing how it sounds"),
)

VOICE_TOOLS: list[Tool] = [SET_VOICE]
