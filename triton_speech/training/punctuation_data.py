"""Punctuated, capitalized English over the ASR corpus's domain, for training the default punctuator.

Sentences come from templates over the word pools of ``export/data.py`` (names, places, weekdays, months,
items, streets, everyday phrases; numbers, times and prices spelled out as the voice says them). Each is
written the way it should be restored: capitalized sentence starts, names, cities, streets, weekdays,
months and "I"; commas in lists, after introductory words, around the person addressed and between
clauses; '.' after statements and '?' after questions. An example joins 1-3 sentences; the model input
is the example lower-cased without the marks, which is what the ASR's CTC decoder emits (lower-case
letters, spaces, apostrophes). Everything is seeded: the same arguments give the same text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from triton_speech.corpus.templates import (
    ITEMS,
    MONTHS,
    NAMES,
    PHRASES,
    PLACES,
    STREETS,
    WEEKDAYS,
    _digits,
    _money,
    _time,
    sentences,
)
from triton_speech.runtime.tts.text import number_to_words, ordinal_to_words, year_to_words

MARKS = (",", ".", "?")  # the punctuation labels besides the pad label
NO_MARK = "O"
CAPITALIZED = "U"
# What the CTC decoder can emit, and so all a model input may hold.
ASR_TEXT = re.compile(r"[a-z' ]*")
# "the station" is a common noun; the other places are cities, written capitalized.
CITIES = [place for place in PLACES if not place.startswith("the ")]
PROPER_WORDS = {*NAMES, *CITIES, *WEEKDAYS, *(f"{day}s" for day in WEEKDAYS), *MONTHS}
FIRST_PERSON = {"i", "i'm", "i'll", "i'd", "i've"}
QUESTION_STARTS = {"what", "where", "when", "who", "why", "how", "which", "do", "does", "did", "can", "could",
                   "would", "will", "should", "is", "are"}
GREETING = "good morning"


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def cased_word(word: str) -> str:
    """A lower-case word as written mid-sentence: names, cities, days, months and "I" capitalized."""
    return capitalize(word) if word in PROPER_WORDS or word in FIRST_PERSON else word


def punctuate_phrase(phrase: str) -> str:
    """One of the corpus's everyday phrases, punctuated: a greeting and a trailing "please" set off by
    commas, '?' when it opens like a question."""
    words = [cased_word(word) for word in phrase.split()]
    text = " ".join(words)
    body = words
    if phrase.startswith(GREETING + " "):
        text = f"{GREETING}, {' '.join(words[2:])}"
        body = words[2:]
    if len(words) > 1 and words[-1] == "please":
        text = text.removesuffix(" please") + ", please"
    mark = "?" if body[0].lower() in QUESTION_STARTS else "."
    return capitalize(text) + mark


PUNCTUATED_PHRASES = [punctuate_phrase(phrase) for phrase in PHRASES]
# Phrases that read on after "on monday," or "john said": no greetings, and only statements after "said".
INNER_PHRASES = [text for text in PUNCTUATED_PHRASES if not text.lower().startswith(GREETING)]
STATEMENT_PHRASES = [text for text in INNER_PHRASES if text.endswith(".")]


def inner(sentence: str) -> str:
    """A sentence continued after a lead-in: its first letter lower-cased unless the word is proper or "I"."""
    first, _, rest = sentence.partition(" ")
    return f"{cased_word(first.lower())} {rest}" if rest else cased_word(first.lower())


# ---------------------------------------------------------------------------------------------- word pools


def name(r: random.Random) -> str:
    return capitalize(r.choice(NAMES))


def place(r: random.Random) -> str:
    return cased_word(r.choice(PLACES))


def city(r: random.Random) -> str:
    return capitalize(r.choice(CITIES))


def weekday(r: random.Random) -> str:
    return capitalize(r.choice(WEEKDAYS))


def month(r: random.Random) -> str:
    return capitalize(r.choice(MONTHS))


def item(r: random.Random) -> str:
    return r.choice(ITEMS)


def street(r: random.Random) -> str:
    return f"{capitalize(r.choice(STREETS))} Street"


def number(r: random.Random, low: int, high: int) -> str:
    return number_to_words(r.randint(low, high))


def listing(parts: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c' (no serial comma)."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def several(r: random.Random, pick, low: int = 2, high: int = 4) -> list[str]:
    """2-4 distinct picks."""
    chosen: dict[str, None] = {}
    wanted = r.randint(low, high)
    while len(chosen) < wanted:
        chosen.setdefault(pick(r))
    return list(chosen)


def subject(r: random.Random) -> str:
    return r.choice([lambda: "I", lambda: "we", lambda: "you", lambda: "they", lambda: "she", lambda: "he",
                     lambda: name(r), lambda: f"{name(r)} and I", lambda: "my brother", lambda: "our team"])()


# (base form, past tense, complement): what the clauses are about.
ACTIVITIES = [
    ("meet", "met", lambda r: f"{name(r)} at {place(r)}"),
    ("call", "called", lambda r: f"{name(r)} at {_time(r)}"),
    ("buy", "bought", lambda r: f"{number(r, 2, 40)} {item(r)}"),
    ("fly", "flew", lambda r: f"to {city(r)} in {month(r)}"),
    ("visit", "visited", lambda r: f"{name(r)} in {city(r)}"),
    ("take", "took", lambda r: f"the train to {place(r)} on {weekday(r)}"),
    ("drive", "drove", lambda r: f"{number(r, 2, 500)} miles to {place(r)}"),
    ("leave", "left", lambda r: f"{place(r)} at {_time(r)}"),
    ("see", "saw", lambda r: f"{name(r)} on {weekday(r)}"),
    ("send", "sent", lambda r: f"{name(r)} the tickets on {month(r)} {ordinal_to_words(r.randint(1, 31))}"),
    ("wait", "waited", lambda r: f"for {name(r)} at {place(r)}"),
    ("pay", "paid", lambda r: f"{_money(r)} for the {item(r)}"),
]


def action(r: random.Random, past: bool = False) -> str:
    base, past_tense, complement = r.choice(ACTIVITIES)
    return f"{past_tense if past else base} {complement(r)}"


def clause(r: random.Random) -> str:
    """A statement without its final mark, lower-case start (proper words and "I" stay capitalized)."""
    return r.choice([
        lambda: f"{subject(r)} {action(r, past=True)}",
        lambda: f"{subject(r)} will {action(r)}",
        lambda: f"I'm going to {action(r)}",
        lambda: f"I'll {action(r)}",
        lambda: f"{name(r)} wants to {action(r)}",
        lambda: f"we need to {action(r)}",
        lambda: f"I have to {action(r)}",
    ])()


def question_body(r: random.Random) -> str:
    """A question without its '?', lower-case start."""
    return r.choice([
        lambda: f"{r.choice(['can you', 'could you', 'will you', 'would you', 'did you', 'should we', 'can we'])}"
                f" {action(r)}",
        lambda: f"{r.choice(['did', 'will', 'can'])} {name(r)} {action(r)}",
        lambda: f"{r.choice(['do you want to', 'are you going to', 'does ' + name(r) + ' want to'])} {action(r)}",
        lambda: f"{r.choice(['when', 'why'])} did {r.choice(['you', 'they', 'she', 'he', name(r)])} {action(r)}",
        lambda: f"where is {place(r)}",
        lambda: f"what time does the train to {place(r)} leave",
        lambda: f"how much are the {item(r)}",
        lambda: f"how many {item(r)} did you buy",
        lambda: f"who is going to {city(r)} in {month(r)}",
        lambda: f"where does {name(r)} live",
        lambda: f"when is {name(r)}'s birthday",
        lambda: f"is it {_time(r)} already",
        lambda: f"are you free on {weekday(r)}",
        lambda: f"is {name(r)} coming to {place(r)}",
        lambda: f"are there {number(r, 2, 99)} {item(r)} left",
        lambda: f"what did {name(r)} buy at {place(r)}",
        lambda: f"how far is {city(r)} from {city(r)}",
    ])()


def statement(text: str) -> str:
    return capitalize(text) + "."


def question(text: str) -> str:
    return capitalize(text) + "?"


INTRODUCTIONS = [
    lambda r: r.choice(["however", "yes", "no", "well", "okay", "actually", "unfortunately", "of course",
                        "by the way", "luckily", "sadly", "first", "after that", "in the morning"]),
    lambda r: f"in {month(r)}",
    lambda r: f"on {weekday(r)}",
    lambda r: f"last {weekday(r)}",
    lambda r: f"at {_time(r)}",
]
QUESTION_INTRODUCTIONS = ["so", "okay", "well", "by the way", "also", "and"]
CONDITIONS = [
    lambda r: "it rains", lambda r: f"{name(r)} is late", lambda r: "the train is late", lambda r: "you have time",
    lambda r: f"the weather is nice on {weekday(r)}", lambda r: f"you are in {city(r)}",
    lambda r: f"we get to {place(r)} early", lambda r: f"{name(r)} calls",
]

TEMPLATES = [
    # export/data.py's sentences, punctuated
    lambda r: statement(f"{name(r)} will meet {name(r)} on {weekday(r)} at {_time(r)}"),
    lambda r: statement(f"please call {name(r)} at {_digits(r, 7)}"),
    lambda r: statement(f"the meeting is on {month(r)} {ordinal_to_words(r.randint(1, 31))}"),
    lambda r: statement(f"I bought {number(r, 2, 40)} {item(r)} for {_money(r)}"),
    lambda r: statement(f"{name(r)} lives at {number(r, 1, 999)} {street(r)}"),
    lambda r: statement(f"the train to {place(r)} leaves at {_time(r)}"),
    lambda r: statement(f"{name(r)} was born in {year_to_words(r.randint(1950, 2020))}"),
    lambda r: statement(f"we drove {number(r, 2, 500)} miles to {place(r)}"),
    lambda r: statement(f"it costs {_money(r)}"),
    lambda r: r.choice(PUNCTUATED_PHRASES),
    lambda r: f"{name(r)} said {inner(r.choice(STATEMENT_PHRASES))}",
    lambda r: f"On {weekday(r)}, {inner(r.choice(INNER_PHRASES))}",
    lambda r: statement(f"there are {number(r, 2, 99)} people waiting at {place(r)}"),
    lambda r: statement(f"{name(r)} and {name(r)} flew to {city(r)} in {month(r)}"),
    # plain statements
    lambda r: statement(clause(r)),
    lambda r: statement(clause(r)),
    # lists
    lambda r: statement(f"{r.choice(['I need', 'we bought', 'please get'])} {listing(several(r, item))}"),
    lambda r: statement(f"we bought {listing([f'{number(r, 2, 20)} {thing}' for thing in several(r, item)])}"),
    lambda r: statement(f"{listing(several(r, name))} {action(r, past=True)}"),
    lambda r: statement(f"we visited {listing(several(r, city))} in {month(r)}"),
    lambda r: statement(f"the store is open on {listing(several(r, weekday))}"),
    # introductory words and phrases
    lambda r: statement(f"{r.choice(INTRODUCTIONS)(r)}, {clause(r)}"),
    lambda r: statement(f"{r.choice(INTRODUCTIONS)(r)}, {clause(r)}"),
    lambda r: question(f"{r.choice(QUESTION_INTRODUCTIONS)}, {question_body(r)}"),
    # clauses
    lambda r: statement(f"{clause(r)}, {r.choice(['but', 'so'])} {clause(r)}"),
    lambda r: statement(f"{clause(r)} {r.choice(['because', 'and'])} {clause(r)}"),
    lambda r: statement(f"{r.choice(['if', 'when'])} {r.choice(CONDITIONS)(r)}, {clause(r)}"),
    lambda r: statement(f"I think {clause(r)}"),
    lambda r: statement(f"I'm not sure, but I think {clause(r)}"),
    # a person addressed
    lambda r: statement(f"{name(r)}, please {action(r)}"),
    lambda r: statement(f"{r.choice(['thank you', 'thanks', 'good morning', 'hello'])}, {name(r)}"),
    lambda r: statement(f"{name(r)}, I'll {action(r)}"),
    lambda r: f"{name(r)}, {inner(r.choice(INNER_PHRASES))}",
    lambda r: question(f"{name(r)}, {question_body(r)}"),
    lambda r: question(f"{question_body(r)}, {name(r)}"),
    # questions
    lambda r: question(question_body(r)),
    lambda r: question(question_body(r)),
    lambda r: question(question_body(r)),
    lambda r: question(f"{subject(r)} {action(r, past=True)}, right"),
    lambda r: question(f"the train leaves at {_time(r)}, doesn't it"),
    lambda r: question(f"you're coming on {weekday(r)}, aren't you"),
    lambda r: question(f"which day is better, {weekday(r)} or {weekday(r)}"),
]


# ---------------------------------------------------------------------------------------------- examples


def bare_words(text: str) -> list[str]:
    return [word.lower().rstrip("".join(MARKS)) for word in text.split()]


def unpunctuated(text: str) -> str:
    """The model input for a punctuated text: lower case, marks removed, as the CTC decoder writes it."""
    plain = " ".join(bare_words(text))
    if not ASR_TEXT.fullmatch(plain):
        raise ValueError(f"{text!r} holds characters the ASR never emits")
    return plain


def word_labels(text: str) -> tuple[list[str], list[str]]:
    """Per whitespace word: the mark after it (or O) and whether it starts with a capital (U or O)."""
    words = text.split()
    punct = [word[-1] if word[-1] in MARKS else NO_MARK for word in words]
    capit = [CAPITALIZED if word[0].isupper() else NO_MARK for word in words]
    return punct, capit


def train_heldout_sentences(count_train: int, count_heldout: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Distinct training and held-out sentences; no held-out sentence's model input occurs in training."""
    train = sentences(count_train, seed, templates=TEMPLATES)
    train_inputs = {unpunctuated(text) for text in train}
    heldout = sentences(count_heldout, seed + 1, exclude=set(train), templates=TEMPLATES)
    # Two sentences differing only in marks or case are the same input: keep those out of the held-out set.
    return train, [text for text in heldout if unpunctuated(text) not in train_inputs]


