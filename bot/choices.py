"""A typed answer to a question the bot offered choices for: which choice it names.

People rarely press the button. They type its label ("delivery time", "مدة إنجاز الخدمة"),
a word of their own for it ("delays", "التأخير", "ta25eer"), its number ("2", "٢") or a plain
"no" ("la2", "مش ضروري", "skip"). This is the one home of that matching: the forms, the summary
and the offers outside a form (reopen, rate) all ask it, each with the options it offered.

Matching is on `bot.arabic.normalise`d words with the Arabic article and its joined prepositions
("ال", "بال", "وال", "لل") set aside, so "بالتأخير" names "تأخير". A phrase counts only as whole
words, so "no" is not found in "number". When words of two options are found the longer phrase
wins; a tie is no answer (ask again rather than guess). A mention right after a negation
("not a complaint", "mish shakwa", "مش شكوى") does not count as choosing it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot import request_rules
from bot.arabic import fold_digits, normalise

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
# The article and the prepositions written joined to it; kept only when 2+ letters remain.
_PREFIXES = ("وبال", "وال", "بال", "فال", "كال", "لل", "ال")
NEGATIONS = frozenset(normalise(w) for w in (
    "not", "no", "isn't", "isnt", "never", "mish", "msh", "mesh", "mush", "mu", "mo", "mosh",
    "مش", "ومش", "مو", "ليس", "وليس", "ليست", "وليست", "ليسا", "لا", "ولا", "مب", "موب", "لم", "ولم", "لن",
    "dont", "didnt", "wasnt", "hasnt", "havent",
))
# Negations that are also a whole answer ("no, ..."): they deny only the word right after them.
_ANSWER_NO = frozenset(normalise(w) for w in ("no", "لا"))
# Words that may sit between a negation and what it negates ("not a complaint", "مش عن الشكوى").
_FILLER = frozenset(normalise(w) for w in ("a", "an", "the", "about", "it", "its", "it's", "this", "عن", "هاي", "هذه", "هذا", "هاد", "3an"))


def _stem(token: str) -> str:
    for prefix in _PREFIXES:
        if token.startswith(prefix) and len(token) - len(prefix) >= 2:
            return token[len(prefix):]
    return token


def words(text: str) -> list[str]:
    """The matching form of a text: normalised, punctuation dropped, article set aside."""
    return [_stem(t) for t in _PUNCT.sub(" ", normalise(text).replace("'", "").replace("\u2019", "")).split()]


@dataclass(frozen=True)
class Option:
    """One offered choice: its key (a payload value) and every way of saying it."""

    key: str
    phrases: tuple[str, ...]

    def forms(self) -> tuple[tuple[str, ...], ...]:
        return _forms(self.phrases)


@functools.lru_cache(maxsize=1024)
def _forms(phrases: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The matching forms of an option's phrases, worked out once: the vocabularies are fixed, and
    normalising every phrase of every option on every answer was a sixth of the action server's
    busy time under load (issue 14)."""
    return tuple(tuple(w) for w in (words(p) for p in phrases) if w)


def option(key: str, *phrases: str) -> Option:
    return Option(key, tuple(phrases))


# Pronouns written joined to the end of an Arabic word ("افتحه", "أعيدوا فتحها"): the word still counts.
_SUFFIXES = ("ه", "ها", "هم", "هن", "ي", "نا", "كم", "ك")


def _same(token: str, word: str) -> bool:
    if token == word:
        return True
    return (len(word) >= 3 and token.startswith(word) and token[len(word):] in _SUFFIXES
            and not word.isascii())


def _find(seq: list[str], sub: Sequence[str]) -> list[int]:
    n = len(sub)
    return [i for i in range(len(seq) - n + 1) if all(_same(t, w) for t, w in zip(seq[i:i + n], sub))]


