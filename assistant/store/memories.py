"""Facts about the user: remembered, superseded by newer ones, forgotten for good.

Knows no pipecat and no web. ``MemoryRepository`` flushes and never commits (callers use
``Database.transaction()``); every method takes the user id and filters on it, so another
user's fact id behaves like one that does not exist.

How a fact's subject is recognised (no language model, the same answer every time): the text
is normalised (lower case, contractions expanded, "the user's" read as "my", spelling variants
folded) and matched against the shapes people state facts in. "My X is Y" has subject X ("my
favourite colour is green" → ``favorite color``; "my sister is called Ana" / "my sister's name
is Ana" → ``sister name``); "I live in / moved to …" → ``home``, "I work at …" → ``workplace``,
"I work as …" → ``job``, "I'm 34" → ``age``, "I love / hate jazz" → ``likes jazz`` (a newer
opinion on jazz replaces the older), "I'm vegetarian / vegan" → ``diet``, "my sister lives in
Rome" → ``sister home``. A fact in no known shape gets its own words as subject, so it is only
ever a duplicate of itself. See ``subject_of``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.context import tokens_of_chars
from assistant.store.models import Conversation, Memory, Message, utcnow
from assistant.store.terms import content_terms, stem, words

MEMORY_MAX_CHARS = 500
SUBJECT_MAX_CHARS = 200
BLOCK_HEADER = (
    "What I know about the user (from earlier conversations; they can change or forget any of it):"
)

# Said around a fact but not part of it: "remember that …", "… now".
_LEADING_FLUFF = re.compile(
    r"^(?:(?:please|remember|note|that|fyi|so|and|also|oh|well|actually|by the way|btw|"
    r"just so you know|for the record|keep in mind|do not forget|forget|about|the fact)\s+)+"
)
# An LLM often writes the user's fact about "the user"; read it as the user would say it.
_THIRD_PERSON = re.compile(r"^(?:the )?user(?: 's| (\w+))? ")
_TIME_FLUFF = re.compile(
    r"\b(?:now|these days|nowadays|currently|at the moment|anymore|any more|from now on|"
    r"right now|at present|actually|really|also|recently|lately|yesterday|today|"
    r"(?:last|this) (?:week|month|year|night|weekend|summer|winter|spring|autumn|fall)|"
    r"(?:a|\w+|a few|a couple of) (?:days?|weeks?|months?|years?) ago)\b"
)

PEOPLE = frozenset(
    """
    sister brother mother father wife husband partner son daughter boss friend girlfriend
    boyfriend fiance fiancee grandmother grandfather aunt uncle cousin niece nephew child
    baby roommate flatmate neighbor neighbour colleague manager doctor dentist therapist
    teacher dog cat pet bird horse rabbit fish hamster parrot
    """.split()
)
_POSITIVE = (
    "like|love|enjoy|adore|prefer|am into|am a fan of|am a big fan of|really like|really love"
)
_NEGATIVE = (
    "hate|dislike|detest|do not like|do not enjoy|do not love|can not stand|am not into|"
    "am not a fan of|no longer like|do not really like"
)
_DIETS = (
    "vegetarian|vegan|pescatarian|pescetarian|gluten free|lactose intolerant|keto|"
    "on a diet|kosher|halal|teetotal|sober"
)
_STATUS = "married|single|divorced|engaged|widowed|separated|in a relationship"
_HOME_VERB = (
    r"(?:i (?:now |still )?(?:live|am living|reside|stay|am staying|have lived|used to live)"
    r"|i (?:have |just |recently )*(?:moved|relocated|am moving|will move))"
)
_NUMBERS = r"(?:\d+|no|one|two|three|four|five|six|seven|eight|nine|ten|a|an)"


@dataclass(frozen=True, slots=True)
class Fact:
    """What ``subject_of`` reads in a fact: its subject, and the words of its value."""

    subject: str
    value: tuple[str, ...]
    recognised: bool


def _key(text: str) -> tuple[str, ...]:
    return tuple(sorted(set(content_terms(text))))


def _subject_words(phrase: str) -> str:
    parts = [w for w in phrase.split() if w not in {"'s", "own", "the", "a", "an", "current"}]
    return " ".join(stem(w) if w not in PEOPLE else w for w in parts)


def _prepare(text: str) -> str:
    s = " ".join(words(text))
    third = _THIRD_PERSON.match(s)
    if third:
        verb = third.group(1)
        first = f"i {_third_to_first(verb)} " if verb else "my "
        s = first + s[third.end() :]
    previous = None
    while previous != s:
        previous = s
        s = _LEADING_FLUFF.sub("", s)
    s = _TIME_FLUFF.sub(" ", s)
    return " ".join(s.split())


def _third_to_first(verb: str) -> str:
    if verb == "has":
        return "have"
    if verb == "is":
        return "am"
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("shes", "ches", "sses", "xes")):
        return verb[:-2]
    if verb.endswith("s") and not verb.endswith("ss"):
        return verb[:-1]
    return verb


def subject_of(text: str) -> Fact:
    """The subject a fact is about, and its value's words (module docstring for the rules)."""
    s = _prepare(text)
    fact = _first_person(s)
    if fact is not None:
        return fact
    m = re.match(r"^my ((?:[\w']+ ){0,3}?[\w']+) ((?!is\b|are\b|was\b|were\b)[a-z]+s) (.+)$", s)
    if m and m.group(2) not in {"is", "was", "has"}:
        # "my sister lives in Rome": what "I live in Rome" would be, about the sister.
        inner = _first_person(f"i {_third_to_first(m.group(2))} {m.group(3)}")
        if inner is not None:
            owner = _subject_words(m.group(1))
            return Fact(f"{owner} {inner.subject}", inner.value, True)
    m = re.match(r"^my ((?:[\w']+ ){0,3}?[\w']+) (?:is|are|was|were) (.+)$", s) or re.match(
        r"^my ((?:[\w']+ ){0,3}?[\w']+) 's (.+)$", s
    )
    if m:
        owner, value = m.group(1), m.group(2)
        named = re.match(r"^(?:called|named|still called) (.+)$", value)
        head = _subject_words(owner)
        if named or (
            head.split()[-1:] and head.split()[-1] in PEOPLE and _looks_like_a_name(text, value)
        ):
            value = named.group(1) if named else value
            subject = head if head.endswith("nam") else f"{head} nam"
            return Fact(subject, _key(value), True)
        return Fact(head, _key(value), True)
    m = re.match(r"^(\w+) is my ((?:\w+ ){0,2}?\w+)$", s)
    if m and m.group(2).split()[-1] in PEOPLE:
        return Fact(f"{_subject_words(m.group(2))} nam", _key(m.group(1)), True)
    return Fact("~" + " ".join(_key(s)), _key(s), False)


