"""Words that carry meaning, for matching facts and searches without a language model.

A text becomes its content terms: lower-cased words, contractions expanded, stopwords dropped,
each cut to a light stem so that "lives", "living" and "live" meet. The stemmer is hand-rolled
(a few suffix rules, not Porter) because no stemming library is a dependency and both sides of
every comparison go through the same rules, so a stem need not be a word, only consistent.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")

# Spoken English contractions, expanded before anything else looks at the words.
CONTRACTIONS = {
    "i'm": "i am",
    "im": "i am",
    "i've": "i have",
    "i'd": "i would",
    "i'll": "i will",
    "you're": "you are",
    "we're": "we are",
    "they're": "they are",
    "it's": "it is",
    "that's": "that is",
    "what's": "what is",
    "where's": "where is",
    "who's": "who is",
    "there's": "there is",
    "can't": "can not",
    "cannot": "can not",
    "won't": "will not",
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "weren't": "were not",
    "haven't": "have not",
    "hasn't": "has not",
    "wouldn't": "would not",
    "shouldn't": "should not",
    "couldn't": "could not",
    "let's": "let us",
}

# One spelling for words people spell two ways, or say with a synonym that names the same thing.
SYNONYMS = {
    "favourite": "favorite",
    "fave": "favorite",
    "fav": "favorite",
    "colour": "color",
    "colours": "colors",
    "flavour": "flavor",
    "mum": "mother",
    "mom": "mother",
    "mommy": "mother",
    "mummy": "mother",
    "dad": "father",
    "daddy": "father",
    "mobile": "phone",
    "cell": "phone",
    "cellphone": "phone",
    "telephone": "phone",
    "e-mail": "email",
    "bday": "birthday",
    "hubby": "husband",
    "kids": "children",
    "kid": "child",
    "doggy": "dog",
    "puppy": "dog",
    "kitty": "cat",
    "kitten": "cat",
    "grandma": "grandmother",
    "granny": "grandmother",
    "grandpa": "grandfather",
    "bro": "brother",
    "sis": "sister",
    "gf": "girlfriend",
    "bf": "boyfriend",
    "job's": "job",
    "organise": "organize",
    "travelling": "traveling",
    "theatre": "theater",
    "afraid": "fear",
    "scared": "fear",
    "frightened": "fear",
}

STOPWORDS = frozenset(
    """
    a an the and or but if then than so as of at by for with about against between into
    through during before after above below to from up down in out on off over under again
    further once here there all any both each few more most other some such only own same
    too very s t can will just should now also just really quite actually basically maybe
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves
    what which who whom whose this that these those am is are was were be been being have has
    had having do does did doing would could might must shall may
    oh ok okay yes yeah well um uh hmm please thanks thank hey hi hello
    let us one thing things something anything everything stuff how much many when where why
    currently anymore still ever today's new
    """.split()
)

# Words about the act of remembering or talking, not about what was said: "what did we say
# about the trip" is about the trip.
META_WORDS = frozenset(
    """
    remember remembered recall forget forgot forgotten fact facts
    said say says saying tell told telling talk talked talking speak spoke discuss discussed
    discussing mention mentioned mentioning conversation conversations chat chatted asked ask
    decide decided earlier previously again know knew think thought
    name names named called number time times date thing gave give got get tried try want
    wanted like liked word words teach teaches taught consider considered considering
    """.split()
)

# People a question can be about: "my brother's car" is not answered by "my car".
RELATIONS = frozenset(
    """
    sister brother mother father wife husband partner son daughter boss manager friend
    girlfriend boyfriend fiance fiancee grandmother grandfather aunt uncle cousin niece nephew
    neighbor neighbour colleague roommate flatmate child children baby parent parents
    """.split()
)

# Kept although short or common: they flip or pin down what a fact says.
NEGATIONS = frozenset({"not", "no", "never", "nor"})


def normalise_text(text: str) -> str:
    """Lower case, one apostrophe, accents kept (the FTS index folds them itself)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return re.sub(r"\be-mail", "email", text)


