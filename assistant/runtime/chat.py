"""Typed turns: into the conversation's live call if it has one, else on a text session.

A text session is the voice session's builder with text ends (`build_voice_session(...,
text_only=True)`), built for the one turn and ended after it. Built per request rather than
kept: it costs little next to the turn (bench/README.md, "Typed turns"), a kept one would have
to hand its conversation over to a call that starts (as a second tab's call does) and to be
closed after a while, and a new one always starts from what is stored. Like the voice stack,
this module imports pipecat only once `VoiceBots.ready()` is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger

from assistant.config import Settings
from assistant.runtime.live_sessions import VoiceBots
from assistant.store.database import Database
from assistant.store.models import Message
from assistant.store.repository import ConversationRepository

if TYPE_CHECKING:
    from assistant.pipeline.builder import SessionSpec, VoiceSession
    from assistant.pipeline.turns import TurnFailure, TypedReply
    from assistant.tools import ToolFactory

# The longest a text session may take to start its pipeline.
START_SECS = 15.0


class TurnFailed(Exception):
    """A typed turn got no reply (the LLM failed); the typed words are stored all the same."""

    def __init__(self, failure: TurnFailure, messages: list[Message]):
        super().__init__(failure.message)
        self.failure = failure
        self.messages = messages


@dataclass
class ChatResult:
    reply: str
    messages: list[Message]  # what was stored for this turn, in order
    timings: dict[str, float]
    notices: list[dict[str, Any]]
    live: bool  # it went into a call


@dataclass
class ChatTurn:
    """One typed turn under way: its reply as it is produced (`events`), then `result()`."""

    session: VoiceSession
    reply: TypedReply
    after_seq: int  # the conversation's last message before this turn
    db: Database
    live: bool
    # Ends a text session once its reply is complete, and frees the conversation.
    on_close: Callable[[], None] | None = None

    def close(self) -> None:
        """The route is done with the turn (answered, or its client went away)."""
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        """("text", words) and ("notice", message) as they come, until the reply is complete."""
        done = asyncio.ensure_future(self.reply.done.wait())
        try:
            while True:
                while not self.reply.events.empty():
                    yield self.reply.events.get_nowait()
                if done.done():
                    return
                get = asyncio.ensure_future(self.reply.events.get())
                await asyncio.wait({get, done}, return_when=asyncio.FIRST_COMPLETED)
                if get.done():
                    yield get.result()
                else:
                    get.cancel()
        finally:
            done.cancel()

    async def result(self) -> ChatResult:
        """Once the reply is complete and stored; raises `TurnFailed` if there was none."""
        await self.reply.done.wait()
        await self.session.recorder.flush()
        spec = self.session.spec
        async with self.db.transaction() as store:
            messages = await ConversationRepository(store, spec.user_id).messages(
                spec.conversation_id, after_seq=self.after_seq
            )
        # In a call, what the typed words cut off is stored just before them.
        typed = next(
            (
                i
                for i, m in enumerate(messages)
                if m.role == "user" and m.content == self.reply.text
            ),
            0,
        )
        messages = messages[typed:]
        if self.reply.failure is not None:
            raise TurnFailed(self.reply.failure, messages)
        return ChatResult(
            self.reply.reply, messages, self.reply.timings, self.reply.notices, self.live
        )


class Chat:
    """Runs typed turns for the API; one per conversation at a time."""

    def __init__(
        self, settings: Settings, db: Database, bots: VoiceBots, tool_factory: ToolFactory | None
    ):
        self._settings = settings
        self._db = db
        self._bots = bots
        self._tool_factory = tool_factory
        self._endings: set[asyncio.Task] = set()

    async def send(self, spec: SessionSpec, text: str) -> ChatTurn:
        """Send `text` as the user's turn; `ChatTurn.close()` must follow."""
        await self._bots.ready()
        lock = self._bots.conversation_lock(spec.conversation_id)
        await lock.acquire()
        session: VoiceSession | None = None
        try:
            live = self._bots.live(spec.conversation_id)
            if live is not None:  # the call owns the conversation; its own order holds
                lock.release()
                after = await self._last_seq(spec)
                return ChatTurn(live, await live.send_text(text), after, self._db, live=True)
            session, run = await self._start_text_session(spec)
            after = await self._last_seq(spec)
            reply = await session.send_text(text)
        except BaseException:
            if session is not None:
                await self._end(session, run, lock)
            elif lock.locked() and self._bots.live(spec.conversation_id) is None:
                lock.release()
            raise
        return ChatTurn(
            session,
            reply,
            after,
            self._db,
            live=False,
            on_close=lambda: self._ending(session, run, lock, reply),
        )

    async def _start_text_session(self, spec: SessionSpec) -> tuple[VoiceSession, asyncio.Task]:
        from assistant.pipeline.builder import build_voice_session

        session = await build_voice_session(
            self._settings, self._db, spec, tool_factory=self._tool_factory, text_only=True
        )
        started = asyncio.Event()

        @session.worker.event_handler("on_pipeline_started")
        async def _started(_worker, _frame):
            started.set()

        run = asyncio.create_task(session.run(), name=f"text-{spec.conversation_id}")
        try:
            await asyncio.wait_for(started.wait(), START_SECS)
        except BaseException:
            await session.worker.cancel()
            await asyncio.gather(run, return_exceptions=True)
            raise
        return session, run

    def _ending(
        self, session: VoiceSession, run: asyncio.Task, lock: asyncio.Lock, reply: TypedReply
    ) -> None:
        task = asyncio.create_task(self._end(session, run, lock, reply))
        self._endings.add(task)
        task.add_done_callback(self._endings.discard)

    async def _end(
        self,
        session: VoiceSession,
        run: asyncio.Task,
        lock: asyncio.Lock,
        reply: TypedReply | None = None,
    ) -> None:
        """End the text session after its turn (its reply complete, even if the client went
        away: the LLM's own bounds end it): what it said is stored, and the end-of-session
        summary is made if one is due, before the conversation is free again."""
        from pipecat.frames.frames import EndFrame

        try:
            if reply is not None:
                await reply.done.wait()
            await session.worker.queue_frame(EndFrame())
            await run
        except asyncio.CancelledError:
            await session.worker.cancel()
            raise
        except Exception:
            logger.exception(f"the text session of {session.spec.conversation_id} failed")
        finally:
            lock.release()

    async def _last_seq(self, spec: SessionSpec) -> int:
        async with self._db.session() as store:
            return await ConversationRepository(store, spec.user_id).last_seq(spec.conversation_id)

    async def shutdown(self) -> None:
        for task in list(self._endings):
            task.cancel()
        await asyncio.gather(*self._endings, return_exceptions=True)
