"""Template sentences over names, places, numbers, dates, times, prices and everyday phrases: the domain the
template corpora (ASR, TTS, punctuation) are drawn from, and the demo's sentences, which no corpus contains."""

from __future__ import annotations

import random

from triton_speech.runtime.tts.text import number_to_words, ordinal_to_words, year_to_words

# What `make demo` speaks and transcribes: in the templates' domain, never in a training set.
DEMO_ASR_TEXT = "michael will meet emma on friday at ten thirty in the morning"
# What `make demo` synthesizes and plays back to the ASR: also in the domain and in no training set.
DEMO_TTS_TEXT = "The train to London leaves at seven thirty in the evening."

NAMES = ["michael", "sarah", "john", "emma", "david", "olivia", "james", "sophia", "robert", "mia", "daniel",
         "grace", "peter", "laura", "thomas", "anna", "paul", "julia", "mark", "helen", "steven", "alice",
         "george", "kate", "henry", "lucy", "frank", "rachel", "brian", "nina"]
PLACES = ["london", "boston", "paris", "chicago", "berlin", "madrid", "toronto", "dublin", "seattle", "denver",
          "the station", "the office", "the library", "the airport", "the hospital", "the market", "the park"]
ITEMS = ["apples", "books", "tickets", "chairs", "coffees", "pencils", "boxes", "bottles of water", "eggs",
         "shirts", "plates", "bags of rice", "cups of tea", "oranges", "batteries"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
STREETS = ["oak", "maple", "main", "church", "park", "river", "hill", "station", "king", "high"]
PHRASES = [
    "good morning how are you today", "i think it is going to rain this afternoon",
    "could you please send me the report before lunch", "the train was late again this morning",
    "let's meet for coffee after work", "i can't find my keys anywhere", "dinner will be ready in ten minutes",
    "please turn off the lights when you leave", "we need more milk and bread", "the children are playing outside",
    "my phone battery is almost empty", "thank you very much for your help", "what time does the store open",
    "the weather is lovely today", "i'll call you back in five minutes", "do you want to watch a movie tonight",
    "she is reading a book in the garden", "the doctor will see you now", "our flight leaves early tomorrow",
    "he forgot to water the plants", "it's too cold to go swimming", "the meeting has been moved to next week",
    "can you help me carry these boxes", "the museum is closed on mondays", "turn left at the next corner",
    "i would like a glass of water please", "the cat is sleeping on the sofa", "we're going to the beach",
    "don't forget your umbrella", "the music is too loud", "where did you park the car",
]


def _money(rng: random.Random) -> str:
    dollars, cents = rng.randint(1, 99), rng.choice([0, 25, 50, 75, 99])
    spoken = f"{number_to_words(dollars)} dollar{'s' if dollars != 1 else ''}"
    return spoken + (f" and {number_to_words(cents)} cents" if cents else "")


def _time(rng: random.Random) -> str:
    hour, minute = rng.randint(1, 12), rng.choice([0, 15, 30, 45, 5, 20, 40])
    spoken = number_to_words(hour) + (f" {number_to_words(minute)}" if minute >= 10 else
                                      f" oh {number_to_words(minute)}" if minute else " o'clock")
    return spoken + rng.choice(["", " in the morning", " in the evening"])


def _digits(rng: random.Random, count: int) -> str:
    return " ".join(number_to_words(rng.randint(0, 9)) for _ in range(count))


TEMPLATES = [
    lambda r: f"{r.choice(NAMES)} will meet {r.choice(NAMES)} on {r.choice(WEEKDAYS)} at {_time(r)}",
    lambda r: f"please call {r.choice(NAMES)} at {_digits(r, 7)}",
    lambda r: f"the meeting is on {r.choice(MONTHS)} {ordinal_to_words(r.randint(1, 31))}",
    lambda r: f"i bought {number_to_words(r.randint(2, 40))} {r.choice(ITEMS)} for {_money(r)}",
    lambda r: f"{r.choice(NAMES)} lives at {number_to_words(r.randint(1, 999))} {r.choice(STREETS)} street",
    lambda r: f"the train to {r.choice(PLACES)} leaves at {_time(r)}",
    lambda r: f"{r.choice(NAMES)} was born in {year_to_words(r.randint(1950, 2020))}",
    lambda r: f"we drove {number_to_words(r.randint(2, 500))} miles to {r.choice(PLACES)}",
    lambda r: f"it costs {_money(r)}",
    lambda r: f"{r.choice(PHRASES)}",
    lambda r: f"{r.choice(NAMES)} said {r.choice(PHRASES)}",
    lambda r: f"on {r.choice(WEEKDAYS)} {r.choice(PHRASES)}",
    lambda r: f"there are {number_to_words(r.randint(2, 99))} people waiting at {r.choice(PLACES)}",
    lambda r: f"{r.choice(NAMES)} and {r.choice(NAMES)} flew to {r.choice(PLACES)} in {r.choice(MONTHS)}",
]


# Sentence patterns no training corpus uses: they measure whether a model hears the words or completes the
# training templates. Every word they say is a word of TEMPLATES (decoding over the lexicon can say them).
HELD_OUT_TEMPLATES = [
    lambda r: f"{r.choice(NAMES)} drove to {r.choice(PLACES)} on {r.choice(WEEKDAYS)}",
    lambda r: f"{r.choice(NAMES)} bought {number_to_words(r.randint(2, 40))} {r.choice(ITEMS)} at the market",
    lambda r: f"my flight to {r.choice(PLACES)} leaves on {r.choice(WEEKDAYS)} at {_time(r)}",
    lambda r: f"{r.choice(NAMES)} is waiting for {r.choice(NAMES)} at {r.choice(PLACES)}",
    lambda r: f"please send the report to {r.choice(NAMES)} before {r.choice(WEEKDAYS)}",
    lambda r: f"{r.choice(NAMES)} will call you on {r.choice(MONTHS)} {ordinal_to_words(r.randint(1, 31))}",
    lambda r: f"we need {number_to_words(r.randint(2, 40))} {r.choice(ITEMS)} for the meeting on {r.choice(WEEKDAYS)}",
    lambda r: f"is the train to {r.choice(PLACES)} late again",
]

# Hand-written sentences of template words that no template (training or held out) makes.
NEW_COMBINATIONS = [
    "the cat is playing in the garden", "can you call the doctor tomorrow", "we drove to the beach on sunday",
    "my phone is in the car", "the library is closed today", "sarah and john are reading a book",
    "there is more coffee in the office", "i think the train leaves at ten", "please turn left at the church",
    "the museum is open on sunday", "we need more eggs and milk", "do you like the music",
    "the weather in dublin is cold", "helen is waiting outside the hospital", "what time is dinner",
    "thank you for the coffee", "the store is very loud", "mark and lucy flew to paris",
    "i'll see you in the morning", "where are my keys", "george can carry the boxes", "it's going to rain in seattle",
    "nina forgot the umbrella", "the doctor is on the phone", "james will watch a movie tonight",
    "the report is ready", "kate left the keys in the car", "olivia drove to chicago on friday",
    "the children are waiting at the station", "we want to go to the park", "peter will send the tickets",
    "the market is closed on mondays",
]


def vocabulary(templates=TEMPLATES) -> list[str]:
    """Every word ``templates`` say (a large fixed sample of their sentences): the words a model trained on them
    knows, and the lexicon the default model is decoded over."""
    rng, words = random.Random("vocabulary"), set()
    for _ in range(30000):
        words.update(rng.choice(templates)(rng).split())
    return sorted(words)


def random_words(rng: random.Random, words: list[str], low: int = 3, high: int = 9) -> str:
    """A sequence of ``low`` to ``high`` words drawn from ``words``: speech made of known words in no known order."""
    return " ".join(rng.choice(words) for _ in range(rng.randint(low, high)))


def sentences(count: int, seed: int, exclude: set[str] = frozenset(), templates=TEMPLATES) -> list[str]:
    """``count`` distinct sentences from ``templates`` (functions of a ``random.Random``), none in ``exclude``."""
    rng = random.Random(seed)
    chosen: dict[str, None] = {}
    attempts = 0
    while len(chosen) < count:
        attempts += 1
        if attempts > count * 50:
            raise ValueError(f"cannot make {count} distinct sentences from the templates")
        text = rng.choice(templates)(rng)
        if text not in exclude:
            chosen.setdefault(text)
    return list(chosen)
