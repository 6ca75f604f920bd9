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

# Order matters: the first pillar with a hit wins (behaviour and delays are the clearest signals).
_STEMS: list[tuple[str, tuple[str, ...]]] = [
    ("employee_behaviour", (
        "صرخ", "صرخت", "زعق", "مسب", "سب ", "شتم", "اهان", "اهانه", "ما احترم", "قليل ادب", "وقح", "تعامل", "بهدل",
        "عصب", "طردني", "طرد", "تنمر", "استهزا", "مزاج", "ما رد علي", "تجاهل",
        "sar5", "sara5", "srakh", "zaa2", "za3a2", "shatam", "ahan", "ma e7taram", "m7taram", "t3amol", "ta3amol", "tarad",
        "rude", "shout", "yell", "insult", "disrespect", "ignored me", "attitude", "treated me", "behaviour", "behavior",
    )),
    ("delivery_time", (
        "تاخير", "تأخير", "متاخر", "صرلي", "صرلنا", "صار لي", "بستنى", "مستني", "انتظار", "ننتظر", "انتظر", "من شهر",
        "من اسبوع", "من سنه", "لليوم", "لهلا", "لسا ما", "ما خلص", "بطيء", "بطء", "طوابير", "دور",
        "sarli", "sarelna", "bastanna", "mistanni", "mstanni", "ta25eer", "t25eer", "m2a55ar", "lessa", "lissa", "dor",
        "delay", "late", "waiting", "wait", "weeks", "months", "still not", "slow", "queue", "since",
    )),
    ("infrastructure", (
        "حفر", "حفره", "شارع", "طريق", "انارة", "اناره", "اضاءه", "مجاري", "صرف صحي", "مناهل", "رصيف", "جسر", "مي",
        "مياه", "ميه", "مي", "كهربا", "انقطاع", "مقطوع", "قطع", "تسريب", "بنيه", "مبنى", "مكيف", "مصعد",
        "7ofar", "7ofra", "shari3", "share3", "tari2", "enara", "majari", "ma2tou3", "ma2too3", "maqtoo3", "ta2ti3",
        "pothole", "road", "street", "lights", "sewage", "pavement", "bridge", "outage", "cut off", "no water",
        "no electricity", "leak", "building", "elevator",
    )),
    ("procedures", (
        "اوراق", "ورقه", "ورق", "معامله", "معاملات", "اجراء", "اجراءات", "روتين", "توقيع", "تواقيع", "مراجعه", "شروط",
        "رسوم", "نموذج", "طلبوا", "بطلبوا", "اكثر من مره", "كل مره",
        "awra2", "wara2a", "mo3amaleh", "mu3amala", "ejra2at", "roteen", "tawa2ee3",
        "paper", "document", "procedure", "process", "signature", "bureaucra", "form", "fees", "requirements",
        "every time", "again and again",
    )),
    ("service_quality", (
        "خدمه", "سيئ", "سيء", "زباله", "نظافه", "وسخ", "موقع", "تطبيق", "النظام", "السستم", "ما بشتغل", "عطل", "خربان",
        "جوده", "رديء",
        "5edmeh", "5idmeh", "say2", "zbaleh", "nadafeh", "maw2e3", "tatbee2", "system", "bishtaghel", "5arban",
        "service", "bad", "quality", "dirty", "website", "app", "not working", "broken", "garbage", "rubbish",
    )),
]
_COMPILED = [(pillar, [normalise(s) for s in stems]) for pillar, stems in _STEMS]
_WORD_EDGE = re.compile(r"\s+")
# A stem counts at the start of a word, after the article or a joined preposition ("بالتأخير").
_ARABIC_PREFIX = r"(?:(?:[وفبلك]|وب|وال|بال|فال|كال|لل|ال)?)"


def _pattern(stem: str) -> re.Pattern[str]:
    if stem.isascii():
        return re.compile(rf"(?<![a-z0-9]){re.escape(stem)}")
    # Two letters ("مي", "سب") are too short to be the start of a word: they must be the whole word.
    end = r"(?!\w)" if len(stem.replace(" ", "")) <= 2 else ""
    return re.compile(rf"(?<![\w]){_ARABIC_PREFIX}{re.escape(stem)}{end}")


_PATTERNS = [(pillar, [_pattern(s) for s in stems]) for pillar, stems in _COMPILED]


def mentioned(text: str) -> list[str]:
    """Every pillar the text has a word for, in the lexicon's order."""
    norm = " " + _WORD_EDGE.sub(" ", normalise(text)) + " "
    return [pillar for pillar, patterns in _PATTERNS if any(p.search(norm) for p in patterns)]


def infer(text: str) -> str | None:
    """The one pillar the text is clearly about, or None (no word for any, or words for two)."""
    found = mentioned(text)
    return found[0] if len(found) == 1 else None


def guess(text: str, tagged: list[tuple[str, str]]) -> str | None:
    """The pillar of a message from its whole text and what DIET tagged: (words, annotated value).

    DIET's annotated value counts only for words the lexicon has no stem for; the guess stands
    only when everything points to one pillar.
    """
    votes = set(mentioned(text)) if text else set()
    for span, value in tagged:
        found = mentioned(span)
        if found:
            votes.update(found)
        elif value in PILLARS:
            votes.add(value)
    return votes.pop() if len(votes) == 1 else None


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