def _negated(tokens: list[str], start: int, opt: Option | None = None) -> bool:
    i = start - 1
    while i >= 0 and tokens[i] in _FILLER:
        i -= 1
    if i < 0 or tokens[i] not in NEGATIONS:
        return False
    if opt is not None and (tokens[i],) in opt.forms():
        return False  # "لا، ما بدي" / "no, not needed": a no before a no says no twice
    # "No" and "لا" answer the question when words stand between them and the choice: "no, it's a
    # complaint" and "لا هذا ثناء" name the choice; "no complaint" and "not a complaint" deny it.
    return i == start - 1 or tokens[i] not in _ANSWER_NO


def mentions(text: str, options: Iterable[Option]) -> list[tuple[str, int, bool]]:
    """(key, length of the longest phrase found, negated) for each option the text mentions."""
    tokens = words(text)
    found: list[tuple[str, int, bool]] = []
    for opt in options:
        best, negated = 0, False
        for form in opt.forms():
            for start in _find(tokens, form):
                if len(form) > best or (len(form) == best and negated):
                    best, negated = len(form), _negated(tokens, start, opt) and form[0] not in NEGATIONS
        if best:
            found.append((opt.key, best, negated))
    return found


_CHOICE = re.compile(r"^\s*[(\[]?\s*([0-9]{1,2})\s*[)\].\-:]?\s*$")


def parse_choice(text: str | None) -> int | None:
    """"2", " ٢ ", "2.", "(2)" -> 2; anything else (words, references, "12345") -> None.

    The one reading of a menu choice typed as its number, for every channel and the actions."""
    if not text:
        return None
    m = _CHOICE.match(fold_digits(text).replace("\u200f", "").replace("\u200e", ""))
    return int(m.group(1)) if m else None


def number(text: str, count: int) -> int | None:
    """The 1-based position a bare number picks from `count` listed choices, if any."""
    picked = parse_choice(text)
    return picked if picked is not None and 1 <= picked <= count else None


def pick(text: str, options: Sequence[Option], *, numbered: bool = True) -> str | None:
    """The key of the one option a typed answer names, or None (nothing named, or a tie).

    `numbered`: the options were shown in this order as a numbered list (SMS, voice), so a bare
    number picks one.
    """
    if numbered:
        n = number(text, len(options))
        if n is not None:
            return options[n - 1].key
    chosen = [(key, size) for key, size, negated in mentions(text, options) if not negated]
    if not chosen:
        return None
    longest = max(size for _, size in chosen)
    best = [key for key, size in chosen if size == longest]
    return best[0] if len(best) == 1 else None


def is_short(text: str, limit: int = 5) -> bool:
    """Short enough to be an answer to a choice rather than a message of its own."""
    return len(words(text)) <= limit


