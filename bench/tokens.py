"""Prompt tokens per LLM request: a scripted 40-turn voice conversation, resumed three times.

    uv run python -m bench.tokens [--budget N] [--turns-per-session 10]
    uv run --with quicktok-v1 python -m bench.tokens --tokenizer auto

Four headless sessions of ten turns each (the first new, the others resuming it), each built by
``build_voice_session`` with the real tools, store and summarizer, spoken to with real audio,
against fake Groq and Cartesia. The fake records every chat request; each is counted as the
project estimates tokens (``assistant.store.context.estimate_tokens`` per message, the same
characters-per-token for the tool schemas). Reported: prompt tokens per reply request (first,
median, max), the tool schemas' share, the summary requests, whether the request prefix
(system instruction and tools) stayed byte-identical within each session, and what a
free Groq key's limits allow at that rate.

``--tokenizer`` also counts the same requests with Llama 3's tokenizer, rendered as Llama 3 chat
turns, to say how the estimate compares (``auto``: the vocabulary the ``quicktok-v1`` package
ships, no download; not a dependency of the project).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import add_results_name, quiet_logs, run_and_report, summary, table, verdict

NAME = "tokens"
TARGET_MEDIAN = 3000
TARGET_MAX = 4000
# A free Groq key, llama-3.3-70b-versatile.
FREE_TPM, FREE_RPM, FREE_TPD, FREE_RPD = 12_000, 30, 100_000, 1_000
# One short utterance for every turn: the fake STT answers with the scripted words.
UTTERANCE = "yes please"


@dataclass(frozen=True)
class Turn:
    user: str
    reply: str  # what is finally said
    tool: tuple[str, dict[str, Any]] | None = None  # called first, when given


T = Turn
SCRIPT: list[Turn] = [
    # session 1
    T("Hi, I'm planning my week, can you help me keep track of a few things?",
      "Of course. Tell me what's coming up and I'll note it or set reminders as we go."),
    T("Remember that the plumber comes on Thursday morning between eight and ten.",
      "Noted: the plumber comes Thursday between eight and ten in the morning.",
      ("take_note", {"content": "The plumber comes Thursday morning between eight and ten."})),
    T("Also I need to buy a birthday present for my sister, she loves gardening.",
      "Got it, a gardening present for your sister.",
      ("take_note", {"content": "Buy a birthday present for my sister; she loves gardening."})),
    T("What would be a good gift for someone who loves gardening?",
      "Good gloves, a pruning saw or a seed club subscription would all go down well. A nice "
      "ceramic planter is another safe choice."),
    T("Remind me to call the dentist in two hours.",
      "Okay, I'll remind you to call the dentist in two hours.",
      ("set_reminder", {"text": "call the dentist", "when": "in 2 hours"})),
    T("What's on my notes list so far?",
      "You have two notes: the plumber on Thursday morning, and a gardening present for your "
      "sister.",
      ("list_notes", {})),
    T("Add to the present note that her birthday is on the twelfth.",
      "Added: her birthday is on the twelfth.",
      ("append_to_note", {"note_id": 2, "text": "Her birthday is on the twelfth."})),
    T("Can you sound a bit more cheerful?", "Sure! Is this better?",
      ("set_voice", {"emotion": "happy"})),
    T("Yes, much better. How long does it take to drive from Lyon to Geneva?",
      "Usually about an hour and forty minutes, a little more with traffic at the border."),
    T("Thanks, that's all for now.", "You're welcome. Talk soon!"),
    # session 2
    T("I'm back. Did I tell you when the plumber comes?",
      "Yes, on Thursday morning between eight and ten."),
    T("Great. I also want to start running again. Any tips for a beginner?",
      "Start with twenty minute runs with walking breaks, at a pace easy enough to talk. Three "
      "times a week is plenty at first."),
    T("Set a reminder for tomorrow at seven am to go for a run.",
      "Done, I'll remind you tomorrow at seven to go for a run.",
      ("set_reminder", {"text": "go for a run", "when": "tomorrow at 7am"})),
    T("And note that I want to sign up for the ten k race in May.",
      "Noted: the ten k race in May.",
      ("take_note", {"content": "Sign up for the ten k race in May."})),
    T("What reminders do I have?",
      "Two: call the dentist, and your run tomorrow at seven.",
      ("list_reminders", {})),
    T("Cancel the dentist one, I already called.", "Cancelled the dentist reminder.",
      ("cancel_reminder", {"reminder_id": 1})),
    T("What's a good stretch after running?",
      "A standing calf stretch and a quad stretch, thirty seconds each side, are a good start."),
    T("Speak a little slower please.", "Of course, I'll speak a little slower.",
      ("set_voice", {"speed": 0.85})),
    T("Can you find my note about the race?",
      "Here it is: you want to sign up for the ten k race in May.",
      ("search_notes", {"query": "race"})),
    T("Perfect, bye for now.", "Bye, and good luck with the running!"),
    # session 3
    T("Hello again. What was the present idea for my sister?",
      "Something for gardening, and her birthday is on the twelfth."),
    T("Right. I think I'll get her a ceramic planter. Note that down.",
      "Noted: a ceramic planter for your sister.",
      ("take_note", {"content": "Get my sister a ceramic planter."})),
    T("How do I keep basil alive indoors?",
      "Give it a sunny window, water when the top of the soil is dry, and pinch off the flowers "
      "so it keeps growing leaves."),
    T("Remind me on Saturday at ten to buy the planter.",
      "I'll remind you on Saturday at ten to buy the planter.",
      ("set_reminder", {"text": "buy the ceramic planter", "when": "saturday at 10am"})),
    T("What's the weather usually like in Geneva in spring?",
      "Mild, around ten to eighteen degrees, with a fair bit of rain in April."),
    T("Okay. Make your voice calm, I'm winding down.", "Alright, nice and calm.",
      ("set_voice", {"emotion": "calm"})),
    T("Read me all my notes.",
      "You have four notes: the plumber on Thursday, the gardening present with her birthday "
      "on the twelfth, the ten k race in May, and the ceramic planter.",
      ("list_notes", {"limit": 10})),
    T("Delete the plumber note, he already came.", "Deleted the plumber note.",
      ("delete_note", {"note_id": 1})),
    T("Can you suggest a quick dinner with what's usually in the fridge?",
      "An omelette with whatever vegetables you have, or pasta with garlic, olive oil and a "
      "little cheese."),
    T("Good night.", "Good night, sleep well."),
    # session 4
    T("Morning. What do I have planned?",
      "Your run this morning at seven, and buying the planter on Saturday.",
      ("list_reminders", {})),
    T("I ran already. How many calories does a thirty minute run burn?",
      "Roughly three hundred, depending on your pace and weight."),
    T("Note that I ran thirty minutes this morning.", "Noted your thirty minute run.",
      ("take_note", {"content": "Ran thirty minutes this morning."})),
    T("Change the race note to say I signed up for the ten k.",
      "Updated: you signed up for the ten k race in May.",
      ("edit_note", {"note_id": 3, "content": "Signed up for the ten k race in May."})),
    T("What's a good breakfast after a run?",
      "Oats with banana and yogurt, or eggs on toast: some protein and some carbs."),
    T("Remind me in thirty minutes to stretch.", "I'll remind you in thirty minutes to stretch.",
      ("set_reminder", {"text": "stretch", "when": "in 30 minutes"})),
    T("Speak normally again please.", "Back to my usual voice.",
      ("set_voice", {"emotion": "neutral", "speed": 1.0})),
    T("How far is a ten k in miles?", "About six point two miles."),
    T("Search my notes for anything about my sister.",
      "Two notes: a gardening present for her birthday on the twelfth, and the ceramic planter.",
      ("search_notes", {"query": "sister"})),
    T("That's everything, thanks.", "Anytime. Have a great day!"),
]  # fmt: skip

SUMMARY = (
    "The user is planning their week. Notes so far: a plumber visit on Thursday morning, a "
    "gardening birthday present for their sister (birthday on the twelfth), a ten k race in "
    "May they want to run, and a ceramic planter as the present. They are starting to run "
    "again three times a week and asked for beginner tips and stretches. Reminders were set "
    "for a dentist call (cancelled), a morning run and buying the planter on Saturday. They "
    "prefer a calm, slightly slower voice in the evening."
)


# --------------------------------------------------------------------------- counting


def estimate_request(body: dict[str, Any]) -> dict[str, int]:
    """Prompt tokens of a chat request, estimated as the project does."""
    from assistant.store.context import CHARS_PER_TOKEN, estimate_tokens

    messages = sum(estimate_tokens(m) for m in body["messages"])
    tools = math.ceil(len(json.dumps(body.get("tools") or [])) / CHARS_PER_TOKEN)
    return {"messages": messages, "tools": tools, "total": messages + tools}


def prefix_of(body: dict[str, Any]) -> str:
    """System instruction and tools: what stays byte-identical for a whole session.

    The summary message after the system instruction stays too, until a long call's older
    turns are folded into a new summary to keep requests within the budget: that change is
    wanted, rare, and then lasts, so it is not counted as a miss."""
    return json.dumps(
        {"messages": body["messages"][:1], "tools": body.get("tools")}, sort_keys=True
    )


class Llama3Tokens:
    """Llama 3's tokenizer (the one Llama 3.3 uses), and a request rendered as Llama 3 chat
    turns: header, text, end of turn; the tool schemas as indented JSON, as Meta's tool-calling
    template writes them.

    ``auto``: quicktok's bundled Llama 3 vocabulary (``uv run --with quicktok-v1``); or a path
    to a tiktoken BPE file of Llama 3's ranks (``tokenizer.model``) for tiktoken, with Meta's
    split pattern. Both gave identical token ids on the texts checked here.
    """

    PATTERN = (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
        r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    )

    def __init__(self, spec: str):
        if spec == "auto":
            try:
                import quicktok
            except ImportError:
                raise SystemExit(
                    "--tokenizer auto needs quicktok: "
                    "uv run --with quicktok-v1 python -m bench.tokens --tokenizer auto"
                ) from None
            self.source = f"quicktok {quicktok.__version__} llama3"
            self._encode = quicktok.get_encoding("llama3").encode
        else:
            import tiktoken
            from tiktoken.load import load_tiktoken_bpe

            self.source = f"tiktoken {tiktoken.__version__} {spec}"
            encoding = tiktoken.Encoding(
                name="llama3",
                pat_str=self.PATTERN,
                mergeable_ranks=load_tiktoken_bpe(spec),
                special_tokens={},
            )
            self._encode = encoding.encode_ordinary

    def count(self, text: str) -> int:
        return len(self._encode(text))

    def request(self, body: dict[str, Any]) -> dict[str, int]:
        messages = 1  # <|begin_of_text|>
        for message in body["messages"]:
            text = message.get("content") or ""
            if not isinstance(text, str):
                text = json.dumps(text)
            if message.get("tool_calls"):
                text += json.dumps(message["tool_calls"])
            # <|start_header_id|>role<|end_header_id|>\n\n ... <|eot_id|>
            messages += 4 + self.count(message["role"]) + self.count(text)
        tools = self.count(json.dumps(body["tools"], indent=4)) if body.get("tools") else 0
        return {"messages": messages, "tools": tools, "total": messages + tools}


# --------------------------------------------------------------------------- the run


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quiet_logs()
    from assistant.pipeline.summarizer import SUMMARY_INSTRUCTION
    from assistant.store.database import Database
    from assistant.tools.registry import default_tools
    from fakes import fake_settings
    from fakes.cartesia import FakeCartesia
    from fakes.groq import FakeGroq, ToolCall, ToolCallsReply
    from fakes.harness import Headless

    script = SCRIPT[: args.turns_per_session * args.sessions]
    current: dict[str, Turn] = {}

    def answer(body: dict[str, Any]) -> Any:
        messages = body["messages"]
        if messages[0].get("content") == SUMMARY_INSTRUCTION:
            return SUMMARY
        turn = current["turn"]
        if turn.tool is None or messages[-1]["role"] == "tool":
            return turn.reply
        name, arguments = turn.tool
        return ToolCallsReply([ToolCall(name, arguments)])

    with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tmp:
        async with FakeGroq(default_reply=answer) as groq, FakeCartesia() as cartesia:
            overrides = {"context_token_budget": args.budget} if args.budget else {}
            settings = fake_settings(
                groq.base_url, cartesia.url, Path(tmp) / "tokens.db", **overrides
            )
            db = Database(settings.database_url)
            await db.upgrade()
            headless = Headless(settings, db, groq, tool_factory=default_tools)
            try:
                session_of = await _converse(headless, script, args.turns_per_session, current)
            finally:
                await db.dispose()
            if groq.protocol_errors:
                raise SystemExit(f"the fake rejected requests: {groq.protocol_errors}")
            bodies = list(groq.chat_requests)

    tokenizer = Llama3Tokens(args.tokenizer) if args.tokenizer else None
    requests: list[dict[str, Any]] = []
    for number, body in enumerate(bodies):
        kind = "summary" if body["messages"][0].get("content") == SUMMARY_INSTRUCTION else "reply"
        entry = {"session": session_of[number], "kind": kind, **estimate_request(body)}
        if kind == "reply":
            entry["prefix"] = prefix_of(body)
        if tokenizer is not None:
            entry["llama3"] = tokenizer.request(body)
        requests.append(entry)
    return report_data(args, requests, script, tokenizer)


async def _converse(
    headless: Any, script: list[Turn], per_session: int, current: dict[str, Turn]
) -> list[int]:
    """Speak the script, ``per_session`` turns a session; the session of each chat request."""
    session_of: list[int] = []
    conversation_id = None
    for number, start in enumerate(range(0, len(script), per_session), start=1):
        async with headless.session("bench", conversation_id, greet=True) as live:
            conversation_id = live.spec.conversation_id
            stored = len(await live.messages())
            # The greeting is said (and stored) before the user speaks.
            await live.wait_for_messages(lambda rows, stored=stored: len(rows) > stored, 15)
            for turn in script[start : start + per_session]:
                current["turn"] = turn
                await live.user_says(UTTERANCE, transcript=turn.user)
                await live.wait_for_messages(
                    lambda rows, said=turn.reply: any(m.content == said for m in rows), 30
                )
        # Leaving ran the session's end, the summarizer included.
        requests = len(headless.fake_groq.chat_requests)
        print(f"session {number}: {requests - len(session_of)} requests")
        session_of.extend([number] * (requests - len(session_of)))
    return session_of


def report_data(args, requests, script, tokenizer) -> dict[str, Any]:
    replies = [r for r in requests if r["kind"] == "reply"]
    summaries = [r for r in requests if r["kind"] == "summary"]
    totals = [r["total"] for r in replies]
    stats = summary(totals)
    prefix_identical = {}
    for session in sorted({r["session"] for r in replies}):
        prefixes = {r["prefix"] for r in replies if r["session"] == session}
        prefix_identical[session] = len(prefixes) == 1
    for r in replies:
        r.pop("prefix")
    # What the model says counts against the same limits: the replies, and ~12 per tool call.
    completion = sum(math.ceil(len(t.reply) / 4) + (12 if t.tool else 0) for t in script)
    per_turn = (sum(r["total"] for r in requests) + completion) / len(script)
    requests_per_turn = len(requests) / len(script)
    data: dict[str, Any] = {
        "budget": args.budget,
        "turns": len(script),
        "sessions": args.sessions,
        "reply_requests": len(replies),
        "summary_requests": len(summaries),
        "prompt_tokens": {"first": totals[0], **stats},
        "tool_schema_tokens": replies[0]["tools"],
        "tool_schema_share_median": summary([r["tools"] / r["total"] for r in replies])["median"],
        "summary_prompt_tokens": [r["total"] for r in summaries],
        "prefix_identical_per_session": prefix_identical,
        "tokens_per_turn": per_turn,
        "requests_per_turn": requests_per_turn,
        "free_key": free_key(per_turn, requests_per_turn),
        "target_median": TARGET_MEDIAN,
        "target_max": TARGET_MAX,
        "pass": stats["median"] <= TARGET_MEDIAN
        and stats["max"] <= TARGET_MAX
        and all(prefix_identical.values()),
        "requests": requests,
    }
    if tokenizer is not None:
        real_per_turn = (sum(r["llama3"]["total"] for r in requests) + completion) / len(script)
        data["llama3"] = {
            "tokenizer": tokenizer.source,
            "prompt_tokens": summary([r["llama3"]["total"] for r in replies]),
            "tool_schema_tokens": replies[0]["llama3"]["tools"],
            "tokens_per_turn": real_per_turn,
            "free_key": free_key(real_per_turn, requests_per_turn),
            "ratio_to_estimate": {
                part: summary([r["llama3"][part] / r[part] for r in requests if r[part]])
                for part in ("total", "messages", "tools")
            },
        }
    return data


def free_key(tokens_per_turn: float, requests_per_turn: float) -> dict[str, float]:
    """Turns a free key allows at this rate: tokens and requests per minute and per day."""
    return {
        "turns_per_minute": min(FREE_TPM / tokens_per_turn, FREE_RPM / requests_per_turn),
        "turns_per_day": min(FREE_TPD / tokens_per_turn, FREE_RPD / requests_per_turn),
    }


def report(data: dict[str, Any]) -> str:
    tokens = data["prompt_tokens"]
    prefix = data["prefix_identical_per_session"]
    free = data["free_key"]
    rows = [
        ["prompt tokens per reply request, first", tokens["first"], ""],
        ["  median", tokens["median"], f"<= {data['target_median']}"],
        ["  max", tokens["max"], f"<= {data['target_max']}"],
        ["tool schemas (tokens, median share)",
         f"{data['tool_schema_tokens']} ({data['tool_schema_share_median']:.0%})", ""],
        ["summary requests (prompt tokens)", str(data["summary_prompt_tokens"] or "none"), ""],
        ["prefix identical within each session",
         " ".join(f"{s}:{'yes' if ok else 'NO'}" for s, ok in prefix.items()), "yes"],
        ["tokens per turn, all requests", data["tokens_per_turn"], ""],
        ["free key: turns per minute / per day",
         f"{free['turns_per_minute']:.1f} / {free['turns_per_day']:.0f}", ""],
    ]  # fmt: skip
    if "llama3" in data:
        real = data["llama3"]
        ratio = real["ratio_to_estimate"]
        rows += [
            ["Llama 3 tokenizer: median, max prompt",
             f"{real['prompt_tokens']['median']:.0f}, {real['prompt_tokens']['max']:.0f}", ""],
            ["  / estimate: whole, messages, tools",
             ", ".join(f"{ratio[part]['median']:.2f}" for part in ("total", "messages", "tools")),
             ""],
            ["  free key: turns per minute / per day",
             f"{real['free_key']['turns_per_minute']:.1f} / "
             f"{real['free_key']['turns_per_day']:.0f}", ""],
        ]  # fmt: skip
    head = (
        f"{data['turns']} turns in {data['sessions']} sessions, "
        f"{data['reply_requests']} reply + {data['summary_requests']} summary requests, "
        f"budget {data['budget'] or 'default'}"
    )
    return f"{head}\n{table(['measure', 'value', 'target'], rows)}\n{verdict(data['pass'])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, default=None, help="CONTEXT_TOKEN_BUDGET override")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--turns-per-session", type=int, default=10)
    parser.add_argument(
        "--tokenizer", default=None, help="'auto' (quicktok) or a Llama 3 tiktoken BPE file"
    )
    add_results_name(parser, NAME)
    asyncio.run(run_and_report(parser.parse_args(), run, report))


if __name__ == "__main__":
    main()
