"""Ratings of visits to service centres (issue 13, "Rate your experience"), independent of HTTP.

A rating is not a request: no reference, no status, no follow-up. One per person per centre
per local day: the rater's keyed id (bot.privacy, never a phone) is digested again with the
centre and the day (`rater_hash`), and a UNIQUE constraint decides. A retried submission with
the same Idempotency-Key is answered with the first rating, never counted twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.request_rules import PILLARS
from case_store import repository as repo
from case_store.catalogue import Catalogue
from case_store.centres import Centre, Registry
from case_store.constants import UTC
from case_store.db import Database
from case_store.errors import Conflict, IdempotencyKeyReused, UnknownCentre, ValidationFailed
from case_store.models import CentreRating, CentreRatingPillar
from case_store.schemas import CentreRatingInput
from case_store.secrets_ import Verifier

log = logging.getLogger(__name__)

GROUPINGS = ("centre", "entity", "governorate", "pillar", "day", "week", "month")


def _iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class RatingResult:
    rating: dict[str, Any]
    created: bool


class CentreRatings:
    def __init__(
        self, db: Database, registry: Registry, catalogue: Catalogue, verifier: Verifier, tz: ZoneInfo,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.db = db
        self.registry = registry
        self.catalogue = catalogue
        self.verifier = verifier
        self.tz = tz
        self.clock = clock

    # --- the registry ----------------------------------------------------------------------

    def centre(self, code: str) -> Centre:
        found = self.registry.by_code.get(code.strip()) if isinstance(code, str) else None
        if found is None:
            raise UnknownCentre()
        return found

    def centre_json(self, centre: Centre) -> dict[str, Any]:
        entity = self.catalogue.entity_by_id.get(centre.entity)
        out = centre.to_json()
        out["entity"] = entity.brief() if entity else {"id": centre.entity, "name_ar": None, "name_en": None}
        return out

    def _day(self, now: dt.datetime) -> str:
        return now.astimezone(self.tz).date().isoformat()

    def _rater_hash(self, centre: Centre, day: str, rater_id: str) -> str:
        return self.verifier.digest("centre-rater", f"{centre.id}:{day}", rater_id)

    async def lookup(self, code: str, rater_id: str | None, now: dt.datetime | None = None) -> dict[str, Any]:
        """The centre, and whether this rater already rated it today (so the bot can say so
        before asking anything)."""
        centre = self.centre(code)
        out = self.centre_json(centre)
        out["rated_today"] = False
        if rater_id:
            day = self._day(now or self.clock())
            rater_hash = self._rater_hash(centre, day, rater_id)
            out["rated_today"] = await self.db.read_with(lambda s: repo.centre_rated(s, centre.id, day, rater_hash))
        return out

    # --- rating ----------------------------------------------------------------------------

    def view(self, r: CentreRating) -> dict[str, Any]:
        centre = self.registry.by_id.get(r.centre_id)
        return {
            "id": r.id,
            "centre": self.centre_json(centre) if centre else {"id": r.centre_id},
            "score": r.score,
            "pillars": [p.pillar for p in r.pillars],
            "comment": r.comment,
            "language": r.language,
            "channel": r.channel,
            "created_at": _iso(r.created_at),
        }

    async def rate(self, code: str, data: CentreRatingInput, key: str, now: dt.datetime | None = None) -> RatingResult:
        now = now or self.clock()
        centre = self.centre(code)
        if not centre.open:
            raise Conflict("centre_closed")
        day = self._day(now)
        rater_hash = self._rater_hash(centre, day, data.rater_id)

        async def unit(s: AsyncSession) -> RatingResult:
            existing = await repo.centre_rating_by_key(s, key)
            if existing is not None:
                return self._replay(existing, centre, rater_hash)
            if await repo.centre_rated(s, centre.id, day, rater_hash):
                raise Conflict("already_rated_today")
            r = CentreRating(
                centre_id=centre.id, entity=centre.entity, score=data.score, comment=data.comment,
                language=data.language, channel=data.channel, entered_by=data.entered_by,
                rater_hash=rater_hash, local_day=day, idempotency_key=key, created_at=now,
            )
            r.pillars = [CentreRatingPillar(pillar=p) for p in data.pillars]
            s.add(r)
            await s.flush()
            log.info("centre rated channel=%s", data.channel)
            return RatingResult(self.view(r), created=True)

        try:
            return await self.db.write(unit)
        except IntegrityError:
            # A concurrent twin won: the same key (a replay) or the same person the same day.
            async def again(s: AsyncSession) -> RatingResult:
                existing = await repo.centre_rating_by_key(s, key)
                if existing is not None:
                    return self._replay(existing, centre, rater_hash)
                raise Conflict("already_rated_today")

            return await self.db.read_with(again)

    def _replay(self, r: CentreRating, centre: Centre, rater_hash: str) -> RatingResult:
        if r.centre_id != centre.id or r.rater_hash != rater_hash:
            raise IdempotencyKeyReused()
        return RatingResult(self.view(r), created=False)

    # --- figures ---------------------------------------------------------------------------

    def _group_key(self, by: str, centre_id: str, entity: str, local_day: str) -> str:
        if by == "centre":
            return centre_id
        if by == "entity":
            return entity
        if by == "governorate":
            centre = self.registry.by_id.get(centre_id)
            return centre.governorate if centre else "unknown"
        day = dt.date.fromisoformat(local_day)
        if by == "week":
            # Jordan's working week starts on Sunday (bot.working_days): a week is named by its Sunday.
            return (day - dt.timedelta(days=(day.weekday() + 1) % 7)).isoformat()
        if by == "month":
            return local_day[:7]
        return local_day

    def _label(self, by: str, key: str) -> dict[str, Any]:
        if by == "centre" and key in self.registry.by_id:
            c = self.registry.by_id[key]
            return {"name_ar": c.name_ar, "name_en": c.name_en, "code": c.code, "entity": c.entity, "governorate": c.governorate}
        if by == "entity" and key in self.catalogue.entity_by_id:
            e = self.catalogue.entity_by_id[key]
            return {"name_ar": e.name_ar, "name_en": e.name_en}
        return {}

    async def summary(
        self, by: str, since: dt.datetime | None = None, until: dt.datetime | None = None,
        centre: str | None = None, entity: str | None = None,
    ) -> dict[str, Any]:
        """Counts, average score, score distribution and the pillars that fell short, grouped by
        centre, entity, governorate, pillar or period (local day, week from Sunday, month)."""
        if by not in GROUPINGS:
            raise ValidationFailed("invalid_value", "by", f"allowed: {', '.join(GROUPINGS)}")
        ids: set[str] | None = None
        if centre is not None:
            ids = {self.centre(centre).id}
        if entity is not None:
            if entity not in self.catalogue.entity_by_id:
                raise ValidationFailed("unknown_entity", "entity")
            chosen = {c.id for c in self.registry.centres if c.entity == entity}
            ids = chosen if ids is None else ids & chosen

        async def unit(s: AsyncSession) -> tuple[list[tuple[str, str, int, str]], list[tuple[str, str, str]]]:
            return (await repo.centre_rating_rows(s, since, until, ids), await repo.centre_rating_pillar_rows(s, since, until, ids))

        ratings, pillar_rows = await self.db.read_with(unit)
        total = len(ratings)
        if by == "pillar":
            counts = Counter(p for _, _, p in pillar_rows)
            rows = [{"key": p, "short": counts.get(p, 0), "share": round(counts.get(p, 0) / total, 3) if total else 0.0}
                    for p in PILLARS]
            return {"by": by, "ratings": total, "rows": rows}
        scores: dict[str, list[int]] = defaultdict(list)
        for centre_id, ent, score, day in ratings:
            scores[self._group_key(by, centre_id, ent, day)].append(score)
        short: dict[str, Counter[str]] = defaultdict(Counter)
        if by in ("centre", "entity", "governorate"):
            for centre_id, ent, pillar in pillar_rows:
                short[self._group_key(by, centre_id, ent, "1970-01-01")][pillar] += 1
        rows = []
        for key in sorted(scores):
            values = scores[key]
            row: dict[str, Any] = {
                "key": key,
                **self._label(by, key),
                "count": len(values),
                "average": round(sum(values) / len(values), 2),
                "scores": {str(n): values.count(n) for n in range(1, 6)},
            }
            if by in ("centre", "entity", "governorate"):
                row["short"] = dict(sorted(short[key].items()))
            rows.append(row)
        return {"by": by, "ratings": total, "rows": rows}
