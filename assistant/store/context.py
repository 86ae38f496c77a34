"""Seed an LLM context (OpenAI/Groq chat format) from stored messages, and keep it in budget.

The output must be something Groq accepts as-is, whatever the store contains: a crash can
leave an assistant tool call without its result, a result can be stored after the user
already spoke again, a barge-in can leave an empty assistant message. ``to_openai_messages``
repairs all of that; ``load_context`` picks the window to feed it without reading the whole
history. A live session's requests are held to the same budget (``bound_messages``), and its
context is folded onto a new summary the same way a resume would load it (``fold_summary``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.models import Conversation, Message, MessageKind, Role

# Role "user", not "system": the summary is a digest of what the user said, i.e. untrusted
# text, and must not get system-prompt authority. User messages are also accepted anywhere
# by every OpenAI-compatible API and chat template (a second system message is not), and it
# is what pipecat's own context summarizer injects, so a resumed context looks like a live one.
SUMMARY_ROLE = "user"
SUMMARY_PREFIX = "Summary of our earlier conversation:\n"

# No tokenizer for Groq's Llama models is available offline, so estimate: ~4 characters per
# token for English text, plus what chat templates add around each message (role header and
# separators). Deliberately a little pessimistic.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4

DEFAULT_PAGE_SIZE = 64
MAX_PAGE_SIZE = 1024
# The most a summary request condenses, in resume budgets.
MAX_OVERFLOW_BUDGETS = 3


class StoredMessage(Protocol):
    """What ``to_openai_messages`` needs from a row (``Message`` or ``MessageView``)."""

    @property
    def kind(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def content(self) -> str | None: ...
    @property
    def tool_calls(self) -> list[dict[str, Any]] | None: ...
    @property
    def tool_call_id(self) -> str | None: ...
    @property
    def seq(self) -> int: ...


@dataclass(frozen=True, slots=True)
class MessageView:
    """A plain stand-in for a stored ``Message`` (tests, in-memory histories)."""

    role: str
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    kind: str = MessageKind.MESSAGE
    interrupted: bool = False
    seq: int = 0


def summary_message(text: str) -> dict[str, Any]:
    """A stored summary as the context carries it (resumed or live)."""
    return {"role": SUMMARY_ROLE, "content": SUMMARY_PREFIX + text}


def is_summary(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") == SUMMARY_ROLE
        and isinstance(message.get("content"), str)
        and message["content"].startswith(SUMMARY_PREFIX)
    )


def tokens_of_chars(chars: int) -> int:
    """What ``estimate_tokens`` counts for a message of ``chars`` characters."""
    return MESSAGE_OVERHEAD_TOKENS + math.ceil(chars / CHARS_PER_TOKEN)


def estimate_tokens(message: dict[str, Any]) -> int:
    content = message.get("content")
    chars = len(content) if isinstance(content, str) else len(json.dumps(content or ""))
    if message.get("tool_calls"):
        chars += len(json.dumps(message["tool_calls"], ensure_ascii=False))
    if message.get("tool_call_id"):
        chars += len(message["tool_call_id"])
    return tokens_of_chars(chars)


def _has_text(content: str | None) -> bool:
    return bool(content and content.strip())


def _normalize_tool_calls(raw: Any) -> list[dict[str, Any]]:
    """Valid calls in strict OpenAI shape; drops malformed ones and duplicate ids.

    Strict because Groq rejects unknown keys (e.g. the ``index`` streaming deltas carry).
    """
    calls: list[dict[str, Any]] = []
    seen: set[str] = set()
    for call in raw if isinstance(raw, list) else []:
        if not isinstance(call, dict):
            continue
        call_id, function = call.get("id"), call.get("function")
        if not isinstance(call_id, str) or not call_id or call_id in seen:
            continue
        if not isinstance(function, dict) or not function.get("name"):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {})
        seen.add(call_id)
        calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {"name": str(function["name"]), "arguments": arguments},
            }
        )
    return calls


@dataclass(slots=True)
class _CallGroup:
    """An assistant tool-call message and the results found for it, in arrival order."""

    text: str | None
    calls: list[dict[str, Any]]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def render(self) -> list[dict[str, Any]]:
        answered = [call for call in self.calls if call["id"] in self.results]
        if not answered:
            return [{"role": "assistant", "content": self.text}] if self.text else []
        # "content" omitted rather than null when there's no text, like pipecat does.
        head: dict[str, Any] = {"role": "assistant"}
        if self.text:
            head["content"] = self.text
        head["tool_calls"] = answered
        return [head, *self.results.values()]


def _units(rows: Iterable[StoredMessage]) -> list[list[dict[str, Any]]]:
    """Convert rows into atomic units: a single message, or a tool-call group."""
    return _units_and_starts(rows)[0]


def _units_and_starts(
    rows: Iterable[StoredMessage],
) -> tuple[list[list[dict[str, Any]]], list[int]]:
    """`_units`, and the seq of the row each unit starts at."""
    units: list[_CallGroup | dict[str, Any]] = []
    starts: list[int] = []
    owner: dict[str, _CallGroup] = {}  # call id -> most recent group that made that call
    for row in rows:
        if row.kind == MessageKind.SUMMARY:
            if _has_text(row.content):
                _append(units, starts, row, summary_message(row.content))
            continue
        role, content = row.role, row.content
        if role == Role.TOOL:
            call_id = row.tool_call_id
            group = owner.get(call_id) if call_id else None
            if call_id and group is not None:
                # A result stored late (after the user spoke again) is moved back next to
                # its call, where the API requires it; a repeated result replaces the
                # earlier one (e.g. a stored "IN_PROGRESS" placeholder).
                group.results[call_id] = {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": content or "",
                }
            continue  # results without their call are dropped
        text = content if _has_text(content) else None
        if role == Role.ASSISTANT:
            calls = _normalize_tool_calls(row.tool_calls)
            if calls:
                group = _CallGroup(text, calls)
                _append(units, starts, row, group)
                owner.update((call["id"], group) for call in calls)
            elif text:
                _append(units, starts, row, {"role": "assistant", "content": text})
        elif role in (Role.USER, Role.SYSTEM) and text:
            _append(units, starts, row, {"role": str(role), "content": text})
    rendered = [u.render() if isinstance(u, _CallGroup) else [u] for u in units]
    kept = [(unit, start) for unit, start in zip(rendered, starts, strict=True) if unit]
    return [unit for unit, _ in kept], [start for _, start in kept]


def _append(units: list, starts: list[int], row: StoredMessage, unit: Any) -> None:
    units.append(unit)
    starts.append(row.seq)


def to_openai_messages(rows: Iterable[StoredMessage]) -> list[dict[str, Any]]:
    """Stored rows (chronological) -> messages Groq/OpenAI accept.

    * user/system/assistant text: ``{"role", "content"}``; empty ones are dropped.
    * an assistant tool-call message is immediately followed by exactly one ``tool`` message
      per call it keeps; calls without a stored result are dropped (and the message too if
      it has no text), results without a call are dropped.
    * a summary row becomes a ``user`` message prefixed with ``SUMMARY_PREFIX``.
    * interrupted assistant messages keep the text that was actually spoken, unmarked (a
      marker would be imitated by the model and then read out loud).
    * never any other keys (no seq, ids or flags).
    """
    return [message for unit in _units(rows) for message in unit]


def _unit_tokens(unit: Sequence[dict[str, Any]]) -> int:
    return sum(estimate_tokens(message) for message in unit)


def _fit(units: list[list[dict[str, Any]]], budget: int) -> tuple[list[list[dict[str, Any]]], bool]:
    """Longest suffix of whole units within ``budget``; and whether all of them fitted."""
    spent, start = 0, len(units)
    while start > 0:
        cost = _unit_tokens(units[start - 1])
        if spent + cost > budget:
            return units[start:], False
        spent += cost
        start -= 1
    return units, True


def _start_at_user(units: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    # Don't open mid-exchange with an answer to a question the model can't see.
    for i, unit in enumerate(units):
        if unit[0]["role"] == "user":
            return units[i:]
    return units


_ROW_COLUMNS = (
    Message.seq,
    Message.kind,
    Message.role,
    Message.content,
    Message.tool_calls,
    Message.tool_call_id,
)


async def _latest_summary(
    session: AsyncSession, user_id: int, conversation_id: str
) -> tuple[list[list[dict[str, Any]]], int] | None:
    """The latest summary as a unit list (empty if none) and the seq it covers up to (0 if
    none); None if the conversation doesn't exist or isn't the user's."""
    owned = await session.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    if owned is None:
        return None
    summary = (
        await session.execute(
            select(*_ROW_COLUMNS, Message.summary_until_seq)
            .where(Message.conversation_id == conversation_id)
            .where(Message.kind == MessageKind.SUMMARY)
            .order_by(Message.seq.desc())
            .limit(1)
        )
    ).one_or_none()
    if summary is None:
        return [], 0
    floor = summary.summary_until_seq if summary.summary_until_seq is not None else summary.seq
    return _units([summary]), floor


