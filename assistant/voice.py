"""How the assistant sounds, without pipecat: the voice state, its ranges and the emotions.

The TTS (`assistant.pipeline.tts`) and the set_voice tool (`assistant.tools.emotion`) both use
these; kept free of pipecat so validating the configuration doesn't import its TTS stack, which
would slow the server's start-up, and the tools need nothing of the pipeline.
"""

from dataclasses import dataclass

SPEED_RANGE = (0.6, 1.5)
VOLUME_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class VoiceState:
    """How the assistant sounds; stored per conversation."""

    emotion: str = "neutral"
    speed: float = 1.0
    volume: float = 1.0


# Cartesia's documented emotions (pipecat's `CartesiaEmotion`), as plain names; kept literal,
# and tests/tools/test_emotion.py checks it equals pipecat's enum.

EMOTIONS: frozenset[str] = frozenset(
    {
        "affectionate", "agitated", "alarmed", "amazed", "angry", "anticipation", "anxious",
        "apologetic", "bored", "calm", "confident", "confused", "contemplative", "contempt",
        "content", "curious", "dejected", "determined", "disappointed", "disgusted", "distant",
        "elated", "enthusiastic", "envious", "euphoric", "excited", "flirtatious", "frustrated",
        "grateful", "guilty", "happy", "hesitant", "hurt", "insecure", "ironic", "joking/comedic",
        "mad", "melancholic", "mysterious", "neutral", "nostalgic", "outraged", "panicked",
        "peaceful", "proud", "rejected", "resigned", "sad", "sarcastic", "scared", "serene",
        "skeptical", "surprised", "sympathetic", "threatened", "tired", "triumphant", "trust",
        "wistful",
    }
)  # fmt: skip
