"""Which language to answer in, from one message and the conversation's current language.

Rules (DESIGN.md "Language"): Arabic script -> ar. One Latin word keeps the current language
unless it is plainly Arabizi ("mar7aba", "shukran"). Longer Latin text: our Arabizi lexicon and
digit-letter score first, a share of common English words second, langdetect last.
A conversation's first message has no current language to keep: `first_message_language` lets
short English ("hello", "yes", "help", "thanks", "ok?") start it in English.

langdetect is weak on short text and has no Arabizi profile: restricted to ar/en it calls all
Latin text English. Unrestricted, it calls English English and Arabizi Somali, Spanish or
Afrikaans, so it is consulted only for Latin text of three words or more that the lexicons
leave open, and "not English" then means Arabizi.
"""

from __future__ import annotations

import functools
import re

from bot.arabic import arabic_ratio, has_arabic, normalise

AR, EN = "ar", "en"
LANGUAGES = (AR, EN)  # the `language` slot's values, the case store's too
DEFAULT = AR

# Jordanian/Levantine words as they are spelled in Latin letters. Seeing two of them, or one
# with a digit-letter (3, 7, 2, 5 inside a word), is a strong Arabizi signal.
_ARABIZI_WORDS = frozenset(
    ["ana", "inta", "inti", "enta", "enti", "ento", "intu", "e7na", "i7na", "ihna", "hay", "hada", "hadi", "hek", "heik", "hik", "shu", "sho", "esh", "eish", "wein", "wen", "weyn", "lesh", "leish", "laish", "lei4", "kif", "keef", "kaif", "mish", "msh", "mesh", "bdi", "bade", "badi", "biddi", "bidi", "baddi", "3ndi", "3andi", "andi", "3nd", "3ala", "3al", "3a", "ma", "mafi", "mafeesh", "fi", "fe", "feh", "feeh", "ya", "yalla", "yallah", "wallah", "walla", "wallahi", "inshallah", "inshalla", "mashallah", "habibi", "7abibi", "zalameh", "zalame", "shukran", "shokran", "merci", "ahlan", "ahla", "marhaba", "mar7aba", "marhaban", "salam", "salamu", "alaikum", "3alaikum", "sabah", "saba7", "masa", "el", "il", "al", "b", "bel", "bil", "min", "mn", "men", "la2", "laa", "aywa", "aiwa", "ah", "akeed", "tamam", "mnee7", "mni7", "kteer", "ktir", "shakwa", "shakwe", "shakwaa", "talab", "talabi", "mo3amaleh", "mo3amale", "mu3amala", "mowazaf", "mwazaf", "muwazzaf", "baladiyeh", "baladieh", "baladiya", "ma2", "may", "mayy", "mai", "moya", "mayye", "kahraba", "kahrabaa", "dawleh", "7ukumeh", "hukumeh", "7kumeh", "ra2m", "raqam", "tarkhees", "terkhees", "jawaz", "hawiyeh", "hawiyye", "e2tira7", "iqtira7", "eqtira7", "2a3ref", "ba3ref", "a3ref", "bas", "hala2", "halla2", "hassa", "hessa", "lissa", "lessa", "sar", "sarat", "sarli", "sarelna", "9arli", "sarlo", "mawdoo3", "4ukran", "yslmo", "yislamo", "yeslamo", "yesalmo", "tislam", "kifak", "kifik", "kefak", "keefak", "kifkom", "kifkon", "mashi", "mashy", "emta", "imta", "amta", "bkhalas", "b5alas", "khalas", "5alas", "5alaas", "bas", "ba3d", "ba3den", "ba3dain", "hal2", "hela2", "lal2an", "ya3ni", "y3ni", "ma3", "m3", "ma3i", "m3i", "3indi", "3inna", "mneeh", "mnih", "7elo", "7ilo", "helo", "tayeb", "tayyeb", "tab", "inno", "enno", "2inno", "ya3teek", "ya3tik", "3afye", "3afyeh", "ra7", "ra7et", "bro7", "rohet", "wala", "wla", "ahh", "la2a", "lesa", "mesh", "mush", "sho2el", "shoghl", "shu9", "dawam", "dawra"]
)
_DIGIT_LETTER = re.compile(r"(?i)(?:[a-z][2357689]|[2357689][a-z])")
_WORD = re.compile(r"[A-Za-z0-9']+")
_LATIN = re.compile(r"[A-Za-z]")
# English words that make a short text clearly English even when it is short.
_EN_WORDS = frozenset(
    ["the", "a", "an", "i", "you", "we", "my", "your", "our", "is", "are", "was", "were", "have", "has", "had", "want", "would", "like", "please", "help", "it", "that", "this", "these", "those", "there", "here", "it's", "i'm", "don't", "can't", "isn't", "any", "some", "all", "every", "much", "many", "good", "morning", "evening", "afternoon", "night", "day", "today", "tomorrow", "yesterday", "week", "month", "time", "update", "cancel", "forget", "stop", "start", "again", "more", "less", "new", "old", "long", "why", "still", "yet", "already", "just", "only", "also", "and", "or", "but", "if", "then", "so", "because", "about", "for", "from", "with", "without", "into", "over", "under", "after", "before", "do", "does", "did", "done", "doing", "get", "got", "go", "going", "come", "came", "see", "know", "think", "say", "said", "tell", "ask", "answer", "ref", "reference", "number", "phone", "call", "message", "send", "sent", "received", "problem", "issue", "service", "office", "sorry", "sory", "understand", "dont", "didnt", "doesnt", "cant", "wont", "im", "ive", "thank", "pls", "plz", "u", "ur", "nothing", "everything", "someone", "anyone", "nobody", "really", "very", "too", "okay", "hello", "hey", "dear", "sir", "madam", "kindly", "need", "how", "what", "when", "where", "why", "who", "which", "can", "could", "should", "will", "not", "no", "yes", "thanks", "thank", "complaint", "complain", "suggestion", "suggest", "report", "status", "check", "rate", "request", "english", "arabic", "water", "electricity", "municipality", "employee", "department", "ministry", "license", "licence", "passport"]
)
# Texts both communities type; they never change the language on their own.
_AMBIGUOUS = frozenset(["ok", "okay", "k", "kk", "hi", "hii", "hello", "hey", "bye", "yes", "no", "lol", "thx", "👍"])


