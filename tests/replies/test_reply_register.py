"""Arabic replies are clear, courteous Modern Standard Arabic, not Jordanian dialect.

Understanding dialect is the NLU's job; what the bot writes, says on the phone, texts or shows
the agent is MSA. This flags dialect markers in every Arabic text a citizen or an agent reads:
the domain's responses (text and button titles), the Arabic Babel catalogs (IVR, SMS chrome,
notifications, console, labels) and the catalogue's names of bodies and sectors.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po

from bot.arabic import has_arabic

ROOT = Path(__file__).resolve().parents[2]

# Jordanian/Levantine words and forms that have an MSA equivalent (in brackets the MSA one).
DIALECT_WORDS = frozenset(
    """
    شو [ما/ماذا]  ايش  إيش  شلون  بدك [تريد]  بدي  بدنا  بدكم  بدو  هيك [هكذا]  هيچ  منيح [جيد]  منيحة  كتير
    بنرسله [هل نرسله]  بنرسلها  لسا [بعد/ما زال]  لسه  لسّا  هلأ [الآن]  هلق  هسا  هسّا  هسه  مش [ليس/غير]  مو
    بنقدر [يمكننا]  بقدر  بتقدر  بيقدر  رح [سـ]  راح  حنـ  إشي [شيء]  اشي  شي  وين [أين]  ليش [لماذا]  قديش [كم]  قديش
    هاي [هذه]  هاد [هذا]  هاظ  هذول  هدول  هاذي  اللي [الذي/التي]  إلك [لك]  الك  إلكم  عشان [لأن/لكي]  علشان  مشان
    منشان  خليك [ابقَ]  خلّيك  خلي  زيدنا  احكيلنا  احكيلي  احكي  بيخص [يخص]  بيعرف  بيعرفهم  بيرد  بيردوا  بيردّوا
    كمان [أيضاً]  شوي [قليلاً]  شوية  بس [لكن/فقط]  انرسل [أُرسل]  انحلت  انحلّت  تمام [حسناً]  آسفين [نأسف]  بهالاسم
    بهالرقم  بهاد  بهاي  فيهم [بهما]  حدا [أحد]  غلط [خطأ]  جاوب [أجب]  زي [مثل]  هيدا  هيدي
    برضه  برضو  كيفك  منشان  لحالك  بنحتاج  بتتابعه  بتتابع  منرد  بنرد  وبتابعها  بستقبل  ثاني [آخر]
    """.replace("[", " [").split()
)
DIALECT_WORDS = frozenset(w for w in DIALECT_WORDS if not w.startswith("[") and not w.endswith("]") and "/" not in w)
# Multi-word markers ("ما في" = there is no, "في إشي" = is there anything).
DIALECT_PHRASES = ("ما في ", "في إشي", "ما بقدر", "ما قدرنا", "ما لقيت", "ما لقينا", "ما عرفت", "مرة ثانية", "بعد شوي")
_TOKEN = re.compile(r"[\u0621-\u064A\u0660-\u0669\u0671-\u06D3\u0640\u064B-\u0652]+")
_DIACRITICS = re.compile(r"[\u064B-\u0652\u0640]")


def dialect_markers(text: str) -> list[str]:
    """The dialect words and phrases in `text` (a conjunction و/ف in front is ignored)."""
    plain = _DIACRITICS.sub("", text)
    found = [p.strip() for p in DIALECT_PHRASES if p in plain + " "]
    for token in _TOKEN.findall(plain):
        for candidate in (token, token[1:] if token[:1] in "وف" and len(token) > 3 else token):
            if candidate in DIALECT_WORDS:
                found.append(token)
                break
    return found


def domain_texts() -> list[tuple[str, str]]:
    responses = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    out = []
    for name, variants in responses.items():
        for v in variants:
            for text in [v.get("text") or ""] + [b.get("title", "") for b in v.get("buttons") or []]:
                if has_arabic(text):
                    out.append((f"domain.yml {name}", text))
    return out


def catalog_texts() -> list[tuple[str, str]]:
    out = []
    for po in sorted((ROOT / "bot" / "locale" / "ar" / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            for message in read_po(f):
                strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
                out += [(f"{po.name} {message.id!r:.40}", s) for s in strings if s and has_arabic(s)]
    return out


def catalogue_names() -> list[tuple[str, str]]:
    data = yaml.safe_load((ROOT / "case_store" / "data" / "catalogue.yml").read_text(encoding="utf-8"))
    return [(f"catalogue {item['id']}", item["name_ar"]) for key in ("sectors", "entities") for item in data[key] if item.get("name_ar")]


ALL_TEXTS = domain_texts() + catalog_texts() + catalogue_names()


@pytest.mark.parametrize(
    "text, markers",
    [
        ("شو رقم هاتفك للمتابعة؟", ["شو"]),
        ("راجع طلبك. بنرسله؟", ["بنرسله"]),
        ("ما قدرنا نرسل طلبك هلأ، بس إجاباتك محفوظة.", ["ما قدرنا", "هلأ", "بس"]),
        ("وبتتابعه بالرقم المرجعي", ["وبتتابعه"]),
        ("ما رقم هاتفك للمتابعة؟", []),
        ("تعذّر إرسال طلبك الآن، لكن إجاباتك محفوظة. هل نحاول مرة أخرى؟", []),
        ("لا يوجد طلب قيد التقديم لإلغائه.", []),
    ],
)
def test_the_marker_finder(text: str, markers: list[str]) -> None:
    assert dialect_markers(text) == markers


def test_every_text_source_is_read() -> None:
    sources = {where.split()[0] for where, _ in ALL_TEXTS}
    assert {"domain.yml", "voice.po", "channels.po", "notify.po", "console.po", "labels.po", "catalogue"} <= sources


def test_arabic_replies_have_no_dialect_markers() -> None:
    found = [(where, text, dialect_markers(text)) for where, text in ALL_TEXTS if dialect_markers(text)]
    assert found == []
