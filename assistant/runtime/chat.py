"""Typed turns: into the conversation's live call if it has one, else on a text session.

A text session is the voice session's builder with text ends (`build_voice_session(...,
text_only=True)`). It is kept a while after a typed turn rather than built per request: the
build and start cost about twice a turn's own work (bench/README.md, "Typed turns"), and a kept
one keeps its Groq connection open. While kept it is the conversation's live session
(`VoiceBots.keep_live`): the next typed turn goes into it, and a call that starts takes the
conversation over from it as from another tab. Like the voice stack, this module imports
pipecat only once `VoiceBots.ready()` is done.
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
# How long a text session is kept after its last typed turn, for the next one.
TEXT_SESSION_KEEP_SECS = 120.0


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
    """Runs typed turns for the API: into the conversation's live session (a call, or a text
    session kept from an earlier typed turn), else on a new text session, kept `keep_secs`
    after its last turn."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        bots: VoiceBots,
        tool_factory: ToolFactory | None,
        *,
        keep_secs: float = TEXT_SESSION_KEEP_SECS,
    ):
        self._settings = settings
        self._db = db
        self._bots = bots
        self._tool_factory = tool_factory
        self._keep_secs = keep_secs
        self._text_runs: dict[str, asyncio.Task] = {}  # the kept text sessions' runs
        self._expiries: dict[str, asyncio.TimerHandle] = {}
        self._endings: set[asyncio.Task] = set()

    async def send(self, spec: SessionSpec, text: str) -> ChatTurn:
        """Send `text` as the user's turn; `ChatTurn.close()` must follow."""
        await self._bots.ready()
        conversation_id = spec.conversation_id
        # A call starting meanwhile waits for the typed words to be in; then it takes the
        # conversation over as from another tab (a text session's reply under way ends first).
        async with self._bots.conversation_lock(conversation_id):
            self._cancel_expiry(conversation_id)
            session = self._bots.live(conversation_id)
            if session is None:
                session, run = await self._start_text_session(spec)
                self._bots.keep_live(session, run)
                self._text_runs[conversation_id] = run
                run.add_done_callback(lambda _: self._forget(conversation_id, run))
            after = await self._last_seq(spec)
            reply = await session.send_text(text)
        return ChatTurn(
            session,
            reply,
            after,
            self._db,
            live=not session.text_only,
            on_close=(lambda: self._expire_later(session, reply)) if session.text_only else None,
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

    def _expire_later(self, session: VoiceSession, reply: TypedReply) -> None:
        """Once the reply is complete (even if the client went away: the LLM's own bounds end
        it), the text session is kept `keep_secs` for the next typed turn."""
        conversation_id = session.spec.conversation_id

        def schedule(_=None) -> None:
            self._cancel_expiry(conversation_id)
            self._expiries[conversation_id] = asyncio.get_running_loop().call_later(
                self._keep_secs, self._expired, session
            )

        if reply.done.is_set():
            schedule()
        else:
            waiting = asyncio.ensure_future(reply.done.wait())
            waiting.add_done_callback(schedule)

    def _cancel_expiry(self, conversation_id: str) -> None:
        expiry = self._expiries.pop(conversation_id, None)
        if expiry is not None:
            expiry.cancel()

    def _expired(self, session: VoiceSession) -> None:
        self._expiries.pop(session.spec.conversation_id, None)
        task = asyncio.create_task(self._end(session))
        self._endings.add(task)
        task.add_done_callback(self._endings.discard)

    async def _end(self, session: VoiceSession) -> None:
        """End a kept text session: what it said is stored, and the end-of-session summary is
        made if one is due, before a later turn or call of the conversation starts."""
        from pipecat.frames.frames import EndFrame

        conversation_id = session.spec.conversation_id
        async with self._bots.conversation_lock(conversation_id):
            run = self._text_runs.get(conversation_id)
            if self._bots.live(conversation_id) is not session or run is None:
                return  # a call took it over meanwhile
            if conversation_id in self._expiries or not session.turns.idle_now:
                return  # another typed turn came (and went): it is kept longer
            self._bots.drop_live(session)
            try:
                await session.worker.queue_frame(EndFrame())
                await asyncio.shield(run)
            except asyncio.CancelledError:
                await session.worker.cancel()
                raise
            except Exception:
                logger.exception(f"the text session of {conversation_id} failed")

    def _forget(self, conversation_id: str, run: asyncio.Task) -> None:
        if self._text_runs.get(conversation_id) is run:
            del self._text_runs[conversation_id]
            self._cancel_expiry(conversation_id)

    async def text_session_ended(self, conversation_id: str) -> None:
        """Wait until the conversation's kept text session, if any, has ended (everything it
        said stored, its summary made): for tests and benchmarks."""
        run = self._text_runs.get(conversation_id)
        if run is not None:
            await asyncio.shield(run)
        await asyncio.gather(*self._endings, return_exceptions=True)

    async def _last_seq(self, spec: SessionSpec) -> int:
        async with self._db.session() as store:
            return await ConversationRepository(store, spec.user_id).last_seq(spec.conversation_id)

    async def shutdown(self) -> None:
        """The server stops: the kept text sessions end as the calls do (cancelled)."""
        for expiry in self._expiries.values():
            expiry.cancel()
        self._expiries.clear()
        tasks = [*self._endings, *self._text_runs.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
