"""Privacy helpers: keyed sender ids, field encryption, and a log filter that redacts.

Tracker sender ids are HMAC-SHA256(SENDER_ID_KEY, "<channel>:<address>") so a leaked tracker
store reveals no phone numbers or PSIDs, yet the same person always maps to the same id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass

from bot.arabic import DIGIT_CLASS, digits_only
from bot.settings import get_settings


def keyed_id(channel: str, address: str, key: bytes | None = None) -> str:
    """Stable pseudonymous id for a (channel, address) pair: `<channel>_<32 hex>`."""
    k = key if key is not None else get_settings().sender_id_key
    digest = hmac.new(k, f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()
    return f"{channel}_{digest[:32]}"


def phone_identity(phone: str) -> str:
    """One pseudonymous identity per phone number, the same over SMS, the IVR and the contact
    center, so a request filed one way can be followed up another."""
    return keyed_id("phone", normalise_phone(phone))


def phone_tail(phone: str, n: int = 4) -> str:
    return digits_only(phone)[-n:]


def normalise_phone(phone: str) -> str:
    """Jordanian numbers to E.164 (+9627XXXXXXXX); other numbers keep their digits with '+'."""
    digits = digits_only(phone)
    if digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("07") and len(digits) == 10:
        digits = "962" + digits[1:]
    elif digits.startswith("7") and len(digits) == 9:
        digits = "962" + digits
    return "+" + digits if digits else ""


def is_plausible_phone(phone: str) -> bool:
    e164 = normalise_phone(phone)
    if e164.startswith("+962"):
        return re.fullmatch(r"\+9627[789]\d{7}", e164) is not None or re.fullmatch(r"\+962[2-6]\d{7}", e164) is not None
    return 8 <= len(e164) - 1 <= 15


def _fernet_key(secret: bytes) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(b"bekhedmetkom-field-encryption:" + secret).digest())


class FieldCipher:
    """Authenticated encryption of single fields at rest (Fernet: AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, secret: bytes) -> None:
        from cryptography.fernet import Fernet

        if len(secret) < 16:
            raise ValueError("the field-encryption key must be at least 16 bytes (set CASE_STORE_ENCRYPTION_KEY)")
        self._f = Fernet(_fernet_key(secret))

    def encrypt(self, value: str | None) -> str | None:
        return None if value is None else self._f.encrypt(value.encode()).decode()

    def decrypt(self, token: str | None) -> str | None:
        return None if token is None else self._f.decrypt(token.encode()).decode()


# --- log redaction ---------------------------------------------------------------------------

_PATTERNS = [
    (re.compile(r"\+?\d[\d\s\-]{7,}\d"), "<digits>"),  # phone numbers, PSIDs, references
    (re.compile(rf"[{DIGIT_CLASS}]{{4,}}"), "<digits>"),
    (re.compile(r"(?i)(bearer|token|secret|signature|password|access_token|appsecret_proof)([\"'=:\s]+)[^\s\"'&,]+"), r"\1\2<redacted>"),
    (re.compile(r"[\u0600-\u06FF][\u0600-\u06FF\s]{3,}"), "<arabic-text>"),
]


def redact(message: str) -> str:
    for pattern, repl in _PATTERNS:
        message = pattern.sub(repl, message)
    return message


class RedactingFilter(logging.Filter):
    """Last line of defence: scrub what slipped into a log record. Code must still not log PII."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string must not take the service down
            msg = str(record.msg)
        record.msg = redact(msg)
        record.args = ()
        return True


def install_log_redaction() -> None:
    """Attach the filter to every handler that exists now (Rasa and Sanic have set theirs up by
    the time connectors and actions are imported; Sanic's loggers do not propagate to root)."""
    flt = RedactingFilter()
    loggers = [logging.getLogger()] + [
        obj for obj in logging.Logger.manager.loggerDict.values() if isinstance(obj, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(flt)


# --- sealed reply addresses ---------------------------------------------------------------------
# Channels must tell the actions (another process) and the agent console how to reach a person,
# and Rasa stores message metadata in the tracker. So the address travels sealed: the tracker
# holds ciphertext only, and only code that really replies opens it.

_SEAL_PREFIX = "sealed:"


def _address_cipher() -> FieldCipher:
    return FieldCipher(b"reply-address:" + get_settings().sender_id_key)


def seal_address(address: str) -> str:
    return _SEAL_PREFIX + (_address_cipher().encrypt(address) or "")


def open_address(value: str | None) -> str | None:
    """The address inside a sealed value; None for anything else (never trusts plain text)."""
    if not value or not value.startswith(_SEAL_PREFIX):
        return None
    try:
        return _address_cipher().decrypt(value[len(_SEAL_PREFIX):])
    except Exception:  # wrong key or tampered: treat as absent
        return None


# --- the anonymous-report rule ------------------------------------------------------------------
# One home for it: the actions, the agent console and the case store all call `requester()`.


@dataclass(frozen=True)
class Requester:
    """Who a request is filed for, as the case store may keep it."""

    anonymous: bool
    requester_id: str
    contact_phone: str | None


def is_anonymous(request_type: str, anonymous: bool | None) -> bool:
    """A report is anonymous unless the reporter opts in (`anonymous=False`, e.g. by giving a
    number to be called back on); any other request only when asked to be."""
    return (anonymous is not False) if request_type == "report" else bool(anonymous)


def anonymous_requester_id(idempotency_key: str) -> str:
    """The requester id of an anonymous request. Keyed on the submission's idempotency key, so a
    retried submission carries the same id (a replay, not a conflict), and nothing about the
    person goes in. The key itself is scrubbed from the tracker once the report is filed
    (bot/tracker_store.py), so nothing left links this id back to a sender."""
    return keyed_id("anon", idempotency_key)


def requester(
    request_type: str, *, anonymous: bool | None, idempotency_key: str, requester_id: str, contact_phone: str | None
) -> Requester:
    """An anonymous request keeps no id of the person and no phone (and its caller passes no
    reply address; the case store drops one anyway): follow-up is by reference and PIN only."""
    if is_anonymous(request_type, anonymous):
        return Requester(True, anonymous_requester_id(idempotency_key), None)
    return Requester(False, requester_id, contact_phone)