# --- the answers every question shares ---------------------------------------------------------
YES = option(
    "yes",
    "yes", "yeah", "yep", "yup", "sure", "ok", "okay", "correct", "right", "of course", "go ahead", "send", "send it",
    "confirm", "please do", "that's right", "yes please",
    "نعم", "اي", "ايوه", "ايوا", "اه", "أكيد", "اكيد", "تمام", "موافق", "صحيح", "طيب", "ماشي", "أرسل", "ارسل", "ارسله",
    "ابعث", "ابعته", "ابعثه", "أكد", "نعم من فضلك", "بالتأكيد",
    "aywa", "aiwa", "ah", "na3am", "akeed", "tamam", "mashi", "mashy", "sa7", "tayeb", "ib3ath", "ib3atha", "ersel", "irsal",
)
# "No" at an optional question: no thanks, skip, without, not needed, I don't want to.
NO = option(
    "no",
    "no", "nope", "nah", "no thanks", "no thank you", "skip", "skip it", "none", "nothing", "not needed", "no need",
    "not necessary", "without", "i don't want", "i dont want", "rather not", "i'd rather not", "pass", "no number",
    "no phone", "without a number", "no comment", "no comments", "leave it", "stay anonymous", "anonymous",
    "لا", "كلا", "لا شكرا", "لا شكراً", "لأ", "بدون", "بلاش", "مش ضروري", "مو ضروري", "غير ضروري", "ليس ضروريا",
    "لا داعي", "لا حاجه", "ما في داعي", "مافي داعي", "ما بدي", "مابدي", "ما بدنا", "لا أريد", "لا اريد", "لا أرغب",
    "لا ارغب", "تخطي", "تخطى", "تجاوز", "بدون رقم", "بلا رقم", "لا يوجد", "ما في", "مافي", "ما عندي", "خليها",
    "سري", "بدون ملاحظه", "لا ملاحظات", "مش لازم", "مو لازم", "لا يلزم", "ليس لازما",
    "la", "la2", "laa", "la2a", "la shukran", "la2 shukran", "bala", "balash", "bdoon", "bedoon", "bidoon", "mish daroori",
    "mesh daroori", "msh daroori", "mish darori", "mesh darori", "ma bdi", "mabdi", "ma badi", "ma biddi", "mafi",
    "ma fi", "ma 3ndi", "bdun", "mish lazem", "msh lazem", "mesh lazem", "mish lazim",
    # "I don't have it (on me)": the reference, the PIN, a number
    "i don't have it", "i dont have it", "don't have it", "dont have it", "i don't have", "i dont have",
    "ما معي", "مش معي", "مو معي", "ليس معي", "لا يوجد معي", "ما عندي اياه", "ma m3i", "ma ma3i", "mish m3i", "mish ma3i",
    "msh ma3i", "mesh ma3i",
    # "I'd prefer not to", said politely: "أفضّل عدم ترك رقم", "prefer not to give it", "بلاش أحسن"
    "prefer not", "i prefer not", "id prefer not", "would prefer not", "rather not say", "not comfortable",
    "keep it private", "افضل عدم", "افضل الا", "اود عدم", "لا اود", "لا احب", "ما بحب", "ما بفضل", "عدم ترك", "عدم ذكر",
    "عدم اعطاء", "بلاش احسن", "bfaddel la", "bfadel la", "ma b7eb", "ma bfaddel",
)


def says_yes(text: str, limit: int = 5) -> bool:
    """A short answer that is a plain yes (and not also a no: "no, yes" asks again)."""
    return is_short(text, limit) and pick(text, [YES, NO], numbered=False) == "yes"


def says_no(text: str, limit: int = 5) -> bool:
    """A short answer that is a plain no / skip / not needed, in any variety. `limit`: how many
    words still make an answer (a question that only takes a number or no can allow more)."""
    return is_short(text, limit) and pick(text, [YES, NO], numbered=False) == "no"


# A thank-you and nothing else ("shukran", "thanks a lot", "شكراً جزيلاً", "يعطيكم العافية"): a
# polite close, not a compliment to file (the NLU hears a compliment in it) nor a type to ask.
_THANKS_WORDS = frozenset(words(" ".join((
    "thanks thank thx ty you very much so lot a guys all merci ok okay great cheers appreciated",
    "شكرا شكراً شكرًا جزيلا جزيلاً كثير كتير مشكور مشكورين مشكورة يسلمو يسلموا تسلم تسلمو تسلموا الله يعطيكم يعطيك",
    "العافيه العافية ما قصرتوا قصرتو كل الشكر اشكركم أشكركم ممنون ممنونين طيب تمام اوك",
    "shukran shokran shukr shokr ktir kteer jazeelan jazilan mashkoor mashkoorin mashkurin yislamo yeslamo yislamu",
    "tislam teslam tislamo teslamo allah ya3tikom ya3tik ya3teekom el 3afyeh 3afyeh 3afye ma 2assartu ma2assartu tamam",
))))

# Words that go with thanks but are no thanks alone ("ok", "great", "الله").
_THANKS_FILLER = frozenset(words("ok okay a you so all very much lot great guys طيب تمام اوك tamam ما ma كل الله allah el"))


