"""The sign-in form in Chromium (AUTH=password, on loopback): a wrong password is said, the
right one opens the page, a reload keeps it signed in, signing out ends the session."""

from __future__ import annotations

from playwright.async_api import async_playwright, expect

from assistant.store.accounts import AccountRepository, Passwords
from fakes.speech import speech_wav
from tests.live_server import running_server
from tests.test_browser import _browser_available, chromium_page  # noqa: F401 - the fixture

PASSWORD = "a long and secret passphrase"


async def test_sign_in_reload_and_sign_out_in_chromium(settings, db, fake_groq, fake_cartesia):
    async with db.transaction() as store:
        await AccountRepository(store).add("alice", Passwords().hash(PASSWORD))
    accounts = settings.model_copy(update={"auth": "password"})
    wav = speech_wav("hello", lead_silence=1.0)
    async with (
        running_server(accounts, db, lambda context: []) as base_url,
        async_playwright() as pw,
        chromium_page(pw, wav) as (page, errors),
    ):
        await page.goto(base_url + "/")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await page.get_by_test_id("user-name").fill("alice")
        await page.get_by_test_id("user-password").fill("not the password")
        await page.get_by_test_id("user-continue").click()
        await expect(page.get_by_test_id("welcome-error")).to_have_text("Wrong name or password.")
        await expect(page.get_by_test_id("user-password")).to_have_value("")

        await page.get_by_test_id("user-password").fill(PASSWORD)
        await page.get_by_test_id("user-continue").click()
        await expect(page.locator("#user-label")).to_have_text("alice")
        await expect(page.get_by_test_id("connect")).to_be_visible()

        await page.reload()  # the cookie outlives a reload: no form
        await expect(page.locator("#user-label")).to_have_text("alice")
        await expect(page.get_by_test_id("user-password")).to_be_hidden()

        await page.get_by_test_id("switch-user").click()  # "Sign out"
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        status = await page.evaluate("fetch('/api/notes').then((r) => r.status)")
        assert status == 401
        await page.reload()
        await expect(page.get_by_test_id("user-password")).to_be_visible()
        assert errors == []