async def load_context(
    session: AsyncSession,
    user_id: int,
    conversation_id: str,
    token_budget: int,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    max_rows: int | None = None,
) -> list[dict[str, Any]]:
    """Context to resume a conversation: latest summary + the newest messages that fit.

    Returns ``[]`` for a conversation that doesn't exist or belongs to another user (same as
    an empty one, so callers can't probe other users' ids).

    ``token_budget`` covers everything returned: the summary is always included and counted
    first, and messages fill what's left. Messages are read newest-first, a page at a time,
    through the UNIQUE(conversation_id, seq) index, stopping as soon as the budget is used up,
    so the cost is O(window), not O(history). ``max_rows`` (default: ``token_budget``; every
    useful row costs several tokens) caps the rows read even if the history is full of rows
    that produce nothing, such as empty interrupted messages.
    """
    found = await _latest_summary(session, user_id, conversation_id)
    if found is None:
        return []
    head, floor = found
    budget = token_budget - sum(_unit_tokens(unit) for unit in head)
    row_cap = max(page_size, max_rows if max_rows is not None else token_budget)

    newest_first: list[Any] = []
    window: list[list[dict[str, Any]]] = []
    ceiling: int | None = None
    page = page_size
    while budget > 0:
        stmt = (
            select(*_ROW_COLUMNS)
            .where(Message.conversation_id == conversation_id, Message.seq > floor)
            .order_by(Message.seq.desc())
            .limit(page)
        )
        if ceiling is not None:
            stmt = stmt.where(Message.seq < ceiling)
        batch = (await session.execute(stmt)).all()
        newest_first.extend(batch)
        # Older rows can't change units that start inside the window (a unit only takes
        # rows that come after it), so re-fitting after each page is exact.
        rows = [row for row in reversed(newest_first) if row.kind != MessageKind.SUMMARY]
        window, everything_fits = _fit(_units(rows), budget)
        if not everything_fits or len(batch) < page or len(newest_first) >= row_cap:
            break
        ceiling = batch[-1].seq
        page = min(page * 2, MAX_PAGE_SIZE)

    return [message for unit in head + _start_at_user(window) for message in unit]


