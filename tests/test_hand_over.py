"""A session handing its conversation over (opened in another tab) ends, with what was said
stored, even in the middle of a long reply. (The WebRTC test checks the page is told.)"""

from __future__ import annotations

import asyncio

LONG_REPLY = " ".join(["Once upon a time there was a very long story."] * 8)


async def test_hand_over_mid_reply_ends_the_session_with_everything_stored(
    headless, fake_groq, fake_cartesia
):
    fake_cartesia.ms_per_word = 300  # the reply would take ~20 s to speak
    fake_groq.reply_text(LONG_REPLY)
    async with headless.session() as live:
        await live.user_says("tell me a long story")
        await live.wait_for_audio(16000)  # it is speaking

        await asyncio.wait_for(live.session.hand_over(timeout_secs=5), 10)

        assert live.session.stored.is_set()
        assert live.session.worker.has_finished()  # the pipeline ended, though the reply had not
        rows = await live.messages()

    assert ("user", "tell me a long story") in [(m.role, m.content) for m in rows]


async def test_hand_over_while_the_model_is_thinking(headless, fake_groq, fake_cartesia):
    fake_groq.reply_delay(30, "Thinking about it...")  # the model is slow to answer
    async with headless.session() as live:
        await live.user_says("a hard question")
        await fake_groq.wait_for_chat_requests(1)

        # The pending reply is abandoned, as when the user cuts in, and the session ends.
        await asyncio.wait_for(live.session.hand_over(timeout_secs=5), 10)

        assert live.session.stored.is_set()
        assert live.session.worker.has_finished()
        rows = await live.messages()

    assert ("user", "a hard question") in [(m.role, m.content) for m in rows]
