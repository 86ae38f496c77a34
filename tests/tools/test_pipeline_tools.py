"""Tools in a live headless voice session: real audio in, the fake Groq and Cartesia behind it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from assistant.runtime.reminders import ReminderScheduler
from assistant.store.models import Reminder, ReminderStatus
from assistant.store.repository import NoteRepository, ReminderRepository
from assistant.tools.registry import default_tools
from fakes.groq import ToolCall, ToolCallsReply


def spoken(fake_cartesia, since: int = 0) -> str:
    return " ".join(r.get("transcript", "") for r in fake_cartesia.requests[since:])


def with_reminders(headless, poll_secs: float = 0.2) -> None:
    headless.session_hooks = [ReminderScheduler(headless.db, poll_secs).attach]


async def test_take_note_runs_the_tool_and_the_answer_is_spoken(headless, fake_groq, fake_cartesia):
    headless.tool_factory = default_tools
    fake_groq.reply_tool_call("take_note", {"content": "buy oat milk"}, id="call_note_1")
    fake_groq.reply_text("Done. I noted: buy oat milk.")

    async with headless.session(user="alice") as live:
        await live.user_says("please take a note buy oat milk")
        rows = await live.wait_for_messages(
            lambda rows: any(m.content == "Done. I noted: buy oat milk." for m in rows), timeout=15
        )
        await fake_cartesia.wait_for(lambda: "I noted" in spoken(fake_cartesia), timeout=10)
        user_id = live.spec.user_id

    async with headless.db.transaction() as store:
        notes = await NoteRepository(store, user_id).recent()
    assert [n.content for n in notes] == ["buy oat milk"]

    # The second completion request carries the call and, right after it, the tool's result.
    second = fake_groq.chat_requests[1]["messages"]
    call_at = next(i for i, m in enumerate(second) if m.get("tool_calls"))
    [call] = second[call_at]["tool_calls"]
    assert call["id"] == "call_note_1" and call["function"]["name"] == "take_note"
    result_message = second[call_at + 1]
    assert result_message["role"] == "tool" and result_message["tool_call_id"] == "call_note_1"
    result = json.loads(result_message["content"])
    assert result == {"ok": True, "note": {"id": notes[0].id, "content": "buy oat milk"}}

    # Everything is in the conversation, in order.
    assert [(m.role, m.content) for m in rows] == [
        ("user", "please take a note buy oat milk"),
        ("assistant", None),
        ("tool", result_message["content"]),
        ("assistant", "Done. I noted: buy oat milk."),
    ]
    assert rows[1].tool_calls[0]["function"]["name"] == "take_note"
    assert fake_groq.protocol_errors == [] and fake_cartesia.protocol_errors == []


async def test_set_voice_changes_the_next_tts_request_and_survives_resume(
    headless, fake_groq, fake_cartesia
):
    headless.tool_factory = default_tools
    fake_groq.reply_tool_call("set_voice", {"emotion": "Excited", "speed": 1.2})
    fake_groq.reply_text("Here is my excited voice!")
    excited = {"emotion": "excited", "speed": 1.2, "volume": 1.0}

    async with headless.session(user="alice", greet=True) as live:
        await fake_cartesia.wait_for(lambda: "Hi alice" in spoken(fake_cartesia), timeout=10)
        await live.user_says("sound more excited and a bit faster")
        await fake_cartesia.wait_for(lambda: "excited voice" in spoken(fake_cartesia), timeout=15)
        conversation_id = live.spec.conversation_id

    greeting = [r for r in fake_cartesia.requests if "Hi alice" in r.get("transcript", "")]
    assert greeting[0]["generation_config"] == {"emotion": "neutral", "speed": 1.0, "volume": 1.0}
    # From the very next request on, the whole new config (a delta replaces all of it).
    after = [r for r in fake_cartesia.requests if r["context_id"] != greeting[0]["context_id"]]
    assert "excited voice" in after[0]["transcript"]
    assert all(r["generation_config"] == excited for r in after)

    before = len(fake_cartesia.requests)
    async with headless.session(user="alice", conversation_id=conversation_id) as live:
        assert (live.session.voice.emotion, live.session.voice.speed) == ("excited", 1.2)
        await live.session.say("Still excited to see you.")
        await fake_cartesia.wait_for(lambda: "Still excited" in spoken(fake_cartesia, before))

    first = next(r for r in fake_cartesia.requests[before:] if r.get("transcript", "").strip())
    assert first["generation_config"] == excited
    assert fake_cartesia.protocol_errors == []


async def test_a_reminder_set_by_voice_is_spoken_when_due(headless, fake_groq, fake_cartesia):
    headless.tool_factory = default_tools
    with_reminders(headless)

    def set_reminder(_request):
        # Due two seconds after the model asks for it: it comes due in this live session.
        due = datetime.now(UTC) + timedelta(seconds=2)
        arguments = {"text": "stretch your legs", "when": due.isoformat()}
        return ToolCallsReply([ToolCall("set_reminder", arguments)])

    fake_groq.reply_with(set_reminder)
    fake_groq.reply_text("Okay, I will remind you.")

    async with headless.session(user="alice") as live:
        await live.user_says("remind me to stretch my legs in a moment")
        await fake_cartesia.wait_for(
            lambda: "Reminder: stretch your legs" in spoken(fake_cartesia), timeout=15
        )
        rows = await live.wait_for_messages(
            lambda rows: any(m.content == "Reminder: stretch your legs" for m in rows)
        )
        user_id = live.spec.user_id

    assert [m.content for m in rows if m.role == "assistant" and m.content] == [
        "Okay, I will remind you.",
        "Reminder: stretch your legs",
    ]
    async with headless.db.transaction() as store:
        [reminder] = await store.scalars(select(Reminder).where(Reminder.user_id == user_id))
    assert reminder.status is ReminderStatus.DELIVERED
    assert reminder.delivered_at is not None


async def test_a_missed_reminder_is_mentioned_in_the_next_greeting(headless, fake_cartesia):
    headless.tool_factory = default_tools
    with_reminders(headless)
    spec = await headless.open_conversation("alice", timezone="Europe/Paris")
    async with headless.db.transaction() as store:
        due = datetime.now(UTC) - timedelta(hours=1)
        await ReminderRepository(store, spec.user_id).add("call mom", due, "Europe/Paris")
        mentioned = await ReminderRepository(store, spec.user_id).add(
            "pay rent", due + timedelta(minutes=1), "Europe/Paris"
        )

    async with headless.session(
        user="alice", conversation_id=spec.conversation_id, timezone="Europe/Paris", greet=True
    ) as live:
        await fake_cartesia.wait_for(lambda: "While you were away" in spoken(fake_cartesia))
        rows = await live.wait_for_messages(lambda rows: any(m.role == "assistant" for m in rows))

    [greeting] = [m.content for m in rows if m.role == "assistant"]
    assert greeting.startswith("Hi alice! What can I do for you? While you were away, 2 reminders")
    assert "call mom" in greeting and "pay rent" in greeting
    async with headless.db.transaction() as store:
        assert (await ReminderRepository(store, spec.user_id).upcoming()) == []
        reminder = await ReminderRepository(store, spec.user_id).get(mentioned.id)
    assert reminder.status is ReminderStatus.DELIVERED
