"""What the case store does, independent of HTTP: every public method is one unit of work.

Each method takes `now` (defaulting to the injected clock) so tests and the admin CLI can
drive SLA and escalation without sleeping.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import json
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import refcode
from bot.privacy import FieldCipher, phone_tail, requester
from case_store import repository as repo
from case_store.campaigns import Campaigns
from case_store.catalogue import Catalogue, EscalationContact
from case_store.constants import EVENT_FOR_STATUS, RATABLE, REOPENABLE, TRANSITIONS, UTC
from case_store.db import Database
from case_store.errors import (
    Conflict,
    IdempotencyKeyReused,
    InvalidReference,
    NotFound,
    NotFoundOrUnverified,
    RateLimited,
    ValidationFailed,
)
from case_store.models import Attachment, OutboxEvent, Request
from case_store.schemas import CreateInput, RatingInput, StatusInput
from case_store.secrets_ import Verifier, new_pin
from case_store.sla import SLA

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

LOOKUP_FAILURE_LIMIT = 5
LOOKUP_WINDOW = dt.timedelta(minutes=15)
REFERENCE_ATTEMPTS = 8


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def field_cipher(encryption_key: bytes) -> FieldCipher:
    """The cipher of the personal fields the store keeps (phones, addresses, PIN, confidential
    narratives). The first-format tokens were made with the key itself as the secret."""
    return FieldCipher(encryption_key, purpose="case-store-fields", legacy_secret=encryption_key)


@dataclass(frozen=True)
class Proof:
    requester_id: str | None = None
    phone_tail: str | None = None
    pin: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class ProofRow:
    """What a proof is checked against: the same shape whether the reference exists or not."""

    id: int | None
    requester_id: str
    phone_tail_hash: str | None
    pin_hash: str | None


@dataclass(frozen=True)
class CreateResult:
    request: dict[str, Any]
    created: bool
    pin: str | None


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_reference(text: str) -> str:
    try:
        return refcode.parse(text)
    except refcode.ReferenceError_ as exc:
        raise InvalidReference(exc.code) from None


class CaseService:
    def __init__(
        self,
        db: Database,
        catalogue: Catalogue,
        sla: SLA,
        encryption_key: bytes,
        clock: Clock = utcnow,
        campaigns: Campaigns | None = None,
    ) -> None:
        self.db = db
        self.catalogue = catalogue
        self.campaigns = campaigns or Campaigns([])
        self.sla = sla
        self.cipher = field_cipher(encryption_key)
        self.verifier = Verifier(encryption_key)
        self.clock = clock
        # Stand-ins checked when a reference is unknown, so an unknown and an unproven reference
        # cost the same work (issue 10, item 9). Random per process: they never match a proof.
        self._dummy = ProofRow(
            id=None,
            requester_id="dummy_" + secrets.token_hex(16),
            phone_tail_hash=secrets.token_hex(32),
            pin_hash=secrets.token_hex(32),
        )

    # --- views -------------------------------------------------------------------------------

    def view(self, r: Request, *, include_private: bool = False) -> dict[str, Any]:
        """The request as the API returns it. Confidential descriptions never leave the store."""
        entity = self.catalogue.entity_by_id.get(r.entity)
        out: dict[str, Any] = {
            "reference": r.reference,
            "reference_display": refcode.format_grouped(r.reference),
            "type": r.type,
            "status": r.status,
            "sector": r.sector,
            "entity": entity.brief() if entity else {"id": r.entity, "name_ar": None, "name_en": None},
            "pillar": r.pillar,
            "importance": r.importance,
            "language": r.language,
            "channel": r.channel,
            "created_at": _iso(r.created_at),
            "due_at": _iso(r.due_at),
            "escalation_level": r.escalation_level,
            "answer": r.answer,
            "rating": None,
            "timeline": [{"at": _iso(t.at), "status": t.status, "actor": t.actor, "note": t.note} for t in r.timeline],
            "attachments": [{"url": a.url, "media_type": a.media_type} for a in r.attachments],
            "confidential": r.confidential,
            "anonymous": r.anonymous,
            "campaign": r.campaign,
        }
        if r.campaign is not None:
            out["campaign_answers"] = dict(r.campaign_answers or {})
        if not r.confidential:
            out["description"] = r.description
        elif include_private:
            out["description"] = self.cipher.decrypt(r.description) if r.description_encrypted else r.description
        if r.rating_score is not None:
            out["rating"] = {
                "score": r.rating_score,
                "resolved": r.rating_resolved,
                "comment": r.rating_comment,
                "rated_at": _iso(r.rated_at),
            }
        return out

    def _event_payload(self, r: Request, **extra: Any) -> dict[str, Any]:
        # Contact addresses stay encrypted in the request row; the outbox endpoint adds the
        # decrypted notify target when the notifier reads the event.
        return {
            "reference": r.reference,
            "type": r.type,
            "status": r.status,
            "language": r.language,
            "channel": r.channel,
            "entity": r.entity,
            "escalation_level": r.escalation_level,
            "due_at": _iso(r.due_at),
            **extra,
        }

    # --- create ------------------------------------------------------------------------------

    def request_digest(self, data: CreateInput, anonymous_given: bool | None, key: str) -> str:
        """Keyed digest of the validated body (so key order, spacing or phone formatting of a
        retry do not matter, but every value does, the requester id included)."""
        body = dataclasses.asdict(data)
        # Fields added with campaigns enter the digest only when used, so the digest of every
        # other body (and of requests filed before them) is what it always was.
        for name in ("campaign", "campaign_answers"):
            if not body.get(name):
                body.pop(name, None)
        canonical = json.dumps(
            {**body, "anonymous_given": anonymous_given},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return self.verifier.request_digest(key, canonical)

    async def create(
        self, data: CreateInput, anonymous_given: bool | None, key: str, now: dt.datetime | None = None
    ) -> CreateResult:
        now = now or self.clock()
        digest = self.request_digest(data, anonymous_given, key)
        entity = self.catalogue.entity_by_id.get(data.entity)
        if data.sector not in self.catalogue.sector_by_id:
            raise ValidationFailed("unknown_sector", "sector")
        if entity is None:
            raise ValidationFailed("unknown_entity", "entity")
        if entity.sector != data.sector:
            raise ValidationFailed("entity_not_in_sector", "entity")
        if data.campaign is not None:
            self._check_campaign(data)

        for _ in range(REFERENCE_ATTEMPTS):
            reference = refcode.generate()
            try:
                return await self.db.write(
                    lambda s, ref=reference: self._insert(s, data, anonymous_given, key, digest, ref, now)  # type: ignore[misc]
                )
            except IntegrityError:
                # Either a concurrent create with the same key won (a replay), or the random
                # reference collided (try another). The UNIQUE constraints decide, not a pre-check.
                existing = await self.db.read_with(lambda s: repo.by_idempotency_key(s, key))
                if existing is not None:
                    return self._replay(existing, data, digest)
        raise RuntimeError("could not allocate a unique reference number")

    def _check_campaign(self, data: CreateInput) -> None:
        """A campaign's request is a complaint to the campaign's entity, answering only its
        questions (case_store/campaigns.py)."""
        campaign = self.campaigns.by_id.get(data.campaign or "")
        if campaign is None or not campaign.active:
            raise ValidationFailed("unknown_campaign", "campaign")
        if data.type != "complaint":
            raise ValidationFailed("campaign_not_complaint", "campaign", "a campaign's requests are complaints")
        if data.entity != campaign.entity:
            raise ValidationFailed("entity_not_in_campaign", "entity", f"campaign {campaign.id} goes to {campaign.entity}")
        asked = {q.id for q in campaign.questions}
        for qid, _ in data.campaign_answers:
            if qid not in asked:
                raise ValidationFailed("invalid_value", f"campaign_answers.{qid}", "not a question of this campaign")

    def _due_at(self, data: CreateInput, now: dt.datetime) -> dt.datetime:
        campaign = self.campaigns.by_id.get(data.campaign or "")
        if campaign is not None:
            return self.sla.due_in_days(campaign.sla_days, now)
        return self.sla.due_at(data.type, data.importance, now)

    def _replay(self, r: Request, data: CreateInput, digest: str) -> CreateResult:
        """The original request for a retry of the same body; 422 for anything else.

        Rows from before migration 0002 have no digest: they are replayed only when the
        requester id and the type, sector and entity (the plaintext columns a retry must
        repeat) are the same, so a stranger's body cannot fetch them either.
        """
        if r.idempotency_digest is not None:
            same = hmac.compare_digest(r.idempotency_digest, digest)
        else:
            same = _same(data.requester_id, r.requester_id) and (data.type, data.sector, data.entity) == (
                r.type,
                r.sector,
                r.entity,
            )
        if not same:
            log.info("idempotency key reused with a different body")
            raise IdempotencyKeyReused()
        return CreateResult(self.view(r), created=False, pin=self.cipher.decrypt(r.pin_enc))

    async def _insert(
        self,
        s: AsyncSession,
        data: CreateInput,
        anonymous_given: bool | None,
        key: str,
        digest: str,
        reference: str,
        now: dt.datetime,
    ) -> CreateResult:
        existing = await repo.by_idempotency_key(s, key)
        if existing is not None:
            return self._replay(existing, data, digest)
        confidential = data.type == "report"
        # The anonymous-report rule (bot/privacy.py), applied here too whatever the client sent:
        # an anonymous request keeps no id of the person, no phone and no reply address.
        who = requester(data.type, anonymous=anonymous_given, idempotency_key=key,
                        requester_id=data.requester_id, contact_phone=data.contact_phone)
        anonymous, phone = who.anonymous, who.contact_phone
        pin = new_pin() if confidential else None
        r = Request(
            reference=reference,
            idempotency_key=key,
            idempotency_digest=digest,
            type=data.type,
            sector=data.sector,
            entity=data.entity,
            pillar=data.pillar,
            importance=data.importance,
            description=self.cipher.encrypt(data.description) if confidential else data.description,
            description_encrypted=confidential,
            language=data.language,
            channel=data.channel,
            requester_id=who.requester_id,
            entered_by=data.entered_by,
            contact_phone_enc=self.cipher.encrypt(phone),
            phone_tail_hash=self.verifier.digest("phone", reference, phone_tail(phone)) if phone else None,
            anonymous=anonymous,
            confidential=confidential,
            notify_channel=None if anonymous else data.notify_channel,
            notify_address_enc=None if anonymous else self.cipher.encrypt(data.notify_address),
            pin_hash=self.verifier.digest("pin", reference, pin) if pin else None,
            pin_enc=self.cipher.encrypt(pin),
            status="submitted",
            created_at=now,
            updated_at=now,
            due_at=self._due_at(data, now),
            escalation_level=0,
            campaign=data.campaign,
            campaign_answers=dict(data.campaign_answers) if data.campaign else None,
        )
        r.attachments = [Attachment(url=a.url, media_type=a.media_type) for a in data.attachments]
        r.timeline = []
        repo.add_timeline(r, now, "submitted", data.entered_by or "citizen", None)
        s.add(r)
        repo.add_outbox(s, "created", reference, self._event_payload(r), now)
        await s.flush()  # surfaces IntegrityError inside this unit of work
        log.info("request created type=%s channel=%s", data.type, data.channel)
        return CreateResult(self.view(r), created=True, pin=pin)

    # --- lookup with proof -------------------------------------------------------------------

    def _proven(self, row: ProofRow, reference: str, proof: Proof) -> str | None:
        """Which proof matched ("requester_id", "phone_tail", "pin"), or None.

        Every factor given is checked, and against the stand-in row when the reference is
        unknown, with no early exit: the work depends only on which headers were sent, never
        on whether the reference exists or what it stores (issue 10, item 9).
        """
        dummy = self._dummy
        given_requester = proof.requester_id or ""
        given_tail = (proof.phone_tail or "").strip()
        given_pin = (proof.pin or "").strip()
        # compare_digest's time follows its second argument, so the caller's value goes there.
        requester_ok = _same(row.requester_id, given_requester)
        tail_ok = hmac.compare_digest(
            row.phone_tail_hash or dummy.phone_tail_hash or "", self.verifier.digest("phone", reference, given_tail)
        )
        pin_ok = hmac.compare_digest(row.pin_hash or dummy.pin_hash or "", self.verifier.digest("pin", reference, given_pin))
        real = row.id is not None
        if real and given_requester and requester_ok:
            return "requester_id"
        if real and given_tail and row.phone_tail_hash and tail_ok:
            return "phone_tail"
        if real and given_pin and row.pin_hash and pin_ok:
            return "pin"
        return None

    def _limit_keys(self, reference: str, proof: Proof) -> list[str]:
        keys = [f"ref:{reference}"]
        identity = proof.requester_id or proof.actor
        if identity:
            keys.append(f"who:{self.verifier.identity_key(identity)}")
        return keys

    async def _checked(self, s: AsyncSession, reference_text: str, proof: Proof, now: dt.datetime) -> Request | None:
        """The request when proven; None after counting a failure. Raises RateLimited.

        Every proof, the requester id included, obeys the failed-lookup limit (issue 10, item 3):
        a requester id's failures count against the reference and against that identity, and an
        identity past its limit is refused. What a guesser cannot do is lock the owner out: a
        phone tail or PIN can be guessed, so a reference past its limit refuses those even when
        right; a requester id cannot be guessed (only verified connectors set it, keyed), so the
        owner's own id still opens its request while strangers hammer the reference (the same
        rule as the agent console's sign-in: throttle the guesser, not the owner).
        Up to the answer, an unknown and an unproven reference run the same queries and the
        same hashing (one narrow SELECT, the proof check, the counters).
        """
        reference = parse_reference(reference_text)
        found = await repo.proof_row(s, reference)
        row = ProofRow(*found) if found is not None else self._dummy
        matched = self._proven(row, reference, proof)
        keys = self._limit_keys(reference, proof)
        blocked_until = [
            r.window_start + LOOKUP_WINDOW
            for r in await repo.failure_counts(s, keys)
            if r.count >= LOOKUP_FAILURE_LIMIT and r.window_start + LOOKUP_WINDOW > now
            and not (matched == "requester_id" and r.key.startswith("ref:"))
        ]
        if blocked_until:
            raise RateLimited(math.ceil((max(blocked_until) - now).total_seconds()))
        if matched is not None:
            request = await repo.by_reference(s, reference)
            assert request is not None  # same transaction as proof_row
            repo.add_access(s, request, now, proof.actor or "requester", matched)
            return request
        for key in keys:
            await repo.bump_failure(s, key, now, LOOKUP_WINDOW)
        return None

    async def _with_proof(
        self, reference_text: str, proof: Proof, work: Callable[[AsyncSession, Request], Any], now: dt.datetime
    ) -> Any:
        async def unit(s: AsyncSession) -> tuple[bool, Any]:
            r = await self._checked(s, reference_text, proof, now)
            if r is None:
                return False, None  # commit the failure count, then answer 404
            return True, await work(s, r)

        for _ in range(3):
            try:
                ok, result = await self.db.write(unit)
                break
            except IntegrityError:
                continue  # two first failures raced on the counter insert; count again
        else:
            raise RuntimeError("could not record a failed lookup")
        if not ok:
            raise NotFoundOrUnverified()
        return result

    async def get(self, reference: str, proof: Proof, now: dt.datetime | None = None) -> dict[str, Any]:
        async def work(_s: AsyncSession, r: Request) -> dict[str, Any]:
            return self.view(r)

        return await self._with_proof(reference, proof, work, now or self.clock())

    async def rate(
        self, reference: str, proof: Proof, rating: RatingInput, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        now = now or self.clock()

        async def work(_s: AsyncSession, r: Request) -> dict[str, Any]:
            if r.status not in RATABLE:
                raise Conflict("not_ratable")
            r.rating_score, r.rating_resolved, r.rating_comment = rating.score, rating.resolved, rating.comment
            r.rated_at = r.updated_at = now
            return self.view(r)

        return await self._with_proof(reference, proof, work, now)

    async def reopen(
        self, reference: str, proof: Proof, reason: str | None, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        now = now or self.clock()

        async def work(s: AsyncSession, r: Request) -> dict[str, Any]:
            if r.status not in REOPENABLE:
                raise Conflict("transition_not_allowed")
            r.status = "reopened"
            r.reopen_count = (r.reopen_count or 0) + 1
            r.updated_at = now
            r.due_at = self.sla.due_at(r.type, r.importance, now)
            r.escalated_due_at = None
            repo.add_timeline(r, now, "reopened", proof.actor or "citizen", reason)
            repo.add_outbox(s, "reopened", r.reference, self._event_payload(r), now)
            return self.view(r)

        return await self._with_proof(reference, proof, work, now)

    # --- back office -------------------------------------------------------------------------

    async def set_status(
        self, reference_text: str, change: StatusInput, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        now = now or self.clock()
        reference = parse_reference(reference_text)

        async def unit(s: AsyncSession) -> dict[str, Any]:
            r = await repo.by_reference(s, reference)
            if r is None:
                raise NotFound()
            if change.status not in TRANSITIONS.get(r.status, frozenset()):
                raise Conflict("transition_not_allowed")
            previous = r.status
            r.status = change.status
            r.updated_at = now
            if change.status == "answered":
                r.answer, r.answered_at = change.answer, now
            repo.add_timeline(r, now, change.status, change.actor, change.note)
            event = EVENT_FOR_STATUS.get(change.status, "status_changed")
            repo.add_outbox(s, event, r.reference, self._event_payload(r, previous_status=previous), now)
            return self.view(r)

        return await self.db.write(unit)

    async def escalate_overdue(self, now: dt.datetime | None = None, actor: str = "system:sla") -> list[str]:
        """The escalation sweep; returns the references escalated. Idempotent per due period:
        an escalated request gets a new due date in the future, so a re-run finds nothing.

        Each escalation is logged (the `escalations` table, for the operations room), told to the
        citizen (`escalated`) and to the next level's contact from the catalogue
        (`official_notice`). On PostgreSQL the sweep first takes a transaction-scoped advisory
        lock: when several case-store replicas sweep at once, one escalates and the others find
        the lock taken and do nothing (without it two could escalate the same request twice).
        SQLite's write lock (BEGIN IMMEDIATE) already lets one sweep at a time."""
        now = now or self.clock()

        async def unit(s: AsyncSession) -> list[str]:
            if not await repo.try_sweep_lock(s):
                log.info("escalation sweep skipped: another process is sweeping")
                return []
            done = []
            for r in await repo.overdue(s, now):
                old_due = r.due_at
                r.escalation_level += 1
                r.escalated_due_at = old_due
                r.due_at = self.sla.extended_due_at(r.type, old_due, now)
                r.updated_at = now
                contact = self.catalogue.escalation_contact(r.entity, r.escalation_level)
                repo.add_timeline(r, now, r.status, actor, f"escalated to level {r.escalation_level}")
                repo.add_escalation(s, r, now, old_due, contact.role if contact else None, actor)
                repo.add_outbox(s, "escalated", r.reference, self._event_payload(r, overdue_since=_iso(old_due)), now)
                if contact is not None:
                    repo.add_outbox(s, "official_notice", r.reference, self._official_payload(r, contact, old_due), now)
                done.append(r.reference)
            if done:
                log.info("escalation sweep: %d request(s) escalated", len(done))
            return done

        return await self.db.write(unit)

    def _official_payload(self, r: Request, contact: EscalationContact, overdue_since: dt.datetime) -> dict[str, Any]:
        """The next level's notice: which request, to whom, how late; never the narrative or who filed it."""
        entity = self.catalogue.entity_by_id.get(r.entity)
        return {
            "reference": r.reference,
            "type": r.type,
            "status": r.status,
            "channel": r.channel,
            "entity": r.entity,
            "entity_name": (entity.name_ar if contact.language == "ar" else entity.name_en) if entity else r.entity,
            "escalation_level": r.escalation_level,
            "role": contact.role,
            "language": contact.language,
            "overdue_since": _iso(overdue_since),
            "official": {"channel": contact.channel, "address": contact.address},
        }

    async def admin_get(self, reference_text: str) -> dict[str, Any]:
        reference = parse_reference(reference_text)

        async def unit(s: AsyncSession) -> dict[str, Any]:
            r = await repo.by_reference(s, reference)
            if r is None:
                raise NotFound()
            return self.view(r)

        return await self.db.read_with(unit)

    async def recent(self, status: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        async def unit(s: AsyncSession) -> list[dict[str, Any]]:
            return [self.view(r) for r in await repo.recent(s, status, limit)]

        return await self.db.read_with(unit)

    # --- outbox ------------------------------------------------------------------------------

    async def outbox(self, after: int, limit: int) -> list[dict[str, Any]]:
        async def unit(s: AsyncSession) -> list[dict[str, Any]]:
            events = await repo.outbox_after(s, after, limit)
            requests = await repo.requests_by_reference(s, {e.reference for e in events})
            return [self._event_json(e, requests.get(e.reference)) for e in events]

        return await self.db.read_with(unit)

    def _event_json(self, e: OutboxEvent, r: Request | None) -> dict[str, Any]:
        payload = dict(e.payload)
        notify = None
        if e.event == "official_notice":  # to the official at the next level, never to the citizen
            notify = payload.pop("official", None)
        elif r is not None and r.notify_channel and r.notify_address_enc:
            notify = {"channel": r.notify_channel, "address": self.cipher.decrypt(r.notify_address_enc)}
        payload["notify"] = notify
        if e.event == "answered" and r is not None:
            payload["answer"] = r.answer
        return {
            "id": e.id,
            "event": e.event,
            "reference": e.reference,
            "payload": payload,
            "created_at": _iso(e.created_at),
            "acked_at": _iso(e.acked_at),
        }

    async def ack(self, event_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
        now = now or self.clock()

        async def unit(s: AsyncSession) -> dict[str, Any]:
            e = await repo.ack_outbox(s, event_id, now)
            if e is None:
                raise NotFound()
            return {"id": e.id, "acked_at": _iso(e.acked_at)}

        return await self.db.write(unit)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
