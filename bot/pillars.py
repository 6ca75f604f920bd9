"""Which pillar a complaint is about, from what the person said, or from their answer.

The pillar decides the SLA, so it is guessed only when the text is clear: DIET tags the words
that reveal a pillar ("صرخ علي", "full of potholes"), and a lexicon of stems (matched at the
start of a word on bot.arabic.normalise'd text) reads the whole message. When they point to
one pillar, that is the guess; when they point to two ("the rubbish has not been collected for
two weeks": the service, or the delay?) or none, the form asks. At the pillar question the
answer is first matched against the offered choices themselves (`OPTIONS`, bot.choices): the
label the bot shows in either language, its button title, a synonym or its number.
"""

from __future__ import annotations

import re

from bot.arabic import normalise
from bot.choices import Option, mentions, option, pick
from bot.request_rules import PILLARS

# The lexicon follows the annotation guide of nlu_data/ (its pillar spans): an outage or a shortage
# of a utility is the service's quality ("انقطعت المياه", "no water", "الدوا مقطوع"), not
# infrastructure; the utility's name is what the complaint is about, never its pillar. Words that
# say nothing on their own stay out, so a text with only them is asked: a bare duration ("for two
# weeks": the delay, or a service out that long?), a thing "broken" (a road, or a website?), "bad",
# a bill (its amount, or how it was estimated?), a turn ("دور": a queue, a floor, a water rota). A stem matches at the start of a word; one ending
# in "$" only as the whole word ("رصيف$": not the start of Russeifa, الرصيفة; "app$": not "appointment").
_STEMS: list[tuple[str, tuple[str, ...]]] = [
    ("employee_behaviour", (
        "صرخ", "صرخت", "زعق", "مسب", "سب ", "شتم", "اهان", "اهانه", "ما احترم", "قليل ادب", "وقح", "تعامل", "بهدل",
        "عصب", "طردني", "طردوني", "طردونا", "طردوا", "تنمر", "استهزا", "مزاج", "ما رد علي", "تجاهل",
        "sar5", "sara5", "srakh", "zaa2", "za3a2", "shatam", "ahan", "ma e7taram", "m7taram", "t3amol", "ta3amol", "tarad",
        "rude", "shout", "yell", "insult", "disrespect", "ignored me", "attitude", "treated me", "behaviour", "behavior",
    )),
    ("delivery_time", (
        "تاخير", "تأخير", "متاخر", "بستنى", "مستني", "انتظار", "ننتظر", "انتظر", "لليوم", "لهلا", "لسا ما", "ما خلص",
        "بطيء", "بطء", "طوابير",
        # Modern Standard Arabic for "not yet / to this day", as the dialect's لسا ما، لهلا، لليوم above.
        "حتى الان", "الى الان", "لغايه الان", "حتى اليوم", "لغايه اليوم", "لغايه هلا",
        "bastanna", "mistanni", "mstanni", "ta25eer", "t25eer", "m2a55ar", "lessa", "lissa",
        "delay", "late$", "waiting", "wait", "still not", "slow", "queue", "until now", "to this day", "so far",
    )),
    ("infrastructure", (
        "حفر", "حفره", "شارع", "طريق", "انارة", "اناره", "اضاءه", "مجاري", "صرف صحي", "مناهل", "رصيف$", "ارصفه", "جسر",
        "تسريب", "بنيه", "مبنى", "مكيف", "مصعد",
        "7ofar", "7ofra", "shari3", "share3", "tari2", "enara", "majari",
        "pothole", "road", "street", "lights", "sewage", "pavement", "bridge", "leak", "building", "elevator",
    )),
    ("procedures", (
        "اوراق", "ورقه", "ورق", "معامله", "معاملات", "اجراء", "اجراءات", "روتين", "توقيع", "تواقيع", "مراجعه", "شروط",
        "رسوم", "نموذج", "طلبوا", "بطلبوا", "اكثر من مره", "كل مره",
        "awra2", "wara2a", "mo3amaleh", "mu3amala", "ejra2at", "roteen", "tawa2ee3",
        "paper", "document", "procedure", "process", "signature", "bureaucra", "form$", "forms$", "fees", "requirements",
        "every time", "again and again",
    )),
    ("service_quality", (
        "خدمه", "سيئ", "سيء", "زباله", "نظافه", "وسخ", "موقع", "تطبيق", "النظام", "السستم", "ما بشتغل", "جوده", "رديء",
        "انقطاع", "انقطع", "مقطوع", "بتقطع", "بيقطع", "بدون مي", "ما في مي", "ما فيه مي",
        "5edmeh", "5idmeh", "say2", "zbaleh", "nadafeh", "maw2e3", "tatbee2", "system", "bishtaghel",
        "ma2tou3", "ma2too3", "maqtoo3", "ta2ti3", "bt2ta3",
        "service", "quality", "dirty", "website", "app$", "apps$", "not working", "garbage", "rubbish",
        "outage", "power cut", "cut off", "no water", "no electricity", "no power",
    )),
]
# A duration says how long, not what went wrong ("no water for a week" is the service's quality,
# "applied two months ago, no answer" the delay): it never makes a guess, but with another pillar's
# word it makes the text unclear, so "the rubbish hasn't been collected for two weeks" is asked.
_WEAK: list[tuple[str, tuple[str, ...]]] = [
    ("delivery_time", (
        "صرلي", "صرلنا", "صار لي", "صار لنا", "من يوم", "من شهر", "من اسبوع", "من سنه", "منذ",
        "sarli", "sarelna", "sarilna", "min shahr", "min osboo3", "min usbu3", "min yom",
        "since", "weeks", "months", "for days",
    )),
]
PILLARS_IN_ORDER = [pillar for pillar, _ in _STEMS]
_WORD_EDGE = re.compile(r"\s+")
# A stem counts at the start of a word, after the article or a joined preposition ("بالتأخير").
_ARABIC_PREFIX = r"(?:(?:[وفبلك]|وب|وال|بال|فال|كال|لل|ال)?)"


