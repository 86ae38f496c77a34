"""Real speech for tests: espeak-ng says the words, sox makes 16 kHz mono PCM of it."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

SAMPLE_RATE = 16000


def have_speech_tools() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


# Every WAV of this process in one folder, removed when the process exits.
_SPEECH_DIR = tempfile.TemporaryDirectory(prefix="speech-")


@functools.cache
def speech_wav(text: str, *, lead_silence: float = 0.3, tail_silence: float = 1.2) -> Path:
    """A 16 kHz mono s16 WAV of `text`, padded with silence so a VAD sees a clean turn."""
    folder = Path(tempfile.mkdtemp(dir=_SPEECH_DIR.name))
    raw = folder / "raw.wav"
    out = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(
        ["sox", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(out)]
        + ["pad", str(lead_silence), str(tail_silence)],
        check=True,
    )
    return out


def speech_pcm(text: str) -> bytes:
    import wave

    with wave.open(str(speech_wav(text)), "rb") as wav:
        return wav.readframes(wav.getnframes())


def rms(pcm: bytes) -> float:
    """Root mean square of s16le samples: 0 for silence, ~hundreds and up for speech or tones."""
    import array
    import math

    samples = array.array("h", pcm[: len(pcm) - len(pcm) % 2])
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def require_speech_tools() -> None:
    """Skip on a developer machine without espeak-ng/sox; in CI (which installs them) fail."""
    import os

    import pytest

    if have_speech_tools():
        return
    reason = "espeak-ng and sox are needed for spoken test input (.ci/run installs them)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