@dataclass(frozen=True)
class Overflow:
    """What a resume would leave out, to be condensed into a summary."""

    transcript: list[dict[str, Any]]  # the latest summary (if any), then the messages left out
    until_seq: int  # the last seq they cover: the new summary's ``summary_until_seq``
    # The messages after them, as a resume would send them (from a user turn on).
    kept: list[dict[str, Any]] = field(default_factory=list)


async def find_overflow(
    session: AsyncSession,
    user_id: int,
    conversation_id: str,
    token_budget: int,
    *,
    keep_ratio: float = 0.5,
) -> Overflow | None:
    """The messages since the latest summary that no longer fit ``token_budget``, or None.

    When they don't all fit, everything but the newest ``keep_ratio`` of the budget (cut where
    the user speaks, so no exchange is split) is overflow: condensed into a summary, it leaves
    room for the conversation to grow before the next one. Reads at most as many rows as
    ``load_context`` would consider (``token_budget``), newest first.
    """
    found = await _latest_summary(session, user_id, conversation_id)
    if found is None:
        return None
    head, floor = found
    newest_first = (
        await session.execute(
            select(*_ROW_COLUMNS)
            .where(Message.conversation_id == conversation_id, Message.seq > floor)
            .where(Message.kind != MessageKind.SUMMARY)
            .order_by(Message.seq.desc())
            .limit(max(DEFAULT_PAGE_SIZE, token_budget))
        )
    ).all()
    units, starts = _units_and_starts(reversed(newest_first))
    head_tokens = sum(_unit_tokens(unit) for unit in head)
    if head_tokens + sum(_unit_tokens(unit) for unit in units) <= token_budget:
        return None
    kept = _start_at_user(_fit(units, int(token_budget * keep_ratio))[0])
    if not kept or kept[0][0]["role"] != "user":
        return None  # no user turn to resume from
    cut = len(units) - len(kept)
    if cut == 0:
        return None  # nothing to condense
    # One request's worth: the newest of what overflows (a history imported without summaries
    # can be far longer than a model takes at once; what is older was out of reach already).
    condensed, _ = _fit(units[:cut], MAX_OVERFLOW_BUDGETS * token_budget)
    transcript = [message for unit in head + condensed for message in unit]
    return Overflow(
        transcript=transcript,
        until_seq=starts[cut] - 1,
        kept=[message for unit in kept for message in unit],
    )


