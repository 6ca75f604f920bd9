"""Async client of the case-store HTTP API (docs/CONTRACTS.md, case_store/openapi.yaml)."""

from backend_client.client import CaseStoreClient
from backend_client.errors import (
    CaseStoreError,
    CaseStoreUnavailable,
    Conflict,
    IdempotencyKeyReused,
    InvalidReference,
    NotFoundOrUnverified,
    RateLimited,
    ValidationError,
)
from backend_client.types import (
    Attachment,
    CaseRequest,
    Created,
    Entity,
    Rating,
    Routing,
    Sector,
    TimelineEntry,
)

__all__ = [
    "Attachment",
    "CaseRequest",
    "CaseStoreClient",
    "CaseStoreError",
    "CaseStoreUnavailable",
    "Conflict",
    "Created",
    "Entity",
    "IdempotencyKeyReused",
    "InvalidReference",
    "NotFoundOrUnverified",
    "RateLimited",
    "Rating",
    "Routing",
    "Sector",
    "TimelineEntry",
    "ValidationError",
]
