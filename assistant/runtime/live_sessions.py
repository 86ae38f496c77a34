"""Live voice sessions: one pipeline per WebRTC connection, one live session per conversation.

This module does not import the voice stack: `VoiceBots.warm_up` imports it in a worker thread
(`assistant.runtime.warmup`), and a connection only exists once `VoiceBots.ready()` is done.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
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


class TooManySessions(Exception):
    """No room for another voice session; the message is for the person who asked."""


@dataclass(eq=False)
class SessionSlot:
    """Room for one voice session, held from its offer until the session ends."""

    user_id: int
    conversation_id: str
    pc_id: str | None = None  # its peer connection, once the offer made one


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
        # Every session being offered or running (MAX_VOICE_SESSIONS, and per user).
        self._slots: set[SessionSlot] = set()
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

    def live_conversations(self) -> set[str]:
        """Conversations a voice session is in, or is starting in."""
        return set(self._live) | set(self._conversation_locks)

    def warm_up(self) -> None:
        """Start importing the voice stack in a worker thread (the app does it on start)."""
        if self._warming is None:
            self._warming = asyncio.get_running_loop().run_in_executor(None, warm_voice_stack)
            self._warming.add_done_callback(_log_failed_warm_up)

    async def ready(self) -> None:
        """Wait, without blocking the event loop, until the voice stack is imported."""
        self.warm_up()
        await asyncio.shield(self._warming)  # one caller's cancellation must not cancel it

    def reserve(self, user_id: int, conversation_id: str) -> SessionSlot:
        """Room for a new session, before its offer is answered (`release` it if none starts).

        A session that takes its conversation over from another tab does not count that one:
        it ends as this one starts. Raises TooManySessions when the server or the user is at
        the limit.
        """
        others = [slot for slot in self._slots if slot.conversation_id != conversation_id]
        limit = self._settings.max_voice_sessions
        if len(others) >= limit:
            raise TooManySessions(
                f"The assistant is busy: {limit} voice sessions are live, the most it takes at "
                "once. Try again when one ends."
            )
        per_user = self._settings.max_voice_sessions_per_user
        if sum(slot.user_id == user_id for slot in others) >= per_user:
            raise TooManySessions(
                f"You already have {per_user} voice sessions open, the most for one person. End "
                "one (in another tab or device) and try again."
            )
        slot = SessionSlot(user_id, conversation_id)
        self._slots.add(slot)
        return slot

    def release(self, slot: SessionSlot) -> None:
        self._slots.discard(slot)

    def serves(self, pc_id: str | None) -> bool:
        """Whether a live session runs over this peer connection (an offer for it renegotiates
        and starts nothing)."""
        return pc_id is not None and any(slot.pc_id == pc_id for slot in self._slots)

    def start(
        self, connection: SmallWebRTCConnection, spec: SessionSpec, slot: SessionSlot
    ) -> None:
        """Run a voice session over a new connection until its peer goes away; its slot is
        released when it ends."""
        slot.pc_id = connection.pc_id
        task = asyncio.create_task(self._run(connection, spec), name=f"voice-{spec.user_name}")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        task.add_done_callback(lambda _task: self.release(slot))

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

    async def memory_changed(self, user_id: int) -> None:
        """The user's facts changed outside a session (the page): each of their live sessions
        replaces its block of facts, and its page hears of it."""
        for session in [s for s in self._live.values() if s.spec.user_id == user_id]:
            try:
                if session.known_facts is not None:
                    await session.known_facts.refresh()
                await session.notify({"type": "memory-changed"})
            except Exception:  # the change is stored; the session's next start reads it
                logger.exception(f"telling conversation {session.spec.conversation_id} failed")

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