def is_bare_thanks(text: str) -> bool:
    """A short message of thanks with nothing more in it (no body, no story)."""
    found = words(text)
    return 0 < len(found) <= 6 and all(w in _THANKS_WORDS for w in found) and any(
        w not in _THANKS_FILLER for w in found)


def names_nothing(text: str) -> bool:
    """A bare yes, no or thanks ("لا", "ok", "shukran"): no name of a sector or a body to search."""
    return says_no(text, 3) or says_yes(text, 3) or is_bare_thanks(text)


# The next page of a list sent a page at a time (SMS, channels/twilio_sms.py): "0" or these words.
_MORE_WORDS = frozenset(" ".join(words(w)) for w in (
    "more", "next", "more please", "المزيد", "مزيد", "التالي", "كمان", "غيرهم", "el mazeed", "almazeed", "kaman"))


def asks_for_more(text: str | None) -> bool:
    """"0", "٠", "more", "المزيد": the next page of a paged list."""
    return parse_choice(text) == 0 or (bool(text) and " ".join(words(text or "")) in _MORE_WORDS)


# "Cancel" typed at a question of a form, whatever the NLU heard in it ("please cancel the complaint").
CANCEL = option(
    "cancel",
    "cancel", "cancel it", "cancel this", "cancel the request", "cancel my request", "cancel the complaint",
    "cancel my complaint", "cancel everything", "stop", "stop it", "stop this", "forget it", "never mind", "nevermind",
    "i changed my mind", "dont send it", "dont send anything",
    "الغاء", "الغي", "الغيه", "الغيها", "الغ الطلب", "الغاء الطلب", "الغاء الشكوى", "الغي الطلب", "الغي الشكوى", "الغوا",
    "الغوه", "الغوها", "بطلت", "بطلنا", "خلص بطلت", "انسى الموضوع", "انسى الطلب", "توقف", "لا ترسل", "لا ترسله",
    "ما ترسل", "لا ترسلوا", "لا ترسلوه", "ما ترسلوا", "لا تبعث", "لا تبعثوا", "عدلت عن", "غيرت رايي", "تراجعت",
    "ilghi", "elghi", "ilgha2", "elgha2", "ilghaa2", "elghe", "batalt", "battalt", "5alas battalt", "khalas batalt",
    "ensa", "insa el mawdoo3", "la tersel", "la tib3ath", "ma tib3ath",
)


def says_cancel(text: str) -> bool:
    """A message of a sentence that asks to cancel ("please cancel the complaint, I'll go there
    myself", "ألغِ الطلب", "battalt"), not "don't cancel it"."""
    return is_short(text, 20) and any(not negated for _, _, negated in mentions(text, [CANCEL]))


# --- "Was your problem solved?" (the rating's second question) -------------------------------------
RESOLVED = [
    option("yes", "solved", "resolved", "fixed", "it was solved", "it was fixed", "sorted", "sorted out", "done",
           "انحلت", "اتحلت", "تحلت", "حلوها", "انحلت المشكله", "تم الحل", "تم حلها", "حلت", "حلت المشكله", "اتصلحت",
           "n7allat", "in7allat", "et7allat", "7alloha", "7aloha", "it7allat"),
    option("no", "not solved", "not resolved", "not fixed", "unsolved", "unresolved", "still not", "still waiting",
           "still the same", "nothing changed", "لم تحل", "لم تحل المشكله", "لم يتم الحل", "لم يتم حلها", "لم تنحل",
           "ما انحلت", "ما اتحلت", "ما تحلت", "ما حلوها", "ما انحلت المشكله", "لسا", "لسه", "لسى", "لا زالت", "ما زالت",
           "مش محلوله", "ما تغير شي", "لم يتغير شيء", "ma n7allat", "ma et7allat", "ma 7alloha", "lessa", "lesa", "lissa",
           "mish ma7loole", "ma t8ayar shi", "ma tghayar shi"),
]


