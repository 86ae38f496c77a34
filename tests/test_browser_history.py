"""The whole history in Chromium: a long conversation opens at its end and loads earlier messages
as it is scrolled up, the list loads more as it scrolls; rename, delete and export from the list,
and notes and reminders edited from their panes."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from assistant.store.models import Conversation, Message, Note, Reminder
from assistant.store.repository import (
    ConversationRepository,
    NoteRepository,
    ReminderRepository,
    UserRepository,
)
from assistant.tools.registry import default_tools
from fakes.speech import speech_wav
from tests.live_server import running_server
from tests.test_browser import CHROMIUM, chromium_page, sign_in

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _browser_available():
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (.ci/run installs it)")


def quiet_microphone() -> Path:
    return speech_wav("hello", lead_silence=30.0)


async def seed_long_history(db, messages: int, conversations: int) -> tuple[str, list[str]]:
    """Alice with one conversation of ``messages`` messages, the most recent, and
    ``conversations`` shorter ones before it; returns the long one's id and the list's order."""
    async with db.transaction() as store:
        alice = await UserRepository(store).get_or_create("alice")
    rows = [
        {
            "id": f"{n:032x}",
            "user_id": alice.id,
            "title": f"Chat number {n}",
            "created_at": T0,
            "updated_at": T0 + timedelta(minutes=n),
        }
        for n in range(conversations + 1)
    ]
    rows[-1]["title"] = "The long one"
    long_id = rows[-1]["id"]

    def message(conversation_id: str, seq: int) -> dict:
        return {
            "conversation_id": conversation_id,
            "seq": seq,
            "kind": "message",
            "role": "user" if seq % 2 else "assistant",
            "content": "Shall we take the Porto train?" if seq == 250 else f"line {seq}",
            "created_at": T0 + timedelta(seconds=seq),
        }

    async with db.engine.begin() as conn:
        await conn.execute(insert(Conversation), rows)
        await conn.execute(
            insert(Message),
            [message(r["id"], 1) for r in rows[:-1]]
            + [message(long_id, seq) for seq in range(1, messages + 1)],
        )
    return long_id, [r["id"] for r in reversed(rows)]


async def read_download(download) -> str:
    path = await (await download.value).path()
    return await asyncio.to_thread(Path(path).read_text)


SHOWN_SEQS = """() => [...document.querySelectorAll('#transcript [data-seq]')]
  .map((row) => Number(row.dataset.seq))"""

# Scrolls the transcript to its top at once and says where its first row was on screen then.
SCROLL_TO_TOP = """() => {
  const scroller = document.getElementById('transcript-scroll');
  scroller.scrollTo({ top: 0, behavior: 'instant' });
  const first = document.querySelector('#transcript [data-seq]');
  return { seq: Number(first.dataset.seq), top: first.getBoundingClientRect().top };
}"""

# Resolves after the next n frames are drawn.
FRAMES = """(n) => new Promise((done) => {
  const step = (left) => (left ? requestAnimationFrame(() => step(left - 1)) : done());
  step(n);
})"""

TRANSCRIPT_TOP = "() => document.getElementById('transcript-scroll').scrollTop"

ROW_TOP = """(seq) => document.querySelector(`#transcript [data-seq="${seq}"]`)
  .getBoundingClientRect().top"""


async def test_a_long_conversation_opens_at_its_end_and_scrolls_back(settings, db):
    from playwright.async_api import async_playwright, expect

    long_id, order = await seed_long_history(db, messages=1000, conversations=119)
    async with running_server(settings, db, default_tools) as base_url, async_playwright() as pw:
        async with chromium_page(pw, quiet_microphone()) as (page, console_errors):
            await page.goto(base_url + "/")
            await sign_in(page)

            # The list: a page at first, more as its end scrolls into view, none twice.
            items = page.get_by_test_id("conversation-item")
            await expect(items).to_have_count(50)
            while await items.count() < len(order):
                count = await items.count()
                await items.last.scroll_into_view_if_needed()
                await expect(items).not_to_have_count(count)
            listed = await items.evaluate_all("(els) => els.map((e) => e.dataset.conversationId)")
            assert listed == order
            await expect(page.get_by_test_id("conversations-more")).to_be_hidden()

            # The long conversation opens at its end.
            await (
                page.locator(f'[data-conversation-id="{long_id}"]').get_by_test_id("resume").click()
            )
            await expect(page.get_by_test_id("transcript-assistant").last).to_have_text("line 1000")
            assert await page.evaluate(SHOWN_SEQS) == list(range(901, 1001))
            at_end = await page.evaluate(
                "() => { const s = document.getElementById('transcript-scroll');"
                " return s.scrollHeight - s.scrollTop - s.clientHeight; }"
            )
            assert at_end < 5

            # Scrolled up: the page before it goes above, what was on screen stays put.
            while (shown := await page.evaluate(SHOWN_SEQS))[0] != 1:
                before = await page.evaluate(SCROLL_TO_TOP)
                await page.wait_for_function(
                    f"() => document.querySelector('#transcript [data-seq]').dataset.seq"
                    f" !== '{before['seq']}'"
                )
                after = await page.evaluate(ROW_TOP, before["seq"])
                # Within a few pixels (sub-pixel layout of the rows above); unkept, it would
                # move down by the whole page loaded above it, thousands of pixels.
                assert abs(after - before["top"]) <= 10, (before, after)
            assert shown == list(range(1, 1001))  # every message once, in order

            # Search: the hit opens its conversation at that message, later ones load below.
            await page.get_by_test_id("search-input").fill("porto train")
            await page.get_by_test_id("search-input").press("Enter")
            hit = page.get_by_test_id("search-hit")
            await expect(hit).to_have_count(1)
            await expect(hit).to_contain_text("Shall we take the Porto train?")
            await page.get_by_test_id("new-conversation").click()
            await expect(page.locator("#transcript [data-seq]")).to_have_count(0)
            await hit.click()
            found = page.locator('#transcript [data-seq="250"]')
            await expect(found).to_have_class(re.compile(r"\bfound\b"))
            # And stays there: nothing scrolls it away in the frames after. (The transcript once
            # stuck to its end a frame later, scrolling smoothly away from the hit; a check that
            # ran before it had got far passed.)
            where = await page.evaluate(TRANSCRIPT_TOP)
            await page.evaluate(FRAMES, 10)
            assert await page.evaluate(TRANSCRIPT_TOP) == where
            await expect(found).to_be_in_viewport()
            shown = await page.evaluate(SHOWN_SEQS)
            assert shown == list(range(151, 351))
            await page.evaluate(
                "() => { const s = document.getElementById('transcript-scroll');"
                " s.scrollTo({ top: s.scrollHeight, behavior: 'instant' }); }"
            )
            await page.wait_for_function(f"() => ({SHOWN_SEQS})().length > {len(shown)}")
            assert await page.evaluate(SHOWN_SEQS) == list(range(151, 451))
            await page.screenshot(path=Path("test-artifacts/browser-history.png"))

    assert console_errors == []


async def test_rename_delete_export_and_edit_notes_and_reminders(settings, db, tmp_path):
    from playwright.async_api import async_playwright, expect

    async with db.transaction() as store:
        alice = await UserRepository(store).get_or_create("alice")
        conversations = ConversationRepository(store, alice.id)
        trip = (await conversations.create()).id
        await conversations.append(trip, "user", "let's plan the trip")
        await conversations.append(trip, "assistant", "Where to?")
        other = (await conversations.create()).id
        await conversations.append(other, "user", "something else")
        note = await NoteRepository(store, alice.id).add("buy oat milk")
        reminder = await ReminderRepository(store, alice.id).add(
            "call mum", datetime.now(UTC) + timedelta(days=3), "UTC", conversation_id=trip
        )

    async with running_server(settings, db, default_tools) as base_url, async_playwright() as pw:
        async with chromium_page(pw, quiet_microphone()) as (page, console_errors):
            await page.goto(base_url + "/")
            await sign_in(page)
            item = page.locator(f'[data-conversation-id="{trip}"]')
            await expect(item).to_be_visible()

            # Rename in place.
            await item.get_by_test_id("rename").click()
            await item.get_by_test_id("rename-input").fill("Lisbon in May")
            await item.get_by_test_id("rename-input").press("Enter")
            await expect(item.get_by_test_id("conversation-title")).to_have_text("Lisbon in May")
            async with db.session() as store:
                assert (await store.get(Conversation, trip)).title == "Lisbon in May"

            # Export as Markdown and as JSON, and everything.
            async with page.expect_download() as download:
                await item.get_by_test_id("export-md").click()
            text = await read_download(download)
            assert text.startswith("# Lisbon in May")
            assert "let's plan the trip" in text and "Where to?" in text
            assert (await download.value).suggested_filename == "Lisbon-in-May.md"
            async with page.expect_download() as download:
                await item.get_by_test_id("export-json").click()
            data = json.loads(await read_download(download))
            assert [m["content"] for m in data["messages"]] == ["let's plan the trip", "Where to?"]
            async with page.expect_download() as download:
                await page.get_by_test_id("export-all").click()
            everything = json.loads(await read_download(download))
            assert {c["id"] for c in everything["conversations"]} >= {trip, other}
            assert [n["content"] for n in everything["notes"]] == ["buy oat milk"]

            # Delete: asked first; a No keeps it, a Yes deletes it (notes and reminders stay).
            asked: list[str] = []

            async def answer(dialog, accept: bool):
                asked.append(dialog.message)
                await (dialog.accept() if accept else dialog.dismiss())

            page.once("dialog", lambda d: answer(d, False))
            await item.get_by_test_id("delete").click()
            await expect(item).to_be_visible()
            page.once("dialog", lambda d: answer(d, True))
            await item.get_by_test_id("delete").click()
            await expect(item).to_have_count(0)
            assert asked and all("Lisbon in May" in message for message in asked)
            async with db.session() as store:
                assert await store.get(Conversation, trip) is None
                assert (await store.get(Reminder, reminder.id)).conversation_id is None
            await expect(page.get_by_test_id("conversation-item")).to_have_count(1)

            # Deleting the conversation that is open: a new one begins in its place.
            current = page.locator(f'[data-conversation-id="{other}"]')
            await current.get_by_test_id("resume").click()
            await expect(page.get_by_test_id("transcript-user")).to_have_text("something else")
            page.once("dialog", lambda d: answer(d, True))
            await current.get_by_test_id("delete").click()
            await expect(page.get_by_test_id("conversation-item")).to_have_count(0)
            await expect(page.locator("#conversation-title")).to_have_text("New conversation")
            await expect(page.get_by_test_id("transcript-user")).to_have_count(0)
            now_in = await page.evaluate("window.assistantUI.state.conversationId")
            async with db.session() as store:
                assert await store.get(Conversation, other) is None
                assert await store.get(Conversation, now_in) is not None

            # A note edited and a reminder moved from their panes.
            note_item = page.get_by_test_id("note-item")
            await note_item.get_by_test_id("edit-note").click()
            await note_item.get_by_test_id("note-input").fill("buy soy milk")
            await note_item.get_by_test_id("save-edit").click()
            await expect(page.get_by_test_id("note-item")).to_contain_text("buy soy milk")
            reminder_item = page.get_by_test_id("reminder-item")
            await reminder_item.get_by_test_id("edit-reminder").click()
            await reminder_item.get_by_test_id("reminder-input").fill("call Mum back")
            await reminder_item.get_by_test_id("reminder-due-input").fill("2031-05-04T09:30")
            await reminder_item.get_by_test_id("save-edit").click()
            await expect(page.get_by_test_id("reminder-item")).to_contain_text("call Mum back")
            async with db.session() as store:
                assert (await store.get(Note, note.id)).content == "buy soy milk"
                moved = await store.get(Reminder, reminder.id)
                assert moved.text == "call Mum back"
                local = await page.evaluate("new Date('2031-05-04T09:30').toISOString()")
                assert moved.due_at == datetime.fromisoformat(local.replace("Z", "+00:00"))

            # And deleted.
            page.once("dialog", lambda d: answer(d, True))
            await page.get_by_test_id("note-item").get_by_test_id("delete-note").click()
            await expect(page.get_by_test_id("note-item")).to_have_count(0)
            page.once("dialog", lambda d: answer(d, True))
            await page.get_by_test_id("reminder-item").get_by_test_id("delete-reminder").click()
            await expect(page.get_by_test_id("reminder-item")).to_have_count(0)
            async with db.session() as store:
                assert list(await store.scalars(select(Note))) == []
                assert list(await store.scalars(select(Reminder))) == []

    assert console_errors == []
