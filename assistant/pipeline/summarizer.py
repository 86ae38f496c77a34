"""Condenses what a resume would leave out into a stored summary, when a session ends.

A resumed conversation is seeded with the latest summary and the newest messages that fit the
token budget (`assistant.store.context.load_context`). Without a summary, whatever falls out of
that window is forgotten. So at the end of each session, if the messages since the latest
summary no longer fit, the older part of them (with the previous summary) is condensed by the
same Groq model, and stored as the new summary.
"""

from __future__ import annotations

import asyncio

from loguru import logger
from openai import AsyncOpenAI
from openai.types import CompletionUsage

from assistant.config import Settings
from assistant.store.context import Overflow, find_overflow
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository, UsageRepository

SUMMARY_INSTRUCTION = (
    "You write the memory of a personal voice assistant. Condense the conversation below into "
    "notes the assistant will read before it talks with this user again. Keep what the user "
    "said about themselves, their preferences and plans, decisions made, questions still open "
    "and anything the user asked to be remembered; drop greetings and small talk. If the "
    "conversation starts with an earlier summary, merge it in. Plain sentences, at most 150 "
    "words, in the user's language. Write only the notes."
)
MAX_SUMMARY_TOKENS = 400


def transcript_text(overflow: Overflow) -> str:
    """The messages as lines a model reads as a conversation, not as instructions to follow."""
    lines = []
    for message in overflow.transcript:
        role, content = message["role"], message.get("content") or ""
        if message.get("tool_calls"):
            calls = ", ".join(
                f"{c['function']['name']}({c['function']['arguments']})"
                for c in message["tool_calls"]
            )
            lines.append(f"Assistant (used tools): {content} {calls}".strip())
        elif role == "tool":
            lines.append(f"Tool result: {content}")
        else:
            lines.append(f"{role.capitalize()}: {content}")
    return "\n".join(lines)


async def summarize_overflow(
    client: AsyncOpenAI, settings: Settings, db: Database, user_id: int, conversation_id: str
) -> bool:
    """Store a new summary if the conversation outgrew the resume budget; True if it did.

    ``client`` is the session's own Groq client (`AssistantLLM.client`): a new one would build
    its TLS context on the event loop the other sessions' audio runs on.

    Failures (the model, the network, the store) are logged and leave everything as it was:
    the messages are all still stored, and the next session's end tries again.
    """
    try:
        async with db.session() as session:
            overflow = await find_overflow(
                session, user_id, conversation_id, settings.context_token_budget
            )
        if overflow is None:
            return False
        response = await client.with_options(max_retries=1).chat.completions.create(
            model=settings.groq_llm_model,
            messages=[
                {"role": "system", "content": SUMMARY_INSTRUCTION},
                {"role": "user", "content": transcript_text(overflow)},
            ],
            max_tokens=MAX_SUMMARY_TOKENS,
            temperature=0.2,
        )
        await _record_usage(db, user_id, conversation_id, response.usage)
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not text:
            logger.warning(f"the model wrote an empty summary for {conversation_id}")
            return False
        async with db.session() as session:
            await ConversationRepository(session, user_id).append_summary(
                conversation_id, text, overflow.until_seq
            )
        return True
    except asyncio.CancelledError:
        raise
    except Exception as error:
        logger.warning(f"summarizing conversation {conversation_id} failed: {error!r}")
        return False


async def _record_usage(
    db: Database, user_id: int, conversation_id: str, usage: CompletionUsage | None
) -> None:
    """A summary's tokens count against the same limits as the replies'."""
    if usage is None:
        return
    logger.info(
        f"LLM usage summarizing {conversation_id}: {usage.prompt_tokens} prompt tokens, "
        f"{usage.completion_tokens} completion tokens"
    )
    try:
        async with db.session() as session:
            await UsageRepository(session, user_id).add(
                conversation_id, usage.prompt_tokens, usage.completion_tokens, purpose="summary"
            )
    except Exception as error:  # the summary itself is still worth storing
        logger.warning(f"recording a summary's usage failed: {error!r}")
