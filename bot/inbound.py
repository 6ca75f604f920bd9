"""What every channel does to a user's text before Rasa sees it.

- Rasa reads a message whose text, after Python's `str.strip()`, starts with "/" as an intent
  with entities and confidence 1.0 (`/complain{"entity": ...}`: rasa.core.channels.channel
  UserMessage strips the text, then RegexMessageHandler strips it again and matches
  `^/(?P<intent>[^{@]+)...`, so "/ affirm" is the intent "affirm" too). That would let a person
  skip NLU, forms and validation. Only our own buttons may do that, so `clean_user_text` removes
  every leading slash, whitespace (Unicode spaces and line breaks included) and invisible
  character, in any mix and any number of runs, until the text starts with something a person
  would read; channels pass their own button payloads through `is_button_payload` instead.
- Oversized input is refused with a localised answer instead of being cut silently, before any
  other work on it (a 200 KB message must never reach NLU).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Messenger allows 2,000 characters a message; a concatenated SMS tops out at 1,600. A
# description longer than this is better split by the person than truncated by us.
MAX_TEXT_CHARS = 2000
# Control characters dropped anywhere (tab, line feed and carriage return are kept inside text).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PAYLOAD = re.compile(r"^/[a-z_]+(\{.*\})?$", re.DOTALL)
# "/" and the characters that look like it or become it under NFKC (fullwidth solidus, fraction
# and division slashes, big solidus): none is a command to Rasa today, but a person who types
# one in front of an intent name means the same thing, and no later normalisation may turn it
# into one.
_SLASHES = frozenset("/\uff0f\u2044\u2215\u29f8")
# Unicode categories a reader does not see at the start of a message: format characters (zero
# width space/joiners, bidi marks, BOM, soft hyphen), other controls, separators and combining
# marks with nothing to combine with.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})


@dataclass(frozen=True)
class Inbound:
    text: str
    problem: str | None = None  # "empty" | "too_long" | None


def _is_lead_noise(ch: str) -> bool:
    return ch in _SLASHES or ch.isspace() or unicodedata.category(ch) in _INVISIBLE


def strip_command_prefix(text: str) -> str:
    """`text` without anything before its first visible character that is not a slash.

    After this, neither `text.strip()` (what Rasa does) nor any NFKC folding of the first
    character starts with "/".
    """
    start = 0
    while start < len(text) and _is_lead_noise(text[start]):
        start += 1
    return text[start:].rstrip()


def clean_user_text(raw: str | None) -> Inbound:
    """Text typed (or spoken) by a person, made safe to hand to Rasa as `UserMessage.text`.

    Every connector calls this for typed text: Messenger text and unknown postbacks, SMS Body,
    IVR SpeechResult, the REST channel. The result never reads as an intent command."""
    if raw is None:
        return Inbound("", "empty")
    # Refuse a huge message before normalising it: the cost must not depend on the attacker.
    if len(raw) > 4 * MAX_TEXT_CHARS:
        return Inbound("", "too_long")
    text = strip_command_prefix(unicodedata.normalize("NFC", _CONTROL.sub("", raw)))
    if not text:
        return Inbound("", "empty")
    if len(text) > MAX_TEXT_CHARS:
        return Inbound("", "too_long")
    return Inbound(text, None)


def is_button_payload(payload: str) -> bool:
    """Payloads we put on our own buttons: `/intent` or `/intent{json}`."""
    return bool(_PAYLOAD.match(payload.strip()))
