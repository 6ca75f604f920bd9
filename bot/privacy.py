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

import phonenumbers

from bot.arabic import DIGIT_CLASS, digits_only, fold_digits
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


# Phone numbers go through Google's libphonenumber (the `phonenumbers` port) with Jordan as the
# default region: it knows the national trunk prefix ("07...", "06..."), the "00" international
# prefix, "+962 (0)7..." as people write it, and which area and mobile codes exist, which a
# hand-written pattern kept getting wrong (e.g. "06 461 2345" came out as "+064612345").
_DEFAULT_REGION = "JO"


def _parse_phone(phone: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(fold_digits(phone), _DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None


def phone_tail(phone: str, n: int = 4) -> str:
    """The last `n` digits of the subscriber number (an extension is not part of it)."""
    parsed = _parse_phone(phone)
    return str(parsed.national_number)[-n:] if parsed else digits_only(phone)[-n:]


def normalise_phone(phone: str) -> str:
    """A number in E.164 ("+962791234567"), read as Jordanian unless it says otherwise. What
    libphonenumber cannot read at all keeps its digits behind a '+' ("" if it has none), as
    before, so a sender id stays stable for an odd sender."""
    parsed = _parse_phone(phone)
    if parsed is not None:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    digits = digits_only(phone)
    return "+" + digits if digits else ""


_REACHABLE = frozenset({
    phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
})


def is_plausible_phone(phone: str) -> bool:
    """A number that exists in the numbering plan of its country (Jordan by default) and can be
    called or texted back: a mobile (Jordan: 07[789]) or a fixed line (an existing area code).
    Pagers and personal-number ranges (Jordan's 070) are valid numbers nobody can reach us on."""
    parsed = _parse_phone(phone)
    return (parsed is not None and phonenumbers.is_valid_number(parsed)
            and phonenumbers.number_type(parsed) in _REACHABLE)


# --- field encryption ------------------------------------------------------------------------
# Keys come from HKDF-SHA256 (RFC 5869) with one `info` per purpose, so the key that opens reply
# addresses never opens tracker events or case fields, even when both derive from one secret.
# New ciphertext carries "v2:"; a bare Fernet token is the first format, whose key was
# sha256("bekhedmetkom-field-encryption:" + label + secret), and still opens where a caller names
# the secret it used then. A Fernet token always starts "gAAAAA", so the two cannot be confused.

_VERSION = "v2:"
_LEGACY_LABEL = b"bekhedmetkom-field-encryption:"


def _v2_key(secret: bytes, purpose: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    # No salt: the secret is already a uniformly random key (RFC 5869, 3.1, makes salt optional).
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"bekhedmetkom v2 " + purpose.encode())
    return base64.urlsafe_b64encode(hkdf.derive(secret))


def _legacy_key(secret: bytes) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(_LEGACY_LABEL + secret).digest())


class FieldCipher:
    """Authenticated encryption of single fields at rest (Fernet: AES-128-CBC + HMAC-SHA256).

    `purpose` names what the key protects (one key per purpose). `legacy_secret` is exactly what
    the caller passed as the secret before keys were versioned; give it where first-format
    ciphertext may still be stored, and it opens that too (it never encrypts)."""

    def __init__(self, secret: bytes, *, purpose: str, legacy_secret: bytes | None = None) -> None:
        from cryptography.fernet import Fernet

        if len(secret) < 16:
            raise ValueError(
                f"the {purpose} key must be at least 16 bytes (CASE_STORE_ENCRYPTION_KEY for case fields, SENDER_ID_KEY otherwise)"
            )
        if not purpose:
            raise ValueError("FieldCipher needs a purpose: it selects the derived key")
        self._f = Fernet(_v2_key(secret, purpose))
        self._legacy = Fernet(_legacy_key(legacy_secret)) if legacy_secret is not None else None

    def encrypt(self, value: str | None) -> str | None:
        return None if value is None else _VERSION + self._f.encrypt(value.encode()).decode()

    def decrypt(self, token: str | None) -> str | None:
        """The plaintext; raises cryptography's InvalidToken for a wrong key, tampering, or a
        first-format token where no legacy secret was given."""
        from cryptography.fernet import InvalidToken

        if token is None:
            return None
        if token.startswith(_VERSION):
            return self._f.decrypt(token[len(_VERSION):].encode()).decode()
        if self._legacy is None:
            raise InvalidToken
        return self._legacy.decrypt(token.encode()).decode()


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
    key = get_settings().sender_id_key
    return FieldCipher(key, purpose="reply-address", legacy_secret=b"reply-address:" + key)


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