def arabizi_score(text: str) -> float:
    words = [w.lower() for w in _WORD.findall(text)]
    letters_words = [w for w in words if _LATIN.search(w)]
    if not letters_words:
        return 0.0
    hits = sum(1 for w in letters_words if w in _ARABIZI_WORDS or w.rstrip("hs") in _ARABIZI_WORDS)
    digit_letter = sum(1 for w in letters_words if _DIGIT_LETTER.search(w) and not w.isdigit())
    en_hits = sum(1 for w in letters_words if w in _EN_WORDS)
    return (hits + 1.5 * digit_letter - 0.8 * en_hits) / len(letters_words)


@functools.lru_cache(maxsize=1)
def _detector_factory():  # type: ignore[no-untyped-def]
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.seed = 0  # deterministic answers
    return factory


def _langdetect(text: str) -> list[tuple[str, float]]:
    """langdetect's languages for a text with their probabilities, likeliest first; empty when it
    finds nothing to go on. One pass serves every question asked of it below.

    It has no Arabizi profile, but it rarely calls Arabizi English (it says Somali, Spanish,
    Afrikaans...), so in Jordan "Latin and not English" means Arabizi.
    """
    try:
        detector = _detector_factory().create()
        detector.append(text)
        return [(p.lang, p.prob) for p in detector.get_probabilities()]
    except Exception:  # langdetect raises on text with no usable features
        return []


def _english(found: list[tuple[str, float]]) -> float:
    """The probability of English among langdetect's findings, over *all* its languages."""
    return next((prob for lang, prob in found if lang == "en"), 0.0)


