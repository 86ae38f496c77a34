"""Cartesia's documented emotions (pipecat's `CartesiaEmotion`), as plain names.

Kept literal so validating the configuration doesn't import pipecat's TTS stack (~1 s of
start-up); tests/tools/test_emotion.py checks it equals pipecat's enum.
"""

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
