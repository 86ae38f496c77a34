"""The voice stack's warm-up takes the long-lived heap out of the garbage collector's way.

`warm_voice_stack()` imports the voice stack, collects, and `gc.freeze()`s what is left, once per
process, so that full collections during live sessions walk only what the sessions create. Each
test runs in a fresh interpreter: freezing is for the whole process and happens once.
"""

from __future__ import annotations

from tests.test_startup import VOICE_STACK, run_python

# Counts that don't depend on how many objects the libraries make: the voice stack's modules
# present, and those of them (or their namespaces) the collector still walks (none once frozen).
VOICE_MODULES = f"""
import gc, sys


def voice_modules():
    tracked = {{id(obj) for obj in gc.get_objects()}}
    stack = [module for name, module in list(sys.modules.items())
             if module is not None and name.split(".")[0] in {VOICE_STACK!r}]
    still = [module.__name__ for module in stack
             if id(module) in tracked or id(vars(module)) in tracked]
    return {{"present": len(stack), "still tracked": still}}
"""


WARM_TWICE = (
    VOICE_MODULES
    + """
import gc, json, weakref

from assistant.runtime.warmup import warm_voice_stack

gc.disable()  # no automatic collection: only warm_voice_stack's own gc.collect() may collect


class Node:
    pass


cycle = Node()  # garbage from before the warm-up: a reference cycle nothing else holds
cycle.self = cycle
cycle_alive = weakref.ref(cycle)
del cycle

before = gc.get_freeze_count()
warm_voice_stack()
first = {"frozen": gc.get_freeze_count(), "voice modules": voice_modules()}

new = [[index] for index in range(5000)]  # tracked containers made after the warm-up
warm_voice_stack()
tracked_ids = {id(obj) for obj in gc.get_objects()}
second = {
    "frozen": gc.get_freeze_count(),
    "new tracked": sum(gc.is_tracked(obj) and id(obj) in tracked_ids for obj in new),
}
print(json.dumps({"before": before, "first": first, "second": second,
                  "cycle collected": cycle_alive() is None}))
"""
)


def test_warm_voice_stack_freezes_the_heap_once():
    report = run_python(WARM_TWICE)

    assert report["before"] == 0
    first = report["first"]
    assert first["frozen"] > 0  # gc.freeze ran ...
    assert first["voice modules"]["present"] > 0
    assert first["voice modules"]["still tracked"] == []  # ... after the voice stack's import
    # the garbage that existed was collected first, not frozen for good
    assert report["cycle collected"]

    second = report["second"]
    assert second["frozen"] == first["frozen"]  # the second call froze nothing more ...
    assert second["new tracked"] == 5000  # ... so what was made since is still collectable


WARM_UP_THE_BOTS = (
    VOICE_MODULES
    + """
import asyncio, gc, json, sys, threading

import assistant.runtime.live_sessions as live_sessions
from assistant.config import Settings
from assistant.server.app import create_app

warmed_in = []
warm_voice_stack = live_sessions.warm_voice_stack


def recorded():
    warmed_in.append(threading.current_thread() is threading.main_thread())
    warm_voice_stack()


live_sessions.warm_voice_stack = recorded


async def main(url):
    app = create_app(Settings(_env_file=None, groq_api_key="g", cartesia_api_key="c",
                              database_url=url))
    bots = app.state.bots
    frozen_before = gc.get_freeze_count()
    bots.warm_up()
    await bots.ready()
    return {"frozen before": frozen_before, "frozen": gc.get_freeze_count(),
            "voice modules": voice_modules(), "warmed on the main thread": warmed_in}


print(json.dumps(asyncio.run(main(sys.argv[1]))))
"""
)


def test_the_bots_warm_up_ends_with_a_frozen_heap(tmp_path):
    report = run_python(WARM_UP_THE_BOTS, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")

    assert report["warmed on the main thread"] == [False]  # once, in a worker thread
    assert report["frozen before"] == 0
    assert report["frozen"] > 0
    assert report["voice modules"]["present"] > 0
    assert report["voice modules"]["still tracked"] == []
