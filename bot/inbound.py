"""What every channel does to a user's text before Rasa sees it.

- Rasa treats text starting with "/" as an intent with entities (`/complain{"entity": ...}`),
  which would let a user skip the forms and validation. Only our own buttons may do that, so a
  typed leading slash is neutralised here; channels pass button payloads through untouched.
- Oversized input is refused with a localised answer instead of being cut silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Messenger allows 2,000 characters a message; a concatenated SMS tops out at 1,600. A
# description longer than this is better split by the person than truncated by us.
MAX_TEXT_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PAYLOAD = re.compile(r"^/[a-z_]+(\{.*\})?$", re.DOTALL)


@dataclass(frozen=True)
class Inbound:
    text: str
    problem: str | None = None  # "empty" | "too_long" | None


def clean_user_text(raw: str | None) -> Inbound:
    if raw is None:
        return Inbound("", "empty")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", raw)).strip()
    if not text:
        return Inbound("", "empty")
    if len(text) > MAX_TEXT_CHARS:
        return Inbound("", "too_long")
    # "/complain{...}" typed by a person becomes plain text; NLU then reads it like any message.
    text = re.sub(r"^/+\s*", "", text)
    return Inbound(text or "", None if text else "empty")


def is_button_payload(payload: str) -> bool:
    """Payloads we put on our own buttons: `/intent` or `/intent{json}`."""
    return bool(_PAYLOAD.match(payload.strip()))
