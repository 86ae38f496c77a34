"""A live session's requests held to the budget (`bound_messages`), its context folded onto a
new summary (`fold_summary`), and a refused request's messages repaired (`normalize_messages`)."""

from __future__ import annotations

from typing import Any

from assistant.store.context import (
    SUMMARY_PREFIX,
    bound_messages,
    estimate_tokens,
    fold_summary,
    history_tokens,
    normalize_messages,
    summary_message,
)

SYSTEM = {"role": "system", "content": "You are a voice assistant."}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def tool_group(call_id: str, result: str = '{"ok": true}') -> list[dict[str, Any]]:
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "take_note", "arguments": '{"content": "milk"}'},
    }
    return [
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": result},
    ]


def exchanges(n: int, start: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(start, start + n):
        out += [user(f"question {i} about the town"), assistant(f"answer {i}, it is sunny")]
    return out


def tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(m) for m in messages)


def test_within_budget_the_request_is_left_alone() -> None:
    messages = [SYSTEM, *exchanges(3), user("and now?")]
    assert bound_messages(messages, 10_000) is messages


def test_the_oldest_history_goes_the_summary_and_the_current_turn_stay() -> None:
    summary = summary_message("Alice likes green.")
    turn = [user("take a note: milk"), *tool_group("call_now")]  # the turn being answered
    history = exchanges(20)
    messages = [SYSTEM, summary, *history, *turn]
    budget = tokens([summary]) + tokens(history[-6:])

    bounded = bound_messages(messages, budget)

    assert bounded[:2] == [SYSTEM, summary]
    assert bounded[2:] == [*history[-6:], *turn]
    assert history_tokens(bounded) <= budget


def test_a_tool_call_is_never_split_from_its_result() -> None:
    first, second = tool_group("call_1"), tool_group("call_2")
    history = [*exchanges(2), user("note milk, then eggs"), *first, *second]
    messages = [SYSTEM, *history, user("what did I note?")]
    # Room for the second call and both results, but not the first call.
    budget = tokens([*second, first[1]])
    bounded = bound_messages(messages, budget)
    assert bounded == [SYSTEM, *second, user("what did I note?")]


def test_no_room_at_all_leaves_the_summary_and_the_turn() -> None:
    summary = summary_message("Alice likes green.")
    messages = [SYSTEM, summary, *exchanges(4), user("hello")]
    assert bound_messages(messages, 0) == [SYSTEM, summary, user("hello")]


def test_fold_keeps_what_follows_the_summary_and_anything_newer() -> None:
    old_summary = summary_message("Alice likes green.")
    context = [old_summary, *exchanges(6), user("newest, not stored yet")]
    kept = exchanges(2, start=4)  # from the store: the summary covers 0-3

    folded = fold_summary(context, "Alice likes green and asked about the town.", kept)

    assert folded is not None
    assert folded[0] == {
        "role": "user",
        "content": SUMMARY_PREFIX + "Alice likes green and asked about the town.",
    }
    assert folded[1:] == [*kept, user("newest, not stored yet")]


def test_fold_takes_the_earliest_match_when_the_user_repeats_themselves() -> None:
    context = [user("yes"), assistant("ok 1"), user("yes"), assistant("ok 2"), user("yes")]
    folded = fold_summary(context, "S", [user("yes"), assistant("ok 2")])
    assert folded == [summary_message("S"), *context]  # said twice rather than lost


def test_fold_without_a_match_is_none() -> None:
    context = exchanges(3)
    assert fold_summary(context, "S", [user("never said"), assistant("x")]) is None
    assert fold_summary(context, "S", []) is None


def test_normalize_drops_unknown_keys_and_unpaired_tool_messages() -> None:
    messages = [
        user("hi"),
        {"role": "assistant", "content": "Hello.", "refusal": None},
        {"role": "tool", "tool_call_id": "call_gone", "content": "{}"},
        *tool_group("call_ok"),
        {"role": "assistant", "content": None},
    ]
    assert normalize_messages(messages) == [
        user("hi"),
        assistant("Hello."),
        *tool_group("call_ok"),
    ]
