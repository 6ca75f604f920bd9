"""What the text channels (Messenger, SMS, later the IVR helper) share: pure rendering helpers.

- the language of a user message (bot.lang.detect + the stored language);
- channel chrome in both languages through the `channels` Babel catalog;
- buttons as numbered lists, and a typed number ("2", "٢") mapped back to the button's payload;
- validation of button payloads coming back from a vendor (quick replies, postbacks);
- SMS segment counting (GSM-7 vs UCS-2) and splitting long text at natural boundaries;
- attachments as the `{"attachments": [{"url", "media_type"}]}` metadata both channels send;
- Twilio's webhook forms (SMS and voice) exactly as Twilio signed them.

Nothing here does I/O: channel modules call these and do the sending.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from bot import i18n
from bot.choices import parse_choice  # noqa: F401  (the channels' typed choices; the home is bot.choices)
from bot.inbound import is_button_payload
from bot.lang import DEFAULT, LANGUAGES, detect, first_message_language

DOMAIN = "channels"


# --- language -------------------------------------------------------------------------------

def user_language(text: str, stored: str | None) -> str:
    """The language to answer a user's message in: bot.lang.detect, else stored, else Arabic.
    With nothing stored (a sender's first message), short English such as "hello" is English."""
    if stored is None:
        return first_message_language(text) or DEFAULT
    return detect(text, stored) or stored


def t(language: str | None, message: str, **params: object) -> str:
    """Channel chrome from bot/locale/<lang>/LC_MESSAGES/channels.po."""
    return i18n.gettext(DOMAIN, i18n.lang_or_default(language), message, **params)


# --- Twilio forms ----------------------------------------------------------------------------

class MalformedForm(ValueError):
    pass


class FormParams(dict):  # type: ignore[type-arg]
    """A Twilio webhook form as Twilio signed it: every value of every field, blank ones included
    (Sanic's `request.form` drops blank values, which breaks the signature of e.g.
    `SpeechResult=`). Twilio's RequestValidator reads repeated fields through `getall`."""

    def getall(self, name: str) -> list[str]:
        return list(self[name])

    def first(self, name: str, default: str = "") -> str:
        values = super().get(name)
        return values[0] if values else default


def parse_form(body: bytes) -> FormParams:
    """An x-www-form-urlencoded body; `MalformedForm` when it is not UTF-8 (Twilio's never is)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedForm("form body is not UTF-8") from None
    return FormParams(parse_qs(text, keep_blank_values=True))


# --- payloads and choices --------------------------------------------------------------------

def is_valid_payload(payload: str | None) -> bool:
    """A button payload we can hand to Rasa as-is: `/intent` or `/intent{<json object>}`.

    bot.inbound.is_button_payload checks the shape; a vendor-supplied payload must also carry
    well-formed JSON, or Rasa would silently drop the entities.
    """
    if not payload or not is_button_payload(payload):
        return False
    brace = payload.find("{")
    if brace == -1:
        return True
    try:
        return isinstance(json.loads(payload[brace:]), dict)
    except ValueError:
        return False


# --- service-centre ratings (issue 13) ----------------------------------------------------------

# The Messenger link on a centre's poster: m.me/<page>?ref=rate_4127 (Meta allows a-z, 0-9 and
# +/=-.:_ in a ref). Digits only after the prefix; the case store decides whether the code exists.
CENTRE_REF_PREFIX = "rate_"
_CENTRE_REF = re.compile(r"^rate_([0-9]{1,8})$")


def centre_ref(code: str) -> str:
    """The `ref` of a centre's Messenger link (the posters print it as a QR code)."""
    return CENTRE_REF_PREFIX + code


def centre_code_from_ref(ref: object) -> str | None:
    """"rate_4127" -> "4127"; any other ref (an ad's, a malformed one) -> None."""
    if not isinstance(ref, str):
        return None
    m = _CENTRE_REF.match(ref.strip())
    return m.group(1) if m else None


def rate_centre_payload(code: str, language: str | None = None) -> str:
    """What a connector hands Rasa to start the survey of a centre: our own intent payload
    (never user text), with the language of the keyword when the channel knows it."""
    entities: dict[str, str] = {"centre_code": code}
    if language in LANGUAGES:
        entities["language"] = language
    return "/rate_centre" + json.dumps(entities, ensure_ascii=True, separators=(",", ":"))


def numbered_lines(titles: Sequence[str], first: int = 1) -> str:
    """["شكوى", "اقتراح"] -> "1. شكوى\n2. اقتراح" (Latin digits: what Jordanian phones show)."""
    return "\n".join(f"{i}. {title}" for i, title in enumerate(titles, start=first))


def button_titles(buttons: Iterable[dict[str, Any]]) -> list[str]:
    return [str(b.get("title") or b.get("payload") or "").strip() for b in buttons]


def button_payloads(buttons: Iterable[dict[str, Any]]) -> list[str]:
    return [str(b.get("payload") or b.get("title") or "") for b in buttons]


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters with "…" only when needed."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


# --- attachments ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attachment:
    url: str
    media_type: str

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "media_type": self.media_type}


