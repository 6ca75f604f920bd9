"""The outcomes an action can act on; none of them carries HTTP details or payloads."""

from __future__ import annotations


class CaseStoreError(Exception):
    """Any answer we did not expect (5xx, 401, an unparseable body)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class CaseStoreUnavailable(CaseStoreError):
    """Timeout or connection failure: tell the citizen to try again later."""


class InvalidReference(CaseStoreError):
    """422: `code` is "malformed_reference" or "bad_check_digit"."""

    def __init__(self, code: str) -> None:
        super().__init__(f"invalid reference: {code}", 422, code)


class IdempotencyKeyReused(CaseStoreError):
    """422 on a create: the idempotency key was already used for another body (or requester).
    Nothing was filed; the caller must mint a new key for a new submission."""

    def __init__(self) -> None:
        super().__init__("idempotency key reused with a different request", 422, "idempotency_key_reused")


class NotFoundOrUnverified(CaseStoreError):
    """404: unknown reference or unproven requester (deliberately indistinguishable)."""

    def __init__(self, code: str = "not_found_or_unverified") -> None:
        super().__init__(code, 404, code)


class RateLimited(CaseStoreError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s", 429, "rate_limited")
        self.retry_after = retry_after


class Conflict(CaseStoreError):
    """409: `code` is "not_ratable" or "transition_not_allowed"."""

    def __init__(self, code: str) -> None:
        super().__init__(f"conflict: {code}", 409, code)


class ValidationError(CaseStoreError):
    """400: `code` says what is wrong and `field` which input (a slot to re-ask)."""

    def __init__(self, code: str, field: str | None) -> None:
        super().__init__(f"invalid {field}: {code}", 400, code)
        self.field = field