def _looks_like_a_name(original: str, value: str) -> bool:
    """'my sister is Ana' (a name) rather than 'my sister is a nurse' (about her)."""
    first = value.split()[0] if value.split() else ""
    if not first or first in {"a", "an", "the", "not", "no", "very", "so", "in", "at", "from"}:
        return False
    said = re.findall(r"\b" + re.escape(first) + r"\b", original, re.IGNORECASE)
    return any(word[:1].isupper() for word in said)


def _first_person(s: str) -> Fact | None:
    rules: list[tuple[str, str | None, int]] = [
        # (pattern, subject or None for "the captured object", value group)
        (r"^(?:my name is|call me|i am called|i go by|people call me) (.+)$", "name", 1),
        (r"^(?:i am|my age is) (\d+)(?: years? old)?$", "age", 1),
        (r"^i (?:just )?turned (\d+)", "age", 1),
        (rf"^{_HOME_VERB} (?:in|to|at|near|on) (.+)$", "home", 1),
        (r"^my (?:home address|address|home|home town|hometown) is (?:in |at )?(.+)$", "home", 1),
        (r"^i (?:am from|come from|grew up in|was raised in) (.+)$", "origin", 1),
        (r"^(?:my birthday is|i was born on) (?:on )?(.+)$", "birthday", 1),
        (r"^i was born in (\d{4})$", "birth year", 1),
        (r"^i was born in (.+)$", "birthplace", 1),
        (
            r"^i (?:now |still )?(?:work|am working|have started working|started working) "
            r"(?:at|for|in) (.+)$",
            "workplace",
            1,
        ),
        (r"^(?:my (?:employer|company) is|i am employed (?:at|by)) (.+)$", "workplace", 1),
        (r"^i (?:now |still )?(?:work|am working) as (?:a |an )?(.+)$", "job", 1),
        (r"^my (?:job|profession|occupation|job title|role at work) is (?:a |an )?(.+)$", "job", 1),
        (r"^i am (?:a |an )?(.+?) by (?:profession|trade)$", "job", 1),
        (r"^i am (?:now )?(?:a |an )?(" + _DIETS + r")$", "diet", 1),
        (r"^i (?:do not eat meat|eat meat)$", "diet", 0),
        (r"^i am (" + _STATUS + r")(?: to .+)?$", "relationship status", 0),
        (r"^i (?:drive|have|own) (?:a |an )(.+ (?:car|van|truck|motorbike|motorcycle))$", "car", 1),
        (r"^(?:i drive|my car is) (?:a |an )?(.+)$", "car", 1),
        (
            r"^i (?:usually |normally |always )?(?:wake up|get up) (?:at|around) (.+)$",
            "wake time",
            1,
        ),
        (
            r"^i (?:usually |normally |always )?(?:go to bed|go to sleep) (?:at|around) (.+)$",
            "bed time",
            1,
        ),
    ]
    for pattern, subject, group in rules:
        m = re.match(pattern, s)
        if m:
            value = m.group(group) if group else m.group(0)
            return Fact(subject or "", _key(value), True)
    m = re.match(r"^i am (?:not |no longer )?allergic to (.+)$", s) or re.match(
        r"^i have (?:a |an )?(.+?) allergy$", s
    )
    if m:
        negated = bool(re.match(r"^i am (?:not|no longer) ", s))
        return Fact("allergy " + " ".join(_key(m.group(1))), ("not",) if negated else (), True)
    m = re.match(rf"^i (?:have|own|got) (?:{_NUMBERS} )?(?:\w+ )?(\w+) (?:called|named) (.+)$", s)
    if m:
        return Fact(f"{_subject_words(m.group(1))} nam", _key(m.group(2)), True)
    m = re.match(rf"^i have ({_NUMBERS}) (\w+)$", s)
    if m:
        return Fact(f"count {stem(m.group(2))}", _key(m.group(1)), True)
    m = re.match(rf"^i (?:\w+ )?(?:(?P<pos>{_POSITIVE})|(?P<neg>{_NEGATIVE})) (?P<what>.+)$", s)
    if m and content_terms(m.group("what")):
        return Fact(
            "likes " + " ".join(_key(m.group("what"))), ("+",) if m.group("pos") else ("-",), True
        )
    return None