def join_examples(texts: list[str], seed: int, max_sentences: int = 3) -> list[dict[str, str]]:
    """Consecutive runs of 1..max_sentences sentences (each used once): {"input", "expected"}."""
    rng = random.Random(seed)
    examples, position = [], 0
    while position < len(texts):
        count = rng.randint(1, max_sentences)
        expected = " ".join(texts[position : position + count])
        examples.append({"input": unpunctuated(expected), "expected": expected})
        position += count
    return examples


# ---------------------------------------------------------------------------------------------- metrics


def restoration_metrics(predicted: Sequence[str], expected: Sequence[str]) -> dict:
    """Word-level scores of restored texts against the expected ones (same words, in order).

    punct_accuracy / capit_accuracy: fraction of words with the right mark after them / the right first-letter
    case; punct_f1: per mark (',', '.', '?'), F1 of that mark over all words, and their mean (macro);
    exact_examples / exact_sentences: fraction of texts / of the expected texts' sentences restored exactly.
    """
    if len(predicted) != len(expected):
        raise ValueError(f"{len(predicted)} predictions for {len(expected)} expected texts")
    words = punct_right = capit_right = exact_examples = sentences_total = sentences_exact = 0
    counts = {mark: {"tp": 0, "fp": 0, "fn": 0} for mark in MARKS}
    for ours, theirs in zip(predicted, expected):
        our_words, their_words = ours.split(), theirs.split()
        if bare_words(ours) != bare_words(theirs):
            raise ValueError(f"different words: {ours!r} vs {theirs!r}")
        (our_punct, our_capit), (their_punct, their_capit) = word_labels(ours), word_labels(theirs)
        words += len(their_words)
        punct_right += sum(a == b for a, b in zip(our_punct, their_punct))
        capit_right += sum(a == b for a, b in zip(our_capit, their_capit))
        exact_examples += our_words == their_words
        for mark in MARKS:
            counts[mark]["tp"] += sum(a == mark and b == mark for a, b in zip(our_punct, their_punct))
            counts[mark]["fp"] += sum(a == mark and b != mark for a, b in zip(our_punct, their_punct))
            counts[mark]["fn"] += sum(a != mark and b == mark for a, b in zip(our_punct, their_punct))
        start = 0
        for index, label in enumerate(their_punct):
            if label in (".", "?") or index == len(their_punct) - 1:
                sentences_total += 1
                sentences_exact += our_words[start : index + 1] == their_words[start : index + 1]
                start = index + 1

    def f1(tp: int, fp: int, fn: int) -> float:
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0

    punct_f1 = {mark: f1(**counts[mark]) for mark in MARKS}
    return {
        "examples": len(expected),
        "sentences": sentences_total,
        "words": words,
        "punct_accuracy": punct_right / max(words, 1),
        "punct_f1": punct_f1,
        "punct_macro_f1": sum(punct_f1.values()) / len(MARKS),
        "capit_accuracy": capit_right / max(words, 1),
        "exact_examples": exact_examples / max(len(expected), 1),
        "exact_sentences": sentences_exact / max(sentences_total, 1),
    }
