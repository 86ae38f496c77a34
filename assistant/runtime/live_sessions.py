"""Live voice sessions: one pipeline per WebRTC connection, one live session per conversation.

This module does not import the voice stack: `VoiceBots.warm_up` imports it in a worker thread
(`assistant.runtime.warmup`), and a connection only exists once `VoiceBots.ready()` is done.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from loguru import logger

from assistant.config import Settings
from assistant.runtime.conversation_leases import ConversationLeases, LocalLeases
from assistant.runtime.warmup import warm_voice_stack
from assistant.store.database import Database

if TYPE_CHECKING:
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

    from assistant.pipeline.builder import SessionHook, SessionSpec, VoiceSession
    from assistant.tools import ToolFactory


class VoiceBots:
    """Starts one pipeline per WebRTC connection and stops it when the peer goes away."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        tool_factory: ToolFactory | None,
        session_hooks: Sequence[SessionHook] = (),
    ):
        """``session_hooks`` run on each new session (the app's reminder delivery, for one)."""
        self._settings = settings
        self._db = db
        self._tool_factory = tool_factory
        self.session_hooks = tuple(session_hooks)
        self._warming: asyncio.Future[None] | None = None
        self._runs: set[asyncio.Task] = set()
        # One live session per conversation: a new one takes over (see `_take_over`).
        self._live: dict[str, VoiceSession] = {}
        # Held while a session takes its conversation over; gone once nobody holds or awaits it.
        self._conversation_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # Which conversations are live here rather than on another process (PostgreSQL).
        self.leases: ConversationLeases = LocalLeases()

    @property
    def active(self) -> int:
        return len(self._runs)

    def live(self, conversation_id: str) -> VoiceSession | None:
        """The call this conversation is live in, if any."""
        return self._live.get(conversation_id)

    def keep_live(self, session: VoiceSession, run: asyncio.Task) -> None:
        """A session run elsewhere (a kept text session) is its conversation's live one, until
        it ends or a call takes the conversation over. Call with the conversation's lock held."""
        conversation_id = session.spec.conversation_id
        self._live[conversation_id] = session
        run.add_done_callback(lambda _: self.drop_live(session))

    def drop_live(self, session: VoiceSession) -> None:
        if self._live.get(session.spec.conversation_id) is session:
            del self._live[session.spec.conversation_id]

    def conversation_lock(self, conversation_id: str) -> asyncio.Lock:
        """Held while a session takes its conversation over, and while typed words go in."""
        return self._conversation_locks.setdefault(conversation_id, asyncio.Lock())

    def warm_up(self) -> None:
        """Start importing the voice stack in a worker thread (the app does it on start)."""
        if self._warming is None:
            self._warming = asyncio.get_running_loop().run_in_executor(None, warm_voice_stack)
            self._warming.add_done_callback(_log_failed_warm_up)

    async def ready(self) -> None:
        """Wait, without blocking the event loop, until the voice stack is imported."""
        self.warm_up()
        await asyncio.shield(self._warming)  # one caller's cancellation must not cancel it

    def start(self, connection: SmallWebRTCConnection, spec: SessionSpec) -> None:
        """Run a voice session over a new connection until its peer goes away."""
        task = asyncio.create_task(self._run(connection, spec), name=f"voice-{spec.user_name}")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def _run(self, connection: SmallWebRTCConnection, spec: SessionSpec) -> None:
        # Imported by `ready()` before the offer that got here.
        from pipecat.transports.base_transport import TransportParams
        from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
        from pipecat.workers.runner import WorkerRunner

        from assistant.pipeline.builder import build_voice_session

        session: VoiceSession | None = None
        try:
            transport = SmallWebRTCTransport(
                webrtc_connection=connection,
                params=TransportParams(audio_in_enabled=True, audio_out_enabled=True),
            )
            async with self.conversation_lock(spec.conversation_id):
                await self.leases.acquire(spec.conversation_id)
                await self._take_over(spec.conversation_id)
                session = await build_voice_session(
                    self._settings,
                    self._db,
                    spec,
                    transport_input=transport.input(),
                    transport_output=transport.output(),
                    tool_factory=self._tool_factory,
                    session_hooks=self.session_hooks,
                )
                self._live[spec.conversation_id] = session

            # Greet once the page's RTVI client is ready, so it sees the session message too.
            @session.worker.rtvi.event_handler("on_client_ready")
            async def _on_client_ready(_rtvi):
                await session.greet()

            @transport.event_handler("on_client_disconnected")
            async def _on_disconnected(_transport, _client):
                await session.worker.cancel()

            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(session.worker)
            await session.run(runner)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(f"voice session for {spec.user_name} failed")
        finally:
            if session is not None and self._live.get(spec.conversation_id) is session:
                del self._live[spec.conversation_id]
            await self._release_if_unused(spec.conversation_id)
            await connection.disconnect()

    async def _release_if_unused(self, conversation_id: str) -> None:
        """Let other processes have a conversation no session here has or is taking over."""
        lock = self._conversation_locks.get(conversation_id)
        if conversation_id not in self._live and (lock is None or not lock.locked()):
            await self.leases.release(conversation_id)

    async def _take_over(self, conversation_id: str) -> None:
        """A conversation live in another tab or device ends there, everything said in it
        stored, before it starts here: two sessions would each answer from their own half of
        it, and the page left behind would still look live."""
        previous = self._live.pop(conversation_id, None)
        if previous is None:
            return
        logger.info(f"conversation {conversation_id} moves to a new connection")
        try:
            await previous.hand_over()
        except Exception:  # the new session starts anyway, from what is stored
            logger.exception(f"the previous session of {conversation_id} did not end cleanly")

    async def hand_over_elsewhere(self, conversation_id: str) -> None:
        """Another process opens ``conversation_id``: its session here ends, everything said
        stored (`ConversationLeases` then lets the other process have it)."""
        async with self.conversation_lock(conversation_id):
            await self._take_over(conversation_id)

    async def shutdown(self) -> None:
        for task in list(self._runs):
            task.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)


def _log_failed_warm_up(warming: asyncio.Future[None]) -> None:
    if not warming.cancelled() and warming.exception() is not None:
        logger.opt(exception=warming.exception()).error("importing the voice stack failed")
