"""`python -m case_store serve|migrate|list|show|move|escalate|seed|rollup|centres` (see --help of each).

The admin commands stand in for the back office of the national platform: `move` is an entity
answering, `escalate` one SLA sweep by hand (`serve` also sweeps by itself every
CASE_STORE_ESCALATION_INTERVAL seconds, see case_store/escalation.py); `seed` writes synthetic
history for demos and benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.settings import get_settings
from case_store import migrate, sla
from case_store.catalogue import Catalogue, CatalogueError
from case_store.constants import STATUSES, UTC
from case_store.db import Database
from case_store.errors import ServiceError
from case_store.schemas import StatusInput
from case_store.service import CaseService

T = TypeVar("T")


def _database_url(args: argparse.Namespace) -> str:
    return args.database_url or get_settings().case_store_database_url


def _now(args: argparse.Namespace) -> dt.datetime | None:
    raw = getattr(args, "now", None)
    if not raw:
        return None
    value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _run_service(args: argparse.Namespace, work: Callable[[CaseService], Awaitable[T]]) -> T:
    async def main() -> T:
        settings = get_settings()
        try:
            catalogue = Catalogue.load(Path(args.catalogue) if args.catalogue else None)
        except CatalogueError:
            # Admin commands should still work while the catalogue is being fixed.
            catalogue = Catalogue([], [])
        db = Database(_database_url(args))
        try:
            service = CaseService(db, catalogue, sla.load(settings.timezone), settings.case_store_encryption_key)
            return await work(service)
        finally:
            await db.dispose()

    return asyncio.run(main())


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.privacy import install_log_redaction
    from case_store.app import create_app

    settings = get_settings()
    url = _database_url(args)
    migrate.upgrade(url)
    install_log_redaction()
    app = create_app(settings, url, catalogue_path=Path(args.catalogue) if args.catalogue else None, escalation_interval=None)
    # The default access log format has the request line, i.e. reference numbers: keep ids only.
    web.run_app(
        app,
        host=args.host or settings.case_store_host,
        port=args.port or settings.case_store_port,
        access_log_format="%{X-Request-Id}o %s %Tfs",
        print=lambda *_: None,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    migrate.upgrade(_database_url(args))
    print("case store schema is up to date")
    return 0


def _summary(r: dict[str, Any]) -> str:
    return (
        f"{r['reference_display']}  {r['status']:<11} {r['type']:<10} {r['entity']['id']:<24} "
        f"due {r['due_at']}  level {r['escalation_level']}"
    )


def cmd_list(args: argparse.Namespace) -> int:
    rows = _run_service(args, lambda s: s.recent(args.status, args.limit))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return 0
    for r in rows:
        print(_summary(r))
    if not rows:
        print("no requests" + (f" with status {args.status}" if args.status else ""))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    print(json.dumps(_run_service(args, lambda s: s.admin_get(args.reference)), ensure_ascii=False, indent=2))
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    change = StatusInput(args.status, args.actor, args.note, args.answer)
    if args.status == "answered" and not args.answer:
        print("moving to 'answered' needs --answer TEXT", file=sys.stderr)
        return 2
    r = _run_service(args, lambda s: s.set_status(args.reference, change, _now(args)))
    print(_summary(r))
    return 0


def cmd_escalate(args: argparse.Namespace) -> int:
    done = _run_service(args, lambda s: s.escalate_overdue(_now(args)))
    print(f"escalated {len(done)} request(s)")
    for ref in done:
        print(ref)
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from case_store.seed import SeedRefused, refuse_in_production, seed

    try:
        refuse_in_production()  # before the settings, which want every secret in production
        url = _database_url(args)
        migrate.upgrade(url)
        done = seed(url, args.requests, args.seed, days=args.days,
                    catalogue=Catalogue.load(Path(args.catalogue) if args.catalogue else None))
    except SeedRefused as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"seeded {done.requests} request(s) and {done.escalations} escalation(s) in {done.seconds:.1f} s")
    return 0
def cmd_rollup(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine, text

    from bot.settings import local_timezone
    from case_store import kpi_rollup
    from case_store.db import sync_url

    url = _database_url(args)
    migrate.upgrade(url)
    engine = create_engine(sync_url(url), future=True)
    try:
        with engine.begin() as conn:
            if args.rebuild:
                rows = kpi_rollup.rebuild(conn, local_timezone())
                print(f"rebuilt the KPI rollup: {rows} row(s), days in {local_timezone().key}")
            state = kpi_rollup.status(conn) or {}
            rows = conn.execute(text(f"SELECT count(*) FROM {kpi_rollup.TABLE}")).scalar()
    finally:
        engine.dispose()
    live = "paused (the KPIs read the requests)" if state.get("paused") else "live"
    print(f"kpi_daily: {rows} row(s), days in {state.get('zone')} (UTC offset {state.get('utc_offset_minutes')} min), {live}")
    if not args.rebuild and (state.get("paused") or state.get("zone") != local_timezone().key):
        print(f"the KPIs will not use it: rebuild it for {local_timezone().key} with --rebuild")
    return 0


# --- service centres (issue 13) -----------------------------------------------------------------

def _catalogue_and_centres(args: argparse.Namespace) -> tuple[Catalogue, Any]:
    from case_store.centres import Registry

    catalogue = Catalogue.load(Path(args.catalogue) if args.catalogue else None)
    return catalogue, Registry.load(catalogue)


def cmd_centres_list(args: argparse.Namespace) -> int:
    _, registry = _catalogue_and_centres(args)
    if args.json:
        print(json.dumps([c.to_json() for c in registry.centres], ensure_ascii=False))
        return 0
    for c in registry.centres:
        mark = " (illustrative)" if c.illustrative else ""
        print(f"{c.code}  {c.status:<6} {c.governorate:<8} {c.entity:<6} {c.name_en}{mark}")
    return 0


def _day(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cmd_centres_ratings(args: argparse.Namespace) -> int:
    from case_store.centre_ratings import CentreRatings
    from case_store.secrets_ import Verifier

    catalogue, registry = _catalogue_and_centres(args)
    settings = get_settings()

    async def main() -> dict[str, Any]:
        db = Database(_database_url(args))
        try:
            service = CentreRatings(db, registry, catalogue, Verifier(settings.case_store_encryption_key),
                                    sla.load(settings.timezone).calendar.tz, lambda: dt.datetime.now(UTC))
            return await service.summary(args.by, _day(args.since), _day(args.until), centre=args.centre, entity=args.entity)
        finally:
            await db.dispose()

    result = asyncio.run(main())
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{result['ratings']} rating(s), by {result['by']}")
    for row in result["rows"]:
        if result["by"] == "pillar":
            print(f"{row['key']:<20} fell short {row['short']:>5}  ({row['share']:.0%})")
            continue
        name = row.get("name_en") or ""
        short = ", ".join(f"{k} {v}" for k, v in (row.get("short") or {}).items())
        print(f"{row['key']:<20} {row['count']:>5}  avg {row['average']:.2f}  {name}" + (f"  short: {short}" if short else ""))
    return 0


def cmd_centres_posters(args: argparse.Namespace) -> int:
    from case_store.posters import PosterSettings, write_posters

    catalogue, registry = _catalogue_and_centres(args)
    poster = PosterSettings(page=args.page, sms_number=args.sms_number or "", ivr_number=args.ivr_number)
    written = write_posters(registry, catalogue, Path(args.out), poster, include_closed=args.include_closed)
    print(f"wrote {len(written)} poster(s) to {args.out} (open index.html, print on A4)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m case_store", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", help="default: CASE_STORE_DATABASE_URL")
    p.add_argument("--catalogue", help="entity catalogue YAML (default: case_store/data/catalogue.yml)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the HTTP service (migrates first)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="alembic upgrade head").set_defaults(func=cmd_migrate)
    s = sub.add_parser("list", help="recent requests")
    s.add_argument("--status", choices=STATUSES)
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--json", action="store_true", help="machine-readable (the same view the API gives)")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("show", help="one request as JSON (no confidential narrative)")
    s.add_argument("reference")
    s.set_defaults(func=cmd_show)
    s = sub.add_parser("move", help="change a request's status, as the entity would")
    s.add_argument("reference")
    s.add_argument("status", choices=STATUSES)
    s.add_argument("--note")
    s.add_argument("--answer")
    s.add_argument("--actor", default="admin:cli")
    s.add_argument("--now", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_move)
    s = sub.add_parser("escalate", help="escalate overdue open requests one level (idempotent)")
    s.add_argument("--now", help="ISO time to sweep at (default: now); for drills and tests")
    s.set_defaults(func=cmd_escalate)
    s = sub.add_parser("seed", help="add synthetic request history for demos and benchmarks (never production)")
    s.add_argument("--requests", type=int, required=True, help="how many requests to add")
    s.add_argument("--seed", type=int, default=1, help="random seed (the same seed gives the same history)")
    s.add_argument("--days", type=int, default=730, help="spread over the last DAYS days (default 730)")
    s.set_defaults(func=cmd_seed)
    s = sub.add_parser("rollup", help="the KPI rollup (kpi_daily): its state, or --rebuild it from the requests")
    s.add_argument("--rebuild", action="store_true", help="recompute it (after a change of BEKH_TIMEZONE or a failed seed)")
    s.set_defaults(func=cmd_rollup)
    centres = sub.add_parser("centres", help="service centres: the registry, their ratings, printable posters")
    csub = centres.add_subparsers(dest="centres_command", required=True)
    s = csub.add_parser("list", help="the registry (case_store/data/centres.yml or CASE_STORE_CENTRES)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_centres_list)
    s = csub.add_parser("ratings", help="rating figures per centre, entity, governorate, pillar or period")
    s.add_argument("--by", default="centre", choices=("centre", "entity", "governorate", "pillar", "day", "week", "month"))
    s.add_argument("--since", help="ISO date or time (UTC unless it says otherwise)")
    s.add_argument("--until", help="ISO date or time, exclusive")
    s.add_argument("--centre", help="only this centre code")
    s.add_argument("--entity", help="only this entity's centres")
    s.add_argument("--json", action="store_true", help="the same JSON as GET /v1/centre-ratings/summary")
    s.set_defaults(func=cmd_centres_ratings)
    s = csub.add_parser("posters", help="an A4 printable HTML poster per open centre (QR code, SMS code, IVR)")
    s.add_argument("--out", required=True, help="folder to write <code>.html and index.html into")
    s.add_argument("--page", default=os.environ.get("MESSENGER_PAGE_USERNAME") or "bekhedmetkom",
                   help="the Messenger page's username for m.me links (default: MESSENGER_PAGE_USERNAME or bekhedmetkom)")
    s.add_argument("--sms-number", default=os.environ.get("POSTER_SMS_NUMBER"),
                   help="the SMS number as printed (default: POSTER_SMS_NUMBER; none: the keyword only)")
    s.add_argument("--ivr-number", default="06 5008080", help="the contact center's number as printed")
    s.add_argument("--include-closed", action="store_true", help="also closed centres")
    s.set_defaults(func=cmd_centres_posters)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ServiceError as exc:
        print(f"error: {exc.error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
