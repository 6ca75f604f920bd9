"""Errors the service raises; the HTTP layer turns each into its status and JSON body."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 500
    error = "internal_error"

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


class ValidationFailed(ServiceError):
    status = 400

    def __init__(self, error: str, field: str | None, message: str = "") -> None:
        super().__init__(f"{field}: {error}")
        self.error = error
        self.field = field
        self.message = message

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "field": self.field}
        if self.message:
            out["message"] = self.message
        return out


class InvalidReference(ServiceError):
    status = 422

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.error = code


class IdempotencyKeyReused(ServiceError):
    """The Idempotency-Key was first used with another body (or by another requester). The
    answer says nothing about the request that holds the key."""

    status = 422
    error = "idempotency_key_reused"


class NotFoundOrUnverified(ServiceError):
    """The same answer whether the reference is unknown or the proof is wrong, by design."""

    status = 404
    error = "not_found_or_unverified"


class NotFound(ServiceError):
    status = 404
    error = "not_found"


class RateLimited(ServiceError):
    status = 429
    error = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate_limited")
        self.retry_after = max(1, retry_after)

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "retry_after": self.retry_after}


class Conflict(ServiceError):
    status = 409

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class UnknownCentre(ServiceError):
    """No service centre has this code (issue 13); the bot tells the person to check the poster."""

    status = 404
    error = "unknown_centre"
