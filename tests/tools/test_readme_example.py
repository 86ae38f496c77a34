"""The README's "Testing a new tool" example, kept here so it stays true."""

from assistant.tools.notes import DELETE_NOTE, TAKE_NOTE


async def test_take_note(tool_context, call_tool, make_context):
    result = await call_tool(TAKE_NOTE, content="  buy oat milk ")  # raw, as the LLM sends it
    assert result == {"ok": True, "note": {"id": result["note"]["id"], "content": "buy oat milk"}}
    assert tool_context.notifications == [{"type": "notes-changed"}]
    assert (await call_tool(TAKE_NOTE, {"content": 42}))["ok"] is False  # bad input → error result

    bob = await make_context("bob", timezone="Asia/Tokyo")  # another user
    assert (await bob.call(DELETE_NOTE, note_id=result["note"]["id"]))["ok"] is False