@dataclass(frozen=True, slots=True)
class Remembered:
    memory: Memory
    created: bool
    superseded: list[Memory]


def _clean_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a fact must not be empty")
    flat = " ".join(text.split())
    if len(flat) > MEMORY_MAX_CHARS:
        raise ValueError(f"a fact must be at most {MEMORY_MAX_CHARS} characters")
    return flat


def block_order(memories: Iterable[Memory]) -> list[Memory]:
    """Pinned first, then most used, then most recently used, then most recently changed."""
    return sorted(
        memories,
        key=lambda m: (
            not m.pinned,
            -m.use_count,
            -m.last_used_at.timestamp() if m.last_used_at is not None else float("inf"),
            -m.updated_at.timestamp(),
            -m.id,
        ),
    )


class _Block:
    """The block, built a fact at a time in the block's order: a fact that does not fit is left
    out whole and the next ones tried, up to ``LOOK_PAST`` of them after the first that did not
    fit (so a user with 10,000 facts is not read to the end for a short one), and never once not
    even the shortest line would fit."""

    # The fewest characters a fact's line can add ("\n- " and one letter).
    SHORTEST_LINE = 4
    LOOK_PAST = 64

    def __init__(self, budget_tokens: int) -> None:
        self._budget = budget_tokens
        self.lines = [BLOCK_HEADER]
        self.ids: list[int] = []
        self._chars = len(BLOCK_HEADER)
        self._tried_after_miss: int | None = None

    def add(self, memory_id: int, text: str) -> None:
        line = "- " + " ".join(text.split())
        chars = self._chars + 1 + len(line)
        # estimate_tokens of the joined lines, without joining them again for each fact.
        if tokens_of_chars(chars) <= self._budget:
            self.lines.append(line)
            self.ids.append(memory_id)
            self._chars = chars
        elif self._tried_after_miss is None:
            self._tried_after_miss = 0
        if self._tried_after_miss is not None:
            self._tried_after_miss += 1

    @property
    def full(self) -> bool:
        if self._tried_after_miss is not None and self._tried_after_miss > self.LOOK_PAST:
            return True
        return tokens_of_chars(self._chars + self.SHORTEST_LINE) > self._budget

    def text(self) -> str:
        return "\n".join(self.lines) if len(self.lines) > 1 else ""


