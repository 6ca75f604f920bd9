"""What a caller's speech means at a menu: agent, yes/no, digits said aloud, a button title.

Matching is on `bot.arabic.normalise`d words, and only short utterances count as a choice, so
a sentence that happens to contain "no" still goes to NLU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot import choices
from bot.arabic import normalise
from channels.twilio_voice.turn import Turn

AGENT_WORDS = {
    "ar": ("موظف", "الموظف", "خدمة العملاء", "مندوب", "شخص"),
    "en": ("agent", "operator", "representative", "human", "person"),
}
# Yes and no are bot.choices' words (the one home, shared with the typed channels); spoken, a bare
# "not ..." / "مش ..." at a yes/no question is a no as well.
YES_WORDS = choices.YES.phrases
NO_WORDS = choices.NO.phrases + ("مش", "not")
DIGIT_WORDS = {
    "0": ("صفر", "zero"), "1": ("واحد", "one"), "2": ("اثنين", "اتنين", "two"), "3": ("ثلاثه", "تلاته", "three"),
    "4": ("اربعه", "four"), "5": ("خمسه", "five"), "6": ("سته", "six"), "7": ("سبعه", "seven"),
    "8": ("ثمانيه", "تمانيه", "eight"), "9": ("تسعه", "nine"),
}


def _words(text: str) -> set[str]:
    return set(normalise(text).replace(".", " ").replace(",", " ").split())


def says_any(text: str, words: Sequence[str]) -> bool:
    norm = normalise(text)
    tokens = _words(text)
    return any((normalise(w) in tokens) if " " not in w else (normalise(w) in norm) for w in words)


def is_short(text: str) -> bool:
    return len(text.split()) <= 4


def match_option(speech: str, turn: Turn, options: Mapping[str, str]) -> str | None:
    """A spoken choice: a button title, or a digit said aloud."""
    norm = normalise(speech)
    for b in turn.numbered:
        title = normalise(str(b.get("title", "")))
        if title and (title == norm or (is_short(speech) and (title in norm or norm in title))):
            return str(b.get("payload", ""))
    if is_short(speech):
        for digit, words in DIGIT_WORDS.items():
            if digit in options and (says_any(speech, words) or norm == digit):
                return options[digit]
    return None