def says_resolved(text: str) -> str | None:
    """"yes" / "no" for a typed answer to "Was it solved?": in words ("لم تُحل المشكلة", "still
    waiting", "in7allat") or a plain yes / no."""
    if not is_short(text, 8):
        return None
    picked = pick(text, RESOLVED, numbered=False)
    if picked:
        return picked
    return "yes" if says_yes(text) else "no" if says_no(text) else None


# --- the complaint's importance ("Is it urgent?": 1 normal, 2 urgent, as the buttons) -------------
IMPORTANCE = [
    option("normal", "normal", "not urgent", "regular", "no rush", "no hurry", "it can wait", "routine",
           "عادي", "عاديه", "مش مستعجل", "مش مستعجله", "غير مستعجل", "غير عاجل", "ليس عاجلا", "ليس مستعجلا",
           "مو مستعجل", "بيستنى", "3adi", "3adiyeh", "mish mista3jel", "mish mist3jel", "msh mist3jel", "mish urgent",
           # "not (very) important": the question is about urgency, and people answer it so
           "not important", "not very important", "not that important", "not very urgent", "not that urgent",
           "مش مهم", "مش كثير مهم", "مش كتير مهم", "مو مهم", "غير مهم", "ليس مهما", "ليس مهماً", "ليس بالأمر العاجل",
           "mish mohem", "mish mohim", "mish muhim", "msh mohem", "mish kteer mohem", "mish ktir mohem",
           "mish kteer mista3jel", "mish ktir mista3jel"),
    option("urgent", "urgent", "very urgent", "asap", "emergency", "it's urgent", "right away", "immediately",
           "مستعجل", "مستعجله", "عاجل", "عاجله", "طارئ", "طارئه", "ضروري جدا", "مستعجل كثير", "بسرعه",
           "mista3jel", "mist3jel", "musta3jal", "3ajel", "3ajil", "tare2", "dar0ori", "bsor3a"),
]