def memory_block(memories: Sequence[Memory], budget_tokens: int) -> str:
    """The current facts as one block for the system instruction, within ``budget_tokens``
    (as ``estimate_tokens`` counts a message of it); "" when none fits. Facts that do not fit
    are left out whole, not cut."""
    block = _Block(budget_tokens)
    for memory in block_order(m for m in memories if m.superseded_at is None):
        if block.full:
            break
        block.add(memory.id, memory.text)
    return block.text()


# Words that say how to forget rather than what: "forget what I told you about my job".
_FORGET_WORDS = frozenset(
    """
    forget forgotten delete remove erase drop everything anything all about regarding that
    said told mentioned say tell fact facts thing things stuff info information know knew
    remember remembered please memory memories
    """.split()
)
_DESCRIPTIONS = [
    (r"\b(?:where i (?:live|am living|stay)|my (?:address|home address|home))\b", "home"),
    (r"\b(?:where i work|my (?:workplace|employer|company))\b", "workplace"),
    (r"\b(?:what i do for (?:a )?living|my (?:job|profession|occupation|work))\b", "job"),
    (r"\b(?:how old i am|my age)\b", "age"),
    (r"\b(?:my birthday|when i was born|my date of birth)\b", "birthday"),
    (r"\b(?:my name|what to call me|what i am called)\b", "name"),
    (r"\b(?:my diet|what i eat)\b", "diet"),
    (r"\bmy car\b", "car"),
]


# The block's order (block_order), as ix_memories_block walked backwards (NULLs sort last when
# descending).
_BLOCK_ORDER = (
    Memory.pinned.desc(),
    Memory.use_count.desc(),
    Memory.last_used_at.desc(),
    Memory.updated_at.desc(),
    Memory.id.desc(),
)
# Facts read at a time for the block: a 400-token block and the facts tried after it usually
# come in the first page.
BLOCK_PAGE = 128


class MemoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remember(
        self,
        user_id: int,
        text: str,
        *,
        conversation_id: str | None = None,
        message_id: int | None = None,
        inferred: bool = False,
        at: datetime | None = None,
    ) -> Remembered:
        """Store a fact, once: the same fact again returns the stored one (``created`` False);
        a fact on the subject of current ones supersedes them. A conversation or message that
        is not the user's is recorded as none."""
        text = _clean_text(text)
        now = at if at is not None else utcnow()
        fact = subject_of(text)
        subject = fact.subject[:SUBJECT_MAX_CHARS]
        same_subject = list(
            await self._session.scalars(
                select(Memory)
                .where(
                    Memory.user_id == user_id,
                    Memory.subject == subject,
                    Memory.superseded_at.is_(None),
                )
                .order_by(Memory.id)
                .execution_options(populate_existing=True)
            )
        )
        for existing in same_subject:
            if subject_of(existing.text).value == fact.value:
                if existing.inferred and not inferred:
                    existing.inferred = False  # the user said it themselves
                    await self._session.flush()
                return Remembered(existing, False, [])
        conversation_id, message_id = await self._owned_source(user_id, conversation_id, message_id)
        memory = Memory(
            user_id=user_id,
            text=text,
            subject=subject,
            inferred=inferred,
            pinned=any(m.pinned for m in same_subject),
            source_conversation_id=conversation_id,
            source_message_id=message_id,
            created_at=now,
            updated_at=now,
        )
        self._session.add(memory)
        await self._session.flush()
        for old in same_subject:
            old.superseded_at = now
            old.superseded_by_id = memory.id
        await self._session.flush()
        return Remembered(memory, True, same_subject)

    async def _owned_source(
        self, user_id: int, conversation_id: str | None, message_id: int | None
    ) -> tuple[str | None, int | None]:
        if conversation_id is not None:
            owner = await self._session.scalar(
                select(Conversation.user_id).where(Conversation.id == conversation_id)
            )
            if owner != user_id:
                conversation_id = None
        if message_id is not None:
            where = await self._session.execute(
                select(Message.conversation_id, Conversation.user_id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.id == message_id)
            )
            row = where.one_or_none()
            if row is None or row.user_id != user_id:
                message_id = None
            elif conversation_id is None:
                conversation_id = row.conversation_id
        return conversation_id, message_id

    async def current(self, user_id: int) -> list[Memory]:
        """The facts not superseded, in the block's order (pinned, most used, most recent)."""
        stmt = (
            select(Memory)
            .where(Memory.user_id == user_id, Memory.superseded_at.is_(None))
            .order_by(*_BLOCK_ORDER)
            .execution_options(populate_existing=True)
        )
        return list(await self._session.scalars(stmt))

    async def block(self, user_id: int, budget_tokens: int) -> tuple[str, list[int]]:
        """``memory_block`` of the user's current facts, and the ids of those in it. Reads the
        facts in the block's order only until the block is full, a page at a time and without
        loading them as objects: a user with 10,000 facts costs what one with 50 does."""
        block = _Block(budget_tokens)
        stmt = (
            select(Memory.id, Memory.text)
            .where(Memory.user_id == user_id, Memory.superseded_at.is_(None))
            .order_by(*_BLOCK_ORDER)
        )
        offset = 0
        while not block.full:
            rows = (await self._session.execute(stmt.limit(BLOCK_PAGE).offset(offset))).all()
            for memory_id, text in rows:
                if block.full:
                    break
                block.add(memory_id, text)
            if len(rows) < BLOCK_PAGE:
                break
            offset += BLOCK_PAGE
        return block.text(), block.ids

    async def history(self, user_id: int, memory_id: int) -> list[Memory]:
        """The facts ``memory_id`` superseded, directly or not, newest first."""
        found: list[Memory] = []
        frontier = [memory_id]
        while frontier:
            older = list(
                await self._session.scalars(
                    select(Memory)
                    .where(Memory.user_id == user_id, Memory.superseded_by_id.in_(frontier))
                    .order_by(Memory.id.desc())
                )
            )
            older = [m for m in older if m not in found]
            found.extend(older)
            frontier = [m.id for m in older]
        return found

    async def get(self, user_id: int, memory_id: int) -> Memory | None:
        return await self._session.scalar(
            select(Memory)
            .where(Memory.id == memory_id, Memory.user_id == user_id)
            .execution_options(populate_existing=True)
        )

    async def update(
        self, user_id: int, memory_id: int, *, text: str | None = None, pinned: bool | None = None
    ) -> Memory | None:
        """Edit a fact's words (its subject follows them) or pin it; None if not the user's."""
        if text is not None:
            text = _clean_text(text)
        memory = await self.get(user_id, memory_id)
        if memory is None:
            return None
        if text is not None and text != memory.text:
            memory.text = text
            memory.subject = subject_of(text).subject[:SUBJECT_MAX_CHARS]
        if pinned is not None:
            memory.pinned = bool(pinned)
        memory.updated_at = utcnow()
        await self._session.flush()
        return memory

    async def delete(self, user_id: int, memory_id: int) -> bool:
        """Delete a fact for good, with the older facts it superseded."""
        memory = await self.get(user_id, memory_id)
        if memory is None:
            return False
        await self._delete([memory, *await self.history(user_id, memory.id)])
        return True

    async def delete_all(self, user_id: int) -> int:
        # Superseded rows point at newer ones; one statement drops them all together.
        result = await self._session.execute(delete(Memory).where(Memory.user_id == user_id))
        await self._session.flush()
        return result.rowcount

    async def mark_used(
        self, user_id: int, memory_ids: Iterable[int], at: datetime | None = None
    ) -> None:
        ids = list(memory_ids)
        if not ids:
            return
        await self._session.execute(
            sql_update(Memory)
            .where(Memory.user_id == user_id, Memory.id.in_(ids))
            .values(
                use_count=Memory.use_count + 1,
                last_used_at=at if at is not None else utcnow(),
                updated_at=Memory.updated_at,  # being used is not being changed
            )
            .execution_options(synchronize_session=False)
        )
        await self._session.flush()

    async def forget(self, user_id: int, what: str) -> list[Memory]:
        """Delete for good the facts ``what`` names, with their history, and return them.

        ``what`` is the fact's words ("my sister is called Ana"), a description ("my sister's
        name", "where I live", "everything about jazz") or an id. A fact matches when it is on
        the subject ``what`` states (and holds its value, if ``what`` gives one), or when it
        holds every word ``what`` means (most of them, past three words); only the best kind
        of match is taken, so "I like hiking" is not forgotten with "I like jazz".
        """
        if not isinstance(what, str) or not what.strip():
            raise ValueError("say what to forget")
        candidates = list(
            await self._session.scalars(
                select(Memory).where(Memory.user_id == user_id).order_by(Memory.id)
            )
        )
        chosen = _choose(candidates, what)
        removed: dict[int, Memory] = {}
        for memory in chosen:
            removed.setdefault(memory.id, memory)
            for older in await self.history(user_id, memory.id):
                removed.setdefault(older.id, older)
        await self._delete(list(removed.values()))
        return sorted(removed.values(), key=lambda m: m.id)

    async def _delete(self, memories: list[Memory]) -> None:
        if not memories:
            return
        ids = [m.id for m in memories]
        await self._session.execute(delete(Memory).where(Memory.id.in_(ids)))
        for memory in memories:
            if memory in self._session:
                self._session.expunge(memory)
        await self._session.flush()


