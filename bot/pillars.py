"""Which pillar a complaint is about, from what the person said.

DIET tags the words that reveal a pillar ("صرخ علي", "full of potholes"), but a partial span
loses the annotated value, and people say it in many ways. This maps a span, or the whole
message, to a pillar by stems (matched on bot.arabic.normalise'd text). A wrong guess costs
little: the summary shows the pillar and the person can change it.
"""

from __future__ import annotations

import re

from bot.arabic import normalise

# Order matters: the first pillar with a hit wins (behaviour and delays are the clearest signals).
_STEMS: list[tuple[str, tuple[str, ...]]] = [
    ("employee_behaviour", (
        "صرخ", "صرخت", "زعق", "مسب", "سب ", "شتم", "اهان", "اهانه", "ما احترم", "قليل ادب", "وقح", "تعامل", "بهدل",
        "عصب", "طردني", "طرد", "تنمر", "استهزا", "مزاج", "ما رد علي", "تجاهل",
        "sar5", "sara5", "zaa2", "za3a2", "shatam", "ahan", "ma e7taram", "m7taram", "t3amol", "ta3amol", "tarad",
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
        "المياه", "الكهربا", "انقطاع", "مقطوع", "قطع", "تسريب", "بنيه", "مبنى", "مكيف", "مصعد",
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


def infer(text: str) -> str | None:
    norm = " " + _WORD_EDGE.sub(" ", normalise(text)) + " "
    for pillar, stems in _COMPILED:
        for stem in stems:
            # Latin stems of 3-4 letters must start a word ("late" is not in "translate").
            if stem.isascii() and len(stem) <= 4:
                if re.search(rf"(?<![a-z0-9]){re.escape(stem)}", norm):
                    return pillar
            elif stem in norm:
                return pillar
    return None
