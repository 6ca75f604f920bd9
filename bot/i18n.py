"""Text outside the Rasa domain (channel chrome, IVR menus, the agent page), via Babel catalogs.

This is one of the two homes of user-facing text; the other is the domain's responses (bot
replies, with variants on the `language` slot). Catalogs live in
bot/locale/<lang>/LC_MESSAGES/<domain>.po, one gettext domain per room (`channels`, `notify`,
`voice`, `console`, and `labels` for the words and fragments actions put inside responses), so
each room owns its own file. Every msgid is the English source text (gettext's convention: the
code reads as the English it shows, and a missing translation falls back to it); a word that
means different things in different places gets a msgctxt (`pgettext`). The .po files are read
directly with Babel (no compile step to forget): `pybabel extract/update` still maintain them.
Dates and numbers go through Babel with an explicit locale (`ar_JO`, `en_001`), moments in
BEKH_TIMEZONE (`bot.settings.local_timezone`).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.numbers import format_percent as format_percent_
from babel.support import NullTranslations, Translations

from bot.lang import DEFAULT, LANGUAGES
from bot.settings import local_timezone

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# CLDR has no en_JO; en_001 (international English) gives day-month-year as Jordan writes it.
BABEL_LOCALES = {"ar": "ar_JO", "en": "en_001"}


def lang_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT


@functools.cache
def translations(domain: str, language: str) -> NullTranslations:
    po = LOCALE_DIR / lang_or_default(language) / "LC_MESSAGES" / f"{domain}.po"
    if not po.exists():
        raise FileNotFoundError(f"no catalog {po}: add it (pybabel init -D {domain} -l {language} -d bot/locale)")
    with po.open("rb") as f:
        catalog = read_po(f, locale=BABEL_LOCALES[lang_or_default(language)], domain=domain)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=domain)


def gettext(domain: str, language: str, message: str, **params: object) -> str:
    text = translations(domain, language).gettext(message)
    return text.format(**params) if params else text


def pgettext(domain: str, language: str, context: str, message: str, **params: object) -> str:
    """A msgid disambiguated by a msgctxt (e.g. "answered" as a status, not a verb)."""
    text = translations(domain, language).pgettext(context, message)
    return text.format(**params) if params else text


def N_(message: str) -> str:
    """Marks a msgid kept in a table and translated later (gettext's `gettext_noop`)."""
    return message


def ngettext(domain: str, language: str, singular: str, plural: str, n: int, **params: object) -> str:
    """Arabic has six plural forms; the catalog's Plural-Forms header picks the right one."""
    text = translations(domain, language).ngettext(singular, plural, n)
    return text.format(n=format_number(n, language), **params)


def format_number(n: int | float, language: str) -> str:
    # ar_JO uses Latin digits by default in CLDR, which is also what Jordanians read in SMS.
    return format_decimal(n, locale=BABEL_LOCALES[lang_or_default(language)])


def format_percent(share: float, language: str) -> str:
    """A share 0..1 as people read it: '87%' / '87٪' (whatever CLDR gives the locale)."""
    return format_percent_(share, locale=BABEL_LOCALES[lang_or_default(language)])


def format_decimal1(n: float, language: str) -> str:
    """One decimal at most ('4.2'), for means and hours."""
    return format_decimal(n, format="#,##0.#", locale=BABEL_LOCALES[lang_or_default(language)])


def format_short_day(value: dt.date, language: str) -> str:
    """A date in a table or on a chart axis: '3 Nov 2026' / '03‏/11‏/2026'."""
    return format_date(value, format="medium", locale=BABEL_LOCALES[lang_or_default(language)])


def format_month(value: dt.date, language: str) -> str:
    """A month heading: 'November 2026' / 'تشرين الثاني 2026'."""
    return format_date(value, format="LLLL y", locale=BABEL_LOCALES[lang_or_default(language)])


def format_day(value: dt.datetime | dt.date, language: str) -> str:
    """A due date as people say it: 'Thursday, 26 November 2026' / 'الخميس، ٢٦ تشرين الثاني ٢٠٢٦'."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(local_timezone()).date()
    return format_date(value, format="full", locale=BABEL_LOCALES[lang_or_default(language)])


def format_moment(value: dt.datetime, language: str) -> str:
    return format_datetime(value.astimezone(local_timezone()), format="medium", locale=BABEL_LOCALES[lang_or_default(language)])


def language_name(language: str) -> str:
    """A language's name in itself ("العربية", "English"), for a switch offered to either reader."""
    return Locale.parse(lang_or_default(language)).get_display_name(lang_or_default(language)) or language


def locale(language: str) -> Locale:
    return Locale.parse(BABEL_LOCALES[lang_or_default(language)])
