"""Keyed hashes for the second factors (phone tail, report PIN) and PIN generation.

Both factors are short (4 and 6 digits), so a plain hash would fall to a brute force of a
leaked table; an HMAC keyed with a secret derived from CASE_STORE_ENCRYPTION_KEY and bound to
the reference does not.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PIN_DIGITS = 6


class Verifier:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"bekhedmetkom-case-store-verify:" + secret).digest()

    def digest(self, purpose: str, reference: str, value: str) -> str:
        msg = f"{purpose}:{reference}:{value}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def matches(self, stored: str | None, purpose: str, reference: str, value: str) -> bool:
        if not stored or not value:
            return False
        return hmac.compare_digest(stored, self.digest(purpose, reference, value))

    def request_digest(self, idempotency_key: str, canonical_body: str) -> str:
        """Keyed digest of a create body bound to its Idempotency-Key (for replay checks); keyed
        so the column does not let anyone confirm a guessed narrative."""
        msg = f"idempotency:{idempotency_key}:{canonical_body}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def identity_key(self, identity: str) -> str:
        """A short keyed digest of a proof identity for the rate-limit table (no raw ids at rest)."""
        return hmac.new(self._key, f"identity:{identity}".encode(), hashlib.sha256).hexdigest()[:40]


def new_pin() -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(PIN_DIGITS))
