"""Every query of the case store, in one place. Functions take the session of the caller's
unit of work and never commit: the unit of work (case_store.db) decides that."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from case_store.constants import OPEN_STATUSES
from case_store.models import (
    AccessLog,
    CentreRating,
    CentreRatingPillar,
    Escalation,
    LookupFailure,
    OutboxEvent,
    Request,
    TimelineEntry,
)


async def by_reference(session: AsyncSession, reference: str) -> Request | None:
    return (await session.scalars(select(Request).where(Request.reference == reference))).first()


async def proof_row(session: AsyncSession, reference: str) -> tuple[int, str, str | None, str | None] | None:
    """Only the columns a proof is checked against: no relationships loaded, so a found and an
    unknown reference cost the same queries (the full row is loaded once proven)."""
    row = (
        await session.execute(
            select(Request.id, Request.requester_id, Request.phone_tail_hash, Request.pin_hash).where(
                Request.reference == reference
            )
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def by_idempotency_key(session: AsyncSession, key: str) -> Request | None:
    return (await session.scalars(select(Request).where(Request.idempotency_key == key))).first()


async def reference_taken(session: AsyncSession, reference: str) -> bool:
    found = await session.scalar(select(Request.id).where(Request.reference == reference))
    return found is not None


async def recent(session: AsyncSession, status: str | None = None, limit: int = 20) -> list[Request]:
    query = select(Request).order_by(Request.created_at.desc(), Request.id.desc()).limit(limit)
    if status:
        query = query.where(Request.status == status)
    return list(await session.scalars(query))


async def overdue(session: AsyncSession, now: dt.datetime) -> list[Request]:
    """Open requests past due whose current due period has not been escalated yet."""
    query = (
        select(Request)
        .where(Request.status.in_(OPEN_STATUSES), Request.due_at < now)
        .where((Request.escalated_due_at.is_(None)) | (Request.escalated_due_at != Request.due_at))
        .order_by(Request.due_at, Request.id)
    )
    return list(await session.scalars(query))


# The key of the escalation sweep's advisory lock on PostgreSQL (any constant bigint; this one
# spells "bekhesc" in ASCII so it is recognisable in pg_locks).
SWEEP_LOCK_KEY = 0x62656B68657363


async def try_sweep_lock(session: AsyncSession) -> bool:
    """Take the sweep's lock for this transaction; False when another transaction holds it.
    Released at commit or rollback. SQLite: always True (BEGIN IMMEDIATE serialises writers)."""
    if session.bind.dialect.name != "postgresql":
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(literal(SWEEP_LOCK_KEY, BigInteger)))))


def add_escalation(session: AsyncSession, request: Request, at: dt.datetime, overdue_since: dt.datetime,
                   role: str | None, actor: str) -> None:
    session.add(Escalation(request_id=request.id, at=at, entity=request.entity, level=request.escalation_level,
                           overdue_since=overdue_since, contact_role=role, actor=actor))


async def count_requests(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Request)) or 0)


def add_timeline(request: Request, at: dt.datetime, status: str, actor: str, note: str | None) -> None:
    request.timeline.append(TimelineEntry(at=at, status=status, actor=actor, note=note))


def add_outbox(session: AsyncSession, event: str, reference: str, payload: dict[str, Any], at: dt.datetime) -> None:
    session.add(OutboxEvent(event=event, reference=reference, payload=payload, created_at=at))


def add_access(session: AsyncSession, request: Request, at: dt.datetime, actor: str, proof: str) -> None:
    session.add(AccessLog(request_id=request.id, at=at, actor=actor, proof=proof))


async def outbox_after(session: AsyncSession, after: int, limit: int, include_acked: bool = False) -> list[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.id > after).order_by(OutboxEvent.id).limit(limit)
    if not include_acked:
        query = query.where(OutboxEvent.acked_at.is_(None))
    return list(await session.scalars(query))


async def requests_by_reference(session: AsyncSession, references: set[str]) -> dict[str, Request]:
    if not references:
        return {}
    rows = await session.scalars(select(Request).where(Request.reference.in_(references)))
    return {r.reference: r for r in rows}


async def ack_outbox(session: AsyncSession, event_id: int, at: dt.datetime) -> OutboxEvent | None:
    event = await session.get(OutboxEvent, event_id)
    if event is not None and event.acked_at is None:  # re-acks keep the first time
        event.acked_at = at
    return event


async def failure_counts(session: AsyncSession, keys: list[str]) -> list[LookupFailure]:
    return list(await session.scalars(select(LookupFailure).where(LookupFailure.key.in_(keys))))


async def bump_failure(session: AsyncSession, key: str, now: dt.datetime, window: dt.timedelta) -> None:
    """Count one failure for `key` in its current window (a new window once the old expired).

    The UPDATE is one statement so concurrent failures on PostgreSQL never lose a count; the
    INSERT of a first failure may race, and the caller retries on IntegrityError.
    """
    result = await session.execute(
        update(LookupFailure)
        .where(LookupFailure.key == key, LookupFailure.window_start > now - window)
        .values(count=LookupFailure.count + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        return
    row = await session.get(LookupFailure, key)
    if row is None:
        session.add(LookupFailure(key=key, window_start=now, count=1))
    else:  # expired window: start again
        row.window_start = now
        row.count = 1
    await session.flush()


# --- service-centre ratings (issue 13) ----------------------------------------------------------

async def centre_rating_by_key(session: AsyncSession, key: str) -> CentreRating | None:
    return (await session.scalars(select(CentreRating).where(CentreRating.idempotency_key == key))).first()


async def centre_rated(session: AsyncSession, centre_id: str, local_day: str, rater_hash: str) -> bool:
    found = await session.scalar(
        select(CentreRating.id).where(
            CentreRating.centre_id == centre_id, CentreRating.local_day == local_day, CentreRating.rater_hash == rater_hash
        )
    )
    return found is not None


def _rating_window(query: Any, since: dt.datetime | None, until: dt.datetime | None) -> Any:
    if since is not None:
        query = query.where(CentreRating.created_at >= since)
    if until is not None:
        query = query.where(CentreRating.created_at < until)
    return query


async def centre_rating_rows(
    session: AsyncSession, since: dt.datetime | None, until: dt.datetime | None, centre_ids: set[str] | None = None
) -> list[tuple[str, str, int, str]]:
    """(centre_id, entity, score, local_day) of every rating in the window; the summary
    groups them in Python, since the grouping keys (governorate, week) live in the registry
    and the calendar rather than in the table."""
    query = _rating_window(select(CentreRating.centre_id, CentreRating.entity, CentreRating.score, CentreRating.local_day),
                           since, until)
    if centre_ids is not None:
        query = query.where(CentreRating.centre_id.in_(centre_ids))
    return [(r[0], r[1], r[2], r[3]) for r in (await session.execute(query)).all()]


async def centre_rating_pillar_rows(
    session: AsyncSession, since: dt.datetime | None, until: dt.datetime | None, centre_ids: set[str] | None = None
) -> list[tuple[str, str, str]]:
    """(centre_id, entity, pillar) of every pillar that fell short in the window."""
    query = _rating_window(
        select(CentreRating.centre_id, CentreRating.entity, CentreRatingPillar.pillar).join(
            CentreRatingPillar, CentreRatingPillar.rating_id == CentreRating.id
        ),
        since,
        until,
    )
    if centre_ids is not None:
        query = query.where(CentreRating.centre_id.in_(centre_ids))
    return [(r[0], r[1], r[2]) for r in (await session.execute(query)).all()]