# ------------------------------------------------------------------ a live session's context


def _message_units(messages: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Request messages as atomic units: an assistant tool-call message with the results
    that follow it, or a single message. Trimming whole units never splits a call from its
    result, which Groq rejects."""
    units: list[list[dict[str, Any]]] = []
    for message in messages:
        if message.get("role") == "tool" and units and units[-1][0].get("tool_calls"):
            units[-1].append(message)
        else:
            units.append([message])
    return units


def _leading_system(messages: Sequence[Any]) -> int:
    count = 0
    while (
        count < len(messages)
        and isinstance(messages[count], dict)
        and messages[count].get("role") == "system"
    ):
        count += 1
    return count


def _current_turn(messages: Sequence[Any], start: int) -> int:
    """Index of the last user message (the turn being answered) at or after ``start``."""
    for i in range(len(messages) - 1, start - 1, -1):
        message = messages[i]
        if isinstance(message, dict) and message.get("role") == "user" and not is_summary(message):
            return i
    return len(messages)


def history_tokens(messages: Sequence[dict[str, Any]]) -> int:
    """Estimated tokens of what ``bound_messages`` holds to the budget: the summary and the
    history before the current turn (not the system instruction, not the turn itself)."""
    start = _leading_system(messages)
    return sum(estimate_tokens(m) for m in messages[start : _current_turn(messages, start)])


def bound_messages(messages: list[dict[str, Any]], token_budget: int) -> list[dict[str, Any]]:
    """A request's messages with the history cut to ``token_budget``, as a resume would.

    Kept whole: the leading system messages, the summary right after them (counted in the
    budget, as in ``load_context``) and the current turn (the last user message and what
    follows it: tool calls, results). The history between keeps its newest whole units that
    fit, from a user message on. Returns ``messages`` itself when everything fits.
    """
    start = _leading_system(messages)
    head_end = start + 1 if start < len(messages) and is_summary(messages[start]) else start
    turn = _current_turn(messages, head_end)
    spare = token_budget - sum(estimate_tokens(m) for m in messages[start:head_end])
    window, everything_fits = _fit(_message_units(messages[head_end:turn]), spare)
    if everything_fits:
        return messages
    kept = [message for unit in _start_at_user(window) for message in unit]
    return [*messages[:head_end], *kept, *messages[turn:]]


def fold_summary(
    messages: list[Any], summary: str, kept: Sequence[dict[str, Any]]
) -> list[Any] | None:
    """A live context with everything before ``kept`` replaced by ``summary``, or None.

    ``kept`` comes from the store (``Overflow.kept``): the new summary covers everything
    stored before it. The live context holds the same user messages in the same order, and
    maybe newer ones not yet stored, so ``kept`` starts at the first place where the user
    messages run as ``kept``'s do. The earliest such place is taken: if the user repeated
    themselves, a little is said twice rather than something lost. None when there is no
    such place (a message the store could not keep).
    """
    wanted = [m.get("content") for m in kept if m.get("role") == "user"]
    if not wanted:
        return None
    start = _leading_system(messages)
    users = [
        (i, message.get("content"))
        for i, message in enumerate(messages)
        if i >= start
        and isinstance(message, dict)
        and message.get("role") == "user"
        and not is_summary(message)
    ]
    contents = [content for _, content in users]
    for j, (index, _) in enumerate(users):
        if contents[j : j + len(wanted)] == wanted:
            return [*messages[:start], summary_message(summary), *messages[index:]]
    return None


def normalize_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in the strict shape Groq accepts, repaired as stored history is
    (``to_openai_messages``): unknown keys dropped, tool calls paired with their results,
    empty messages dropped."""
    rows = []
    for seq, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, list):  # content parts: their text
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        elif not isinstance(content, str):
            content = None
        tool_call_id = message.get("tool_call_id")
        rows.append(
            MessageView(
                role=str(message.get("role")),
                content=content,
                tool_calls=message.get("tool_calls"),
                tool_call_id=tool_call_id if isinstance(tool_call_id, str) else None,
                seq=seq,
            )
        )
    return to_openai_messages(rows)
