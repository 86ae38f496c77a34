"""The voice stack's warm-up: import it once, off the event loop, then freeze the heap.

The voice stack (pipecat, aiortc, and openai through the pipeline builder) takes ~2 s to
import, more than everything else the server needs, so the server imports it in a worker
thread once it has started (`VoiceBots.warm_up`).
"""

from __future__ import annotations

import gc
import threading

_voice_stack_lock = threading.Lock()
_frozen = False


def import_voice_stack() -> None:
    """Import every module a voice session uses. Blocking; a no-op once done.

    One thread at a time: two threads importing the same package concurrently can deadlock
    on the per-module import locks, so a caller that comes during the warm-up waits for it.
    """
    with _voice_stack_lock:
        import aiortc.sdp  # noqa: F401
        import dateparser  # noqa: F401  (the reminder tools read times with it)
        import pipecat.transports.smallwebrtc.request_handler  # noqa: F401
        import pipecat.transports.smallwebrtc.transport  # noqa: F401
        import pipecat.workers.runner  # noqa: F401

        import assistant.pipeline.builder  # noqa: F401
        import assistant.tools.registry  # noqa: F401  (the app's default tools)


def warm_voice_stack() -> None:
    """Import the voice stack, then take what exists now out of the garbage collector's way.

    After the import the heap holds a great many long-lived objects (modules, classes,
    functions). A full collection walks all of them with the event loop stopped, long enough to
    be heard as a gap in every live session's audio (bench/README.md: the full-GC pause).
    `gc.freeze` moves them to the permanent generation, so later full collections walk only
    what sessions create. Once per process: frozen objects are never
    collected, so freezing again would keep the garbage of ended sessions.
    """
    import_voice_stack()
    with _voice_stack_lock:
        global _frozen
        if not _frozen:
            gc.collect()  # the import's own garbage goes, not into the permanent generation
            gc.freeze()
            _frozen = True