def _choose(candidates: list[Memory], what: str) -> list[Memory]:
    stripped = what.strip().lstrip("#")
    if stripped.isdigit():
        return [m for m in candidates if m.id == int(stripped)]
    s = _prepare(what)
    subject: str | None = None
    value: tuple[str, ...] = ()
    for pattern, name in _DESCRIPTIONS:
        if re.search(pattern, s):
            subject = name
            break
    if subject is None:
        fact = subject_of(what)
        if fact.recognised:
            subject, value = fact.subject, fact.value
        else:
            m = re.match(r"^my ((?:[\w']+ ){0,3}?[\w']+)$", s)
            if m:
                subject = _subject_words(m.group(1))
    exact = [
        m for m in candidates if " ".join(m.text.split()).lower() == " ".join(what.split()).lower()
    ]
    by_subject = []
    if subject is not None:
        for memory in candidates:
            if memory.subject == subject or (
                not value and memory.subject.startswith(subject + " ")
            ):
                if (
                    not value
                    or set(value) <= set(content_terms(memory.text))
                    or (subject_of(memory.text).value == value)
                ):
                    by_subject.append(memory)
    if exact or by_subject:
        return _unique(exact + by_subject)
    terms = content_terms(what, _FORGET_WORDS)
    if not terms:
        return []
    needed = len(terms) if len(terms) <= 3 else -(-len(terms) * 3 // 4)
    scored = []
    for memory in candidates:
        held = set(content_terms(memory.text)) | {stem(w) for w in memory.subject.split()}
        hits = sum(1 for term in terms if term in held)
        if hits >= needed:
            scored.append((hits, memory))
    if not scored:
        return []
    best = max(hits for hits, _ in scored)
    return [memory for hits, memory in scored if hits == best]


def _unique(memories: list[Memory]) -> list[Memory]:
    seen: dict[int, Memory] = {}
    for memory in memories:
        seen.setdefault(memory.id, memory)
    return list(seen.values())