# Photos of a broken road or a receipt, and documents; voice notes and video are not read by
# the back office, so they get a clear answer instead of being filed silently.
SUPPORTED_MEDIA_PREFIXES = ("image/",)
SUPPORTED_MEDIA_TYPES = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "file",  # Messenger says only "file", not the MIME type
    }
)


def is_supported_media(media_type: str) -> bool:
    media_type = media_type.lower()
    return media_type.startswith(SUPPORTED_MEDIA_PREFIXES) or media_type in SUPPORTED_MEDIA_TYPES


def attachment_metadata(attachments: Sequence[Attachment]) -> dict[str, Any]:
    return {"attachments": [a.as_dict() for a in attachments]} if attachments else {}


# --- problems with user input -------------------------------------------------------------------

def problem_reply(problem: str, language: str) -> str:
    """The localised answer to input that changes nothing (bot.inbound problems + ours)."""
    from bot.inbound import MAX_TEXT_CHARS

    if problem == "too_long":
        limit = i18n.format_number(MAX_TEXT_CHARS, language)
        return t(language, "Your message is too long ({max} characters at most). Please send it in shorter parts.", max=limit)
    if problem == "unsupported_attachment":
        return t(language, "I can't open this kind of attachment. Please send a photo or a PDF file, or write your message.")
    if problem == "malformed":
        return t(language, "I didn't understand that. Please pick from the menu or write your message.")
    return t(language, "I didn't get any text. Please write your message.")


# --- SMS segments -------------------------------------------------------------------------------

# GSM 03.38 basic character set (the escape 0x1B is not a printable character) and the
# extension table, whose characters take two septets (escape + code).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153  # septets; a split message loses 7 to the UDH
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def sms_encoding(text: str) -> str:
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _units(text: str) -> tuple[list[int], int, int]:
    """Cost of each character in the message's encoding (never split across parts)."""
    if is_gsm7(text):
        return [2 if c in GSM7_EXTENSION else 1 for c in text], GSM7_SINGLE, GSM7_PART
    return [2 if ord(c) > 0xFFFF else 1 for c in text], UCS2_SINGLE, UCS2_PART


def sms_segments(text: str) -> int:
    """How many SMS a carrier bills for `text` (0 for empty).

    GSM-7: 160 septets in one SMS, 153 per part when concatenated, extension characters
    (€ [ ] { } | ^ ~ \\) count double. Anything else (e.g. one Arabic letter) makes the whole
    message UCS-2: 70 UTF-16 units in one SMS, 67 per part. An escape pair or a surrogate pair
    is never split between parts, as phones do it.
    """
    units, single, part = _units(text)
    total = sum(units)
    if total == 0:
        return 0
    if total <= single:
        return 1
    parts, used = 1, 0
    for u in units:
        if used + u > part:
            parts, used = parts + 1, 0
        used += u
    return parts


# --- splitting long text ------------------------------------------------------------------------

_BREAKS = ("\n\n", "\n", ". ", "۔ ", "؟ ", "? ", "! ", "، ", ", ", " ")


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Split `text` into parts of at most `limit` (by `measure`), at the most natural break."""
    text = text.strip()
    if measure(text) <= limit:
        return [text] if text else []
    # Largest prefix that fits; then back off to the best break inside it.
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    window = text[:lo]
    cut = lo
    for sep in _BREAKS:
        at = window.rfind(sep)
        if at > lo // 3:
            cut = at + len(sep)
            break
    head, rest = text[:cut].strip(), text[cut:]
    return [head, *split_text(rest, limit, measure)]


# The headers of every page people sign in to (the agent console, the dashboards): nothing but
# our own scripts, styles and connections, never framed, no referrer.
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