def message_language(text: str | None, default: str = DEFAULT) -> str:
    """The language of a message the bot wrote: its script (every reply exists in both)."""
    if not text:
        return default
    return AR if has_arabic(text) else EN


# Words that name a language, as people say or type them when asking to switch. Arabic words
# match inside a word ("بالعربي", "الانجليزية"), Latin ones as whole words. The first two Arabic
# words are also the IVR's speech hints for its language menu.
LANGUAGE_WORDS: dict[str, tuple[str, ...]] = {
    AR: ("عربي", "عربيه", "arabic", "arabi", "araby", "3arabi", "3araby"),
    EN: ("english", "انجليزي", "انكليزي", "انقليزي", "englizi", "engleezi", "inglizi", "ingilizi", "inglish", "englizh"),
}
_LANGUAGE_STEMS = {lang: tuple(normalise(w) for w in words) for lang, words in LANGUAGE_WORDS.items()}


def requested_language(text: str) -> str | None:
    """The language a person names ("بدي انجليزي", "arabic please"), or None when they name
    none or both ("from Arabic to English": the caller decides, e.g. by switching)."""
    norm = normalise(text)
    tokens = set(_WORD.findall(norm))
    named = {
        lang
        for lang, stems in _LANGUAGE_STEMS.items()
        if any((stem in norm) if has_arabic(stem) else (stem in tokens) for stem in stems)
    }
    return named.pop() if len(named) == 1 else None


def detect(text: str, current: str | None = None) -> str | None:
    """The language to answer in, or `current` (possibly None) when the text does not say."""
    stripped = text.strip()
    if not stripped:
        return current
    if arabic_ratio(stripped) >= 0.3:
        return AR
    words = [w.lower() for w in _WORD.findall(stripped) if _LATIN.search(w)]
    if not words:
        return current  # digits, emoji, punctuation
    if len(words) == 1:
        # One Latin word ("ok", "thanks", "cancel", "marhaba") is typed by both communities; only
        # a digit-letter ("mar7aba", "3afak") is Arabizi beyond doubt.
        w = words[0]
        return AR if (_DIGIT_LETTER.search(w) and not w.isdigit()) or w in _ARABIZI_WORDS else current
    if all(w in _AMBIGUOUS for w in words):
        return current
    score = arabizi_score(stripped)
    en_words = sum(1 for w in words if w in _EN_WORDS)
    if score >= 0.34:
        return AR
    if len(words) == 2:
        if en_words:
            return EN
        return AR if score > 0 else current
    if en_words / len(words) >= 0.5 or (score <= 0 and en_words / len(words) >= 0.25):
        return EN
    found = _langdetect(stripped)
    if _english(found) >= 0.5:
        return EN
    # English made of Latinate words ("Question about social security unemployment insurance")
    # reads as French or Italian to langdetect; nobody writes those to this service, and Arabizi
    # has Arabizi words or digit-letters, which this text has none of.
    if score <= 0 and en_words and found and found[0][0] in _EUROPEAN:
        return EN
    return AR


# Languages langdetect names for English of long Latinate words; never for Arabizi, which it
# calls Somali, Indonesian, Spanish or Afrikaans (measured on tests/nlu/language_*.yml).
_EUROPEAN = frozenset({"fr", "it", "pt", "ro", "ca", "de", "nl", "da", "no", "sv"})


def first_message_language(text: str) -> str | None:
    """The language of a conversation's first message, or None when it does not say.

    `detect` keeps the current language on short Latin text, but the first message has none to
    keep: "hello", "yes", "no", "help", "bye", "thanks", "ok?" then mean English, while Arabizi
    ("salam", "marhaba", "shukran", "la2", "ahlan") still means Arabic (`detect` says so first).
    Digits, emoji and words of neither list stay undecided (the caller's default).
    """
    detected = detect(text, None)
    if detected:
        return detected
    words = [w.lower() for w in _WORD.findall(text) if _LATIN.search(w)]
    if words and all((w in _EN_WORDS or w in _AMBIGUOUS) and w not in _ARABIZI_WORDS for w in words):
        return EN
    return None