# --- the summary and its corrections ---------------------------------------------------------------
# The request types a person can switch between at the summary. A report is left out on purpose:
# its confidentiality starts with the message that opened it (bot.confidential), so a report is
# begun as one, never converted into or out of one.
TYPES = [
    option("inquiry", "question", "inquiry", "enquiry", "a question to the government", "query",
           "سؤال", "استفسار", "سؤال للحكومة", "استعلام", "so2al", "su2al", "sou2al", "estefsar", "istifsar"),
    option("suggestion", "suggestion", "idea", "proposal", "recommendation",
           "اقتراح", "مقترح", "فكره", "e2tira7", "iqtira7", "eqtira7", "e2tera7", "mo2tara7", "fekra"),
    # Not "thanks" or "شكرا" alone: "no thanks" at the summary is not a compliment.
    option("compliment", "compliment", "a thank you", "thank you note", "praise", "appreciation",
           "ثناء", "شكر وتقدير", "رساله شكر", "مدح", "اشاده", "thana2", "thana", "madi7"),
    option("complaint", "complaint", "complain", "grievance",
           "شكوى", "شكوه", "تظلم", "shakwa", "shakwe", "shakweh", "shakwaa"),
]
# The opening's type, asked when the NLU cannot tell (actions/requests.py ask_type): every type by
# the intent that starts it, so a typed answer is that type's button. A report can be chosen here,
# before anything else was asked: its confidentiality starts with the opening (bot.confidential).
OPENING_TYPES = [option(request_rules.TYPE_TO_INTENT[o.key], *o.phrases) for o in TYPES] + [
    option("report_violation", "report", "a report", "report a violation", "violation", "a violation",
           "confidential report", "بلاغ", "ابلاغ", "إبلاغ عن مخالفة", "مخالفه", "بلاغ سري", "بلاغ عن مخالفه",
           "balagh", "iblagh", "eblagh", "ablegh", "mo5alafa", "mokhalafa", "mu5alafa", "mukhalafa"),
    option("report_human_rights", "human rights", "a human rights grievance", "حقوق الانسان", "حقوق انسان",
           "7o2oo2 el ensan", "7u2u2 el insan", "7o2o2 el insan", "huquq al insan", "7u2oo2 el ensan"),
]
# What each field of the summary is called, so "change the phone" / "غير الوصف" goes straight to it.
FIELDS = [
    option("entity_id", "entity", "government body", "the body", "body", "department", "ministry", "agency",
           "institution", "who it goes to", "الجهة", "جهة", "الجهه الحكوميه", "الوزارة", "الدائرة", "المؤسسة",
           "jiha", "jiheh", "el jiha", "el jiheh", "wazara", "da2ira"),
    option("pillar", "topic", "pillar", "subject", "category", "what it is about", "المحور", "الموضوع", "التصنيف",
           "نوع المشكله", "mawdoo3", "mawdu3", "el mawdoo3", "mi7war", "ma7war"),
    option("importance", "importance", "urgency", "priority", "urgent", "الأهمية", "الاستعجال", "الأولوية", "مستعجل",
           "ahamiyeh", "ahammiyeh", "isti3jal", "mista3jel"),
    option("description", "details", "description", "text", "message", "what i wrote", "the story", "my words",
           "التفاصيل", "الوصف", "النص", "الرساله", "الكلام", "الشرح", "tafaseel", "tafasil", "el wasf", "wasf",
           "el kalam"),
    option("contact_phone", "phone", "number", "phone number", "mobile", "mobile number", "telephone", "my number",
           "contact", "رقم الهاتف", "الرقم", "الهاتف", "رقمي", "التلفون", "التليفون", "الموبايل", "الجوال", "الخلوي",
           "ra2m", "ra2mi", "el ra2m", "raqam", "telefon", "mobile", "talafon", "jawwal"),
    option("request_type", "type", "the type", "request type", "type of request", "kind", "category of request",
           "النوع", "نوع الطلب", "نوع", "صنف الطلب", "el no3", "no3", "naw3"),
]
# Words that make a mention of a field a correction rather than a passing word ("yes, the number is fine").
CHANGE_WORDS = option(
    "change",
    "change", "edit", "fix", "correct", "update", "modify", "replace", "wrong", "not right", "is wrong", "mistake",
    "switch", "different", "another", "make it", "turn it into", "it's a", "its a", "it is a", "this is a", "rather",
    "actually", "i meant", "meant", "should be", "supposed to be", "instead", "rewrite", "re-write", "redo",
    "write it again", "add", "add something", "اعيد كتابه", "اعيد صياغه", "اكتب من جديد", "اضيف", "بدي اضيف", "a3eed", "adeef",
    "غير", "غيري", "تغيير", "عدل", "تعديل", "بدل", "تبديل", "صحح", "تصحيح", "غلط", "خطأ", "خطا", "مش صحيح",
    "اغير", "نغير", "بغير", "اعدل", "نعدل", "بعدل", "ابدل", "نبدل", "اصحح", "نصحح", "عدلوا", "غيروا", "بدلوا",
    "ليس صحيحا", "بدي اغير", "اريد تغيير", "اريد تعديل", "ثاني", "اخر", "حوله", "حولها", "اجعله",
    "بل", "وانما", "قصدي", "كان قصدي", "اقصد", "المقصود", "بالاصح", "بدلا",
    "ghayyer", "ghayer", "ghayir", "3adel", "3addel", "baddel", "badel", "sa77e7", "galat", "ghalat", "5ata2", "ta3deel",
    "taghyeer", "7awel", "7awelha", "bal", "2asdi", "asdi", "qasdi",
)


def says_change(text: str) -> bool:
    return bool(mentions(text, [CHANGE_WORDS]))


