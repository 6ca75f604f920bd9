"""Synthetic request history for demos and benchmarks: `python -m case_store seed --requests N`.

Realistic enough to make the dashboards say something: volume follows the season (more in
summer, when water and electricity complaints double; less on Fridays and Saturdays and during
Ramadan, when filings move to the evening), entities are weighted like real traffic (a few large
bodies take most requests), each entity has its own pace of answering so some miss their SLA and
escalate level after level, and answered requests are closed, rated and sometimes reopened. All
channels and both languages appear. Due dates come from the real SLA table and working calendar.

Written straight into the tables in batches (executemany; psycopg2 sends each batch as one
multi-row INSERT), never through the API: a million requests take about a minute, not a day.
Seeded rows are marked by their idempotency key (`seed:`). No notify address is set, so no
seeded request ever produces a message to anyone. No timeline rows are written (the escalations
log is). The command refuses to run with BEKH_ENV=production, or on a database that holds any
request it did not seed.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection, Engine, create_engine

from bot.refcode import damm_digit
from bot.request_rules import PILLARS
from bot.settings import env as read_env
from bot.settings import get_settings, local_timezone
from case_store import kpi_rollup
from case_store.catalogue import Catalogue
from case_store.constants import UTC
from case_store.db import sync_url
from case_store.models import Escalation, Request
from case_store.sla import SLA

SEED_KEY_PREFIX = "seed:"
BATCH = 5000

# Ramadan (first and last day) in the years the seeds span, as the Jordanian calendar observed or
# expects it; the dates only shift the volume, nothing depends on them being exact to the day.
RAMADAN = (
    (dt.date(2022, 4, 2), dt.date(2022, 5, 1)),
    (dt.date(2023, 3, 23), dt.date(2023, 4, 20)),
    (dt.date(2024, 3, 11), dt.date(2024, 4, 9)),
    (dt.date(2025, 3, 1), dt.date(2025, 3, 29)),
    (dt.date(2026, 2, 18), dt.date(2026, 3, 19)),
    (dt.date(2027, 2, 8), dt.date(2027, 3, 9)),
)
# Month -> relative volume (summer heat, school start in September, a quiet winter holiday).
SEASON = {1: 0.85, 2: 0.9, 3: 0.95, 4: 1.0, 5: 1.05, 6: 1.25, 7: 1.4, 8: 1.35, 9: 1.15, 10: 1.0, 11: 0.95, 12: 0.85}
SUMMER_SECTORS = ("water", "energy")
# Friday and Saturday are the weekend in Jordan (Python: Monday=0).
WEEKDAY = {0: 1.0, 1: 1.0, 2: 0.95, 3: 0.9, 4: 0.45, 5: 0.55, 6: 1.1}
# Relative traffic of each sector (the large service bodies dominate).
SECTOR_WEIGHT = {
    "civil_status_identity": 9, "transport_licensing": 10, "municipal_services": 14, "water": 12, "energy": 9,
    "health": 12, "education": 8, "labour_social": 7, "finance_tax": 6, "interior_security": 4,
    "justice_integrity": 3, "economy_trade_investment": 3, "agriculture_environment": 2, "digital_telecom": 3,
    "tourism_culture_religion": 2, "housing_public_works": 3, "public_administration": 2,
}
TYPES = (("complaint", 45), ("inquiry", 30), ("suggestion", 10), ("compliment", 8), ("report", 7))
CHANNEL_MIX = (("messenger", 40), ("sms", 20), ("voice", 14), ("contact_center", 16), ("web", 10))
PILLAR_WEIGHT = {"service_quality": 30, "delivery_time": 28, "employee_behaviour": 14, "procedures": 18, "infrastructure": 10}


PRODUCTION_REFUSAL = "refusing to seed: BEKH_ENV=production. Seeded history is for demos and benchmarks only."


class SeedRefused(RuntimeError):
    """The seeding would touch data it must not: the message says why and what to do."""


def refuse_in_production(env: str | None = None) -> str:
    """The mode (BEKH_ENV unless given); SeedRefused in production."""
    mode = env or read_env("BEKH_ENV", "dev") or "dev"
    if mode == "production":
        raise SeedRefused(PRODUCTION_REFUSAL)
    return mode


@dataclass(frozen=True)
class SeedResult:
    requests: int
    escalations: int
    seconds: float


def _cum(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _ramadan(day: dt.date) -> bool:
    return any(a <= day <= b for a, b in RAMADAN)


class _Generator:
    def __init__(self, catalogue: Catalogue, sla: SLA, since: dt.date, until: dt.date, now: dt.datetime, seed: int) -> None:
        self.rng = random.Random(seed)
        self.sla, self.now, self.tz = sla, now, sla.calendar.tz
        self.days = [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]
        self.day_cum = _cum([self._day_weight(d) for d in self.days])
        entities = catalogue.entities
        # Within a sector, the first-listed bodies (the big ones) take most of the traffic (Zipf).
        self.entities = entities
        base = []
        for e in entities:
            peers = [x.id for x in entities if x.sector == e.sector]
            base.append(SECTOR_WEIGHT.get(e.sector, 2) / sum(1 / (i + 1) for i in range(len(peers))) / (peers.index(e.id) + 1))
        summer = [w * (2.0 if e.sector in SUMMER_SECTORS else 1.0) for w, e in zip(base, entities)]
        self.entity_cum_normal, self.entity_cum_summer = _cum(base), _cum(summer)
        # Each entity's pace: answers take pace x its SLA on median (lognormal spread).
        self.pace = {e.id: math.exp(self.rng.gauss(-0.45, 0.4)) for e in entities}
        self.types, self.type_cum = [t for t, _ in TYPES], _cum([w for _, w in TYPES])
        self.channels, self.channel_cum = [c for c, _ in CHANNEL_MIX], _cum([w for _, w in CHANNEL_MIX])
        self.pillars = [p for p in PILLARS]
        self.pillar_cum = _cum([PILLAR_WEIGHT.get(p, 10) for p in self.pillars])
        self._due: dict[tuple[dt.date, str, str], dt.datetime] = {}
        self.references: set[str] = set()

    def _day_weight(self, day: dt.date) -> float:
        w = SEASON[day.month] * WEEKDAY[day.weekday()]
        return w * (0.75 if _ramadan(day) else 1.0)

    def _pick(self, items: list[Any], cum: list[float]) -> Any:
        return items[bisect.bisect_left(cum, self.rng.random() * cum[-1])]

    def due(self, type_: str, importance: str, start: dt.datetime) -> dt.datetime:
        key = (start.astimezone(self.tz).date(), type_, importance)
        found = self._due.get(key)
        if found is None:
            found = self._due[key] = self.sla.due_at(type_, importance, start)
        return found

    def reference(self) -> str:
        while True:
            body = str(100_000_000 + int(self.rng.random() * 900_000_000))  # 9 digits, never a leading 0
            ref = body + str(damm_digit(body))
            if ref not in self.references:
                self.references.add(ref)
                return ref

    def _created(self) -> dt.datetime:
        day = self._pick(self.days, self.day_cum)
        if _ramadan(day):  # after iftar rather than in office hours
            hour = self.rng.choice((10, 11, 12, 13, 20, 21, 22, 22, 23, 23))
        else:
            hour = min(23, max(0, int(self.rng.gauss(12.5, 3.5))))
        seconds = int(self.rng.random() * 3600)
        local = dt.datetime.combine(day, dt.time(hour, seconds // 60, seconds % 60), tzinfo=self.tz)
        return local.astimezone(UTC)

    def _escalate(self, type_: str, due: dt.datetime, until: dt.datetime) -> list[tuple[int, dt.datetime, dt.datetime]]:
        """The sweeps that would have run before `until`: (level, at, overdue_since), and the last due."""
        out: list[tuple[int, dt.datetime, dt.datetime]] = []
        while due < until and len(out) < 6:
            at = due + dt.timedelta(minutes=5)  # the scheduled sweep runs just after the due time
            out.append((len(out) + 1, at, due))
            due = self.due(type_, "urgent", at)
        return out

    def one(self, index: int, seed: int) -> tuple[dict[str, Any], list[tuple[int, dt.datetime, dt.datetime]]]:
        rng = self.rng
        created = self._created()
        local_day = created.astimezone(self.tz).date()
        summer = local_day.month in (6, 7, 8)
        entity = self._pick(self.entities, self.entity_cum_summer if summer else self.entity_cum_normal)
        type_ = self._pick(self.types, self.type_cum)
        channel = self._pick(self.channels, self.channel_cum)
        english = rng.random() < (0.04 if channel in ("voice", "contact_center") else 0.16)
        importance = "urgent" if rng.random() < (0.18 if type_ in ("complaint", "report") else 0.05) else "normal"
        first_due = due = self.due(type_, importance, created)
        sla_days = max(1.0, (first_due - created).total_seconds() / 86400)
        status, answered_at, reopen_count = "submitted", None, 0
        roll = rng.random()
        if roll < 0.05:
            status = "rejected"
        else:
            answer_after = dt.timedelta(days=sla_days * self.pace[entity.id] * math.exp(rng.gauss(0, 0.6)))
            if roll > 0.985:  # lost in a drawer
                answer_after = dt.timedelta(days=400)
            candidate = created + answer_after
            if candidate < self.now:
                status, answered_at = "answered", candidate
            elif created + dt.timedelta(days=1) < self.now:
                status = "in_progress"
        rating = resolved = rated_at = None
        if answered_at is not None:
            late = answered_at > first_due
            if rng.random() < 0.07:
                reopen_count = 1
                reopened_at = answered_at + dt.timedelta(days=rng.uniform(0.5, 5))
                if reopened_at < self.now:
                    again = reopened_at + dt.timedelta(days=sla_days * self.pace[entity.id] * rng.uniform(0.3, 1.5))
                    due = self.due(type_, importance, reopened_at)
                    if again < self.now:
                        answered_at = again
                    else:
                        status, answered_at = "reopened", None
                else:
                    reopen_count = 0
            if answered_at is not None and rng.random() < 0.6:
                status = "closed"
            if answered_at is not None and rng.random() < 0.38:
                quality = 3.9 - (1.1 if late else 0) - 0.9 * (self.pace[entity.id] - 0.8) - (0.6 if reopen_count else 0)
                rating = min(5, max(1, round(rng.gauss(quality, 1.1))))
                resolved = rng.random() < (0.15 + 0.17 * rating)
                rated_at = answered_at + dt.timedelta(hours=rng.uniform(1, 72))
        # Escalations: every due period that passed while the request was open.
        open_until = answered_at if answered_at is not None else (created if status == "rejected" else self.now)
        steps = self._escalate(type_, due, open_until) if status != "rejected" else []
        if steps:
            due = self.due(type_, "urgent", steps[-1][1])
        last_change = max(t for t in (created, answered_at, rated_at, steps[-1][1] if steps else None) if t is not None)
        row = {
            "reference": self.reference(),
            "idempotency_key": f"{SEED_KEY_PREFIX}{seed}:{index}",
            "type": type_,
            "sector": entity.sector,
            "entity": entity.id,
            "pillar": self._pick(self.pillars, self.pillar_cum) if type_ == "complaint" else None,
            "importance": importance,
            "description": "Synthetic request (seeded for demos and benchmarks).",
            "description_encrypted": False,
            "language": "en" if english else "ar",
            "channel": channel,
            "requester_id": f"seed_{seed}_{index % 50000}",
            "anonymous": type_ == "report" and rng.random() < 0.7,
            "confidential": type_ == "report",
            "status": status,
            "created_at": created,
            "updated_at": min(last_change, self.now),
            "due_at": due,
            "escalation_level": len(steps),
            "escalated_due_at": steps[-1][2] if steps else None,
            "reopen_count": reopen_count,
            "answer": "Synthetic answer." if answered_at is not None else None,
            "answered_at": answered_at,
            "rating_score": rating,
            "rating_resolved": resolved,
            "rated_at": rated_at if rated_at is None or rated_at < self.now else None,
        }
        if row["rated_at"] is None:
            row["rating_score"] = row["rating_resolved"] = None
        return row, steps


def _sync_engine(url: str) -> Engine:
    return create_engine(sync_url(url), future=True)


def check_allowed(conn: Connection, env: str) -> None:
    if env == "production":
        raise SeedRefused(PRODUCTION_REFUSAL)
    foreign = conn.scalar(
        select(func.count()).select_from(Request).where(~Request.idempotency_key.startswith(SEED_KEY_PREFIX))
    )
    if foreign:
        raise SeedRefused(
            f"refusing to seed: this database holds {foreign} request(s) that were not seeded (real or test data). "
            "Seed an empty database, or one that only holds seeded requests."
        )


def _role(catalogue: Catalogue, entity: str, level: int) -> str | None:
    contact = catalogue.escalation_contact(entity, level)
    return contact.role if contact else None


def _batches(gen: _Generator, catalogue: Catalogue, n: int, seed: int, first_id: int) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    reqs: list[dict[str, Any]] = []
    escs: list[dict[str, Any]] = []
    for i in range(n):
        row, steps = gen.one(i, seed)
        row["id"] = first_id + i
        reqs.append(row)
        for level, at, since in steps:
            escs.append({"request_id": row["id"], "at": at, "entity": row["entity"], "level": level,
                         "overdue_since": since, "contact_role": _role(catalogue, row["entity"], level), "actor": "system:sla"})
        if len(reqs) >= BATCH:
            yield reqs, escs
            reqs, escs = [], []
    if reqs:
        yield reqs, escs


def seed(url: str, requests: int, seed_value: int = 1, *, env: str | None = None, days: int = 730,
         now: dt.datetime | None = None, catalogue: Catalogue | None = None, sla: SLA | None = None) -> SeedResult:
    """Add `requests` synthetic requests received over the `days` before `now`."""
    from case_store import sla as sla_module

    env = refuse_in_production(env)  # before reading any secret or connecting
    settings = get_settings()
    now = now or dt.datetime.now(UTC)
    catalogue = catalogue or Catalogue.load()
    sla = sla or sla_module.load(settings.timezone)
    today = now.astimezone(sla.calendar.tz).date()
    gen = _Generator(catalogue, sla, today - dt.timedelta(days=days - 1), today, now, seed_value)
    engine = _sync_engine(url)
    started = time.perf_counter()
    n_esc = 0
    try:
        with engine.begin() as conn:
            check_allowed(conn, env)
            gen.references.update(conn.scalars(select(Request.reference)))
            first_id = int(conn.scalar(select(func.max(Request.id))) or 0) + 1
            start_index = int(conn.scalar(select(func.count()).select_from(Request)) or 0)
            gen.rng.seed(f"{seed_value}:{start_index}")
            # The rollup's triggers would recompute a cell per inserted row; one GROUP BY at the
            # end is far cheaper. The KPIs read the requests meanwhile (kpi_rollup.usable).
            kpi_rollup.pause(conn)
        try:
            for reqs, escs in _batches(gen, catalogue, requests, seed_value, first_id):
                for r in reqs:
                    r["idempotency_key"] = f"{SEED_KEY_PREFIX}{seed_value}:{start_index + r['id'] - first_id}"
                with engine.begin() as conn:
                    conn.execute(insert(Request.__table__), reqs)
                    if escs:
                        conn.execute(insert(Escalation.__table__), escs)
                n_esc += len(escs)
        finally:
            with engine.begin() as conn:
                kpi_rollup.rebuild(conn, local_timezone())
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:  # explicit ids were given: move the sequences past them
                for table in ("requests", "escalations"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"GREATEST((SELECT max(id) FROM {table}), 1))"))
            # Statistics for the planner, and the visibility map that lets the KPI queries use an
            # index-only scan (autovacuum would get there later on its own).
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE requests"))
                conn.execute(text("VACUUM ANALYZE escalations"))
        else:
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return SeedResult(requests, n_esc, time.perf_counter() - started)
