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
    Campaign,
    CampaignQuestion,
    CaseRequest,
    Centre,
    Created,
    Entity,
    Rating,
    Routing,
    Sector,
    TimelineEntry,
    campaign_for,
)

__all__ = [
    "Attachment",
    "Campaign",
    "CampaignQuestion",
    "CaseRequest",
    "CaseStoreClient",
    "CaseStoreError",
    "CaseStoreUnavailable",
    "Centre",
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
    "campaign_for",
]