# "Nothing to change": a change word that asks for none ("no changes, send it", "ما بدي أغيّر شي").
NO_CHANGE = option(
    "keep",
    "nothing to change", "no changes", "no change", "change nothing", "dont change", "dont change anything",
    "dont want to change", "no need to change", "all good", "all correct", "everything is correct",
    "ما بدي اغير", "ما بدي اغير شي", "لا اريد تغيير", "لا اريد التعديل", "لا تغيير", "بدون تعديل", "بدون تغيير",
    "لا داعي للتعديل", "كله صحيح", "كل شي صحيح", "ma bdi ghayer", "ma bdi 3adel", "kollo sa7", "kolo sa7",
)


def wants_a_change(text: str) -> bool:
    """At the summary: a sentence asking to change something without naming it ("no, I need to
    change something", "بدي أعدّل شغلة"), not a yes and not "nothing to change"."""
    if not is_short(text, 10) or not says_change(text) or mentions(text, [NO_CHANGE]):
        return False
    return not any(key == "yes" and not negated for key, _, negated in mentions(text, [YES]))


def asks_to_edit(text: str) -> bool:
    """The answer to the summary ("shall we send it?") asks to change something: a no ("لا، في
    خطأ", "no, wait") or a sentence asking for a change, never "nothing to change" ("no changes,
    send it")."""
    return (says_no(text, limit=10) and not mentions(text, [NO_CHANGE])) or wants_a_change(text)


# --- offers outside a form, by the intent of the button's payload --------------------------------
OFFERS: dict[str, tuple[str, ...]] = {
    "reopen": ("reopen", "reopen it", "reopen the request", "reopen request", "open it again", "open again",
               "re-open", "اعاده فتح", "اعد فتح", "اعيدوا فتح", "افتحوه", "افتحه من جديد", "فتح الطلب من جديد",
               "رجعوا فتحوه", "e3adet fat7", "e3ado fat7o", "e3ado fat7", "e3edo fat7", "rja3o fat7o", "eftaho", "efta7o",
               "ifta7 el talab", "efta7 el talab"),
    "rate_request": ("rate", "rate it", "rating", "rate the answer", "evaluate", "تقييم", "قيم", "اقيم", "بقيم",
                     "قيّم الرد", "ta2yeem", "taqyeem", "a2ayem", "2ayyem"),
    "deny": NO.phrases,
    "affirm": YES.phrases,
    # The request types (the menus and the opening's type question): "shakwa", "a question".
    **{o.key: o.phrases for o in OPENING_TYPES},
}

# --- a rating typed in words (digits are read by the rating form itself) -------------------------
SCORES = [
    option("1", "one", "واحد", "وحده", "wa7ad", "wahad", "one star"),
    option("2", "two", "اثنين", "اتنين", "ثنتين", "tnen", "itnen", "ethnein", "two stars"),
    option("3", "three", "ثلاثه", "تلاته", "tlateh", "thalatheh", "three stars"),
    option("4", "four", "اربعه", "arba3a", "arba3ah", "four stars"),
    option("5", "five", "خمسه", "khamseh", "5amseh", "khamsa", "five stars", "excellent", "ممتاز", "mumtaz", "momtaz"),
]
_OUT_OF_FIVE = re.compile(r"(?:/|\bout of\b|\bof\b|(?<!\w)من)\s*(?:5|five|خمسه|خمسة)(?!\w)")
_LONE_SCORE = re.compile(r"(?<![\w.])([1-5])(?![\w.]|\.\d)")


def score(text: str) -> str | None:
    """A rating from 1 to 5 typed as a digit standing alone ("4", "4/5", "I'd say 4", "٤") or in
    words ("four out of five", "ثلاثة من خمسة", "arba3a"); never a digit inside an Arabizi word."""
    text = _OUT_OF_FIVE.sub(" ", fold_digits(text).lower())
    alone = _LONE_SCORE.search(text)
    return alone.group(1) if alone else pick(text, SCORES, numbered=False)