def words(text: str) -> list[str]:
    """The words of ``text``, contractions expanded and synonyms folded, possessives split off
    ("sister's" → "sister", "'s")."""
    out: list[str] = []
    for raw in _WORD.findall(normalise_text(text)):
        expanded = CONTRACTIONS.get(raw)
        if expanded is not None:
            out.extend(expanded.split())
            continue
        if raw.endswith("n't"):
            out.extend([raw[:-3], "not"])
            continue
        if raw.endswith("'s"):
            out.extend([SYNONYMS.get(raw[:-2], raw[:-2]), "'s"])
            continue
        if "'" in raw:
            raw = raw.replace("'", "")
        out.append(SYNONYMS.get(raw, raw))
    return out


def stem(word: str) -> str:
    """A light stem: plural and verb endings off, a final e dropped ("lives", "living",
    "lived" and "live" all give "liv")."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith(("ies", "ied")) and len(word) > 4:
        return word[:-3]
    if word.endswith("ing") and len(word) > 5:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) > 4 and not word.endswith("eed"):
        word = _undouble(word[:-2])
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith(("e", "y")) and len(word) > 3:
        word = word[:-1]  # "live" meets "lived", "expiry" meets "expires"
    return word


def _undouble(word: str) -> str:
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        return word[:-1]
    return word


def is_content(word: str, extra_stopwords: frozenset[str] = frozenset()) -> bool:
    if word in NEGATIONS:
        return True
    if word == "'s" or word in STOPWORDS or word in extra_stopwords:
        return False
    return len(word) > 1 or word.isdigit()


def content_terms(text: str, extra_stopwords: frozenset[str] = frozenset()) -> list[str]:
    """The stems of the words that carry meaning, in order, each once."""
    seen: dict[str, None] = {}
    for word in words(text):
        if is_content(word, extra_stopwords):
            seen.setdefault(stem(word), None)
    return list(seen)


# For search only (facts' subjects keep the stricter SYNONYMS): words a question may use for
# what was said in other words. Each line is one group; a query word finds any word of its
# group. Everyday vocabulary and irregular verb forms the stemmer cannot join, not topics.
PARAPHRASES = """
wedding married marry marriage wed
job work works worked working career employer
child children
parent parents
sibling siblings
doctor gp physician
accountant advisor adviser
phone number
shoe shoes boot boots sneakers trainers
live lives lived living move moved moving relocate relocated
flat apartment
movie movies film films
medicine medication meds pill pills prescription prescribed
allergy allergies allergic
teacher tutor instructor
coach trainer
holiday holidays vacation
gift gifts present presents
price cost costs charge charged fee fees pay pays paid spend spends spent
salary wage wages
sick ill unwell
pain ache aches hurt hurts sore
vet veterinarian veterinary
neighbour neighbor neighbours neighbors
boss manager
friend buddy pal
tyre tire tyres tires
jewellery jewelry
grey gray
sofa couch
tv television
fridge refrigerator
lawyer attorney solicitor
bike bicycle
weight weigh weighs weighed
loss lose loses lost losing
buy buys bought purchase purchased
eat eats ate eaten
run runs ran running jog jogging
meet meets met meeting
take takes took taken
leave leaves left
sell sells sold
choose chooses chose chosen
begin begins began begun start started
write writes wrote written
drive drives drove driven
fly flies flew flown flight flights flying plane
bring brings brought
find finds found
win wins won
feel feels felt
keep keeps kept
send sends sent
build builds built
break breaks broke broken
fall falls fell fallen
france french
spain spanish
italy italian
japan japanese
mexico mexican
germany german
portugal portuguese
china chinese
greece greek
"""

# Words that say which side of a subject is asked about ("plans for the garden", "car
# problems") or the plain verb of having done it ("the concerts I went to"): a hit about the
# subject answers without them, so they only rank.
ASPECTS = frozenset(
    """
    plan plans planned planning problem problems issue issues trouble progress update updates
    news idea ideas detail details info information status option options story
    go goes going went gone visit visits visited visiting see sees saw seen make makes made
    symptom symptoms sign signs schedule schedules timetable routine
    """.split()
)

# A query word that also finds the more particular words for it ("my kids" finds "my son"),
# but not the other way round ("my son" is not answered by "my daughter").
BROADER = {
    "child": ("son", "daughter", "baby"),
    "parent": ("mother", "father"),
    "sibling": ("brother", "sister"),
    "pet": ("dog", "cat"),
    "book": ("read", "reading", "novel"),
    "restaurant": ("place", "dinner", "lunch", "brunch", "cafe", "bistro", "bar", "eatery"),
    "family": ("mother", "father", "brother", "sister", "son", "daughter"),
}