def _pattern(stem: str) -> re.Pattern[str]:
    whole = stem.endswith("$")
    stem = normalise(stem.rstrip("$"))
    if stem.isascii():
        return re.compile(rf"(?<![a-z0-9]){re.escape(stem)}" + (r"(?![a-z0-9])" if whole else ""))
    # Two letters ("مي", "سب") are too short to be the start of a word: they must be the whole word.
    end = r"(?!\w)" if whole or len(stem.replace(" ", "")) <= 2 else ""
    return re.compile(rf"(?<![\w]){_ARABIC_PREFIX}{re.escape(stem)}{end}")


def _compiled(table: list[tuple[str, tuple[str, ...]]]) -> list[tuple[str, list[re.Pattern[str]]]]:
    return [(pillar, [_pattern(s) for s in stems]) for pillar, stems in table]


_PATTERNS = _compiled(_STEMS)
_WEAK_PATTERNS = _compiled(_WEAK)


def _hits(text: str, table: list[tuple[str, list[re.Pattern[str]]]]) -> list[str]:
    norm = " " + _WORD_EDGE.sub(" ", normalise(text)) + " "
    return [pillar for pillar, patterns in table if any(p.search(norm) for p in patterns)]


def mentioned(text: str) -> list[str]:
    """Every pillar the text has a word for (a duration included), in the lexicon's order."""
    found = _hits(text, _PATTERNS) + _hits(text, _WEAK_PATTERNS)
    return [pillar for pillar in PILLARS_IN_ORDER if pillar in found]


def infer(text: str) -> str | None:
    """The one pillar the text is clearly about, or None (no word for any, words for two, or only
    a duration)."""
    found = mentioned(text)
    return found[0] if len(found) == 1 and found[0] in _hits(text, _PATTERNS) else None


def guess(text: str, tagged: list[tuple[str, str]]) -> str | None:
    """The pillar of a message from its whole text and what DIET tagged: (words, annotated value).

    DIET's annotated value counts only for words the lexicon has no stem for; the guess stands
    only when everything points to one pillar, and more than a duration says which.
    """
    votes = set(mentioned(text)) if text else set()
    clear = set(_hits(text, _PATTERNS)) if text else set()
    for span, value in tagged:
        found = mentioned(span)
        if found:
            votes.update(found)
            clear.update(_hits(span, _PATTERNS))
        elif value in PILLARS:
            votes.add(value)
            clear.add(value)
    return votes.pop() if len(votes) == 1 and votes <= clear else None


OPTIONS: list[Option] = [
    option("service_quality", "service quality", "quality of service", "quality", "the service", "bad service",
           "جودة الخدمة", "جوده", "نوعية الخدمة", "الخدمة", "الخدمه", "خدمة سيئة",
           "jawdet el 5edmeh", "jodet el 5edmeh", "jawdet el khedmeh", "jawda", "5edmeh", "khedmeh", "5idmeh"),
    option("delivery_time", "delivery time", "time to deliver", "delay", "delays", "delayed", "late", "waiting",
           "waiting time", "too long", "time", "speed", "slow",
           "وقت إنجاز الخدمة", "مدة إنجاز الخدمة", "مدة الإنجاز", "وقت الإنجاز", "مدة انجاز المعاملة", "التأخير",
           "تأخير", "التأخر", "تأخر", "الوقت", "المدة", "الانتظار", "طول الانتظار", "بطء",
           "ta25eer", "t25eer", "ta2kheer", "ta2khir", "ta25ir", "el wa2t", "wa2t", "intithar", "entethar"),
    option("employee_behaviour", "staff behaviour", "staff behavior", "employee behaviour", "employee behavior",
           "behaviour", "behavior", "staff", "employee", "employees", "treatment", "how i was treated", "the clerk",
           "تعامل الموظفين", "سلوك الموظفين", "تعامل الموظف", "سلوك الموظف", "الموظفين", "الموظف", "تعامل", "سلوك",
           "المعاملة السيئة", "الموظفه",
           "ta3amol el mowazafeen", "ta3amol", "t3amol", "mowazaf", "mowazafeen", "mwazfeen", "el mowazaf", "sulook"),
    option("procedures", "procedures", "procedure", "process", "paperwork", "bureaucracy", "red tape",
           "documents", "requirements",
           "الإجراءات", "اجراءات", "إجراء", "الروتين", "روتين", "الأوراق", "المعاملات", "الشروط",
           "ejra2at", "ijra2at", "el ejra2at", "roteen", "awra2"),
    option("infrastructure", "infrastructure", "roads", "road", "building", "buildings", "facilities", "streets",
           "البنية التحتية", "بنية تحتية", "البنيه التحتيه", "الطرق", "الشوارع", "المرافق", "المبنى",
           "bunya ta7tiya", "bonyeh ta7tiyeh", "bunyeh ta7tiyeh", "el bunya el ta7tiya", "shware3"),
]


def answer(text: str) -> str | None:
    """The pillar a typed answer to the pillar question names: a choice, its number, or clear words."""
    picked = pick(text, OPTIONS)
    if picked:
        return picked
    return None if names_several(text) else infer(text)


def names_several(text: str) -> bool:
    """Does the answer name two choices as much as each other ("the staff and the procedures")?"""
    return len([key for key, _, negated in mentions(text, OPTIONS) if not negated]) > 1
