"""The insights service: dashboards for the operations room, ministers and entities, and the
public page, over aiohttp (application factory, web.AppKey, cleanup_ctx for every resource).

Routes:
    GET  /                      -> /dashboard when signed in, else /public
    GET  /public                the citizens' page (no sign-in; national and per-entity only)
    GET  /public/export/<t>.csv a public table as CSV
    GET  /login                 the sign-in page;  POST /api/login {username, password}
    POST /api/logout            (X-CSRF-Token)
    GET  /dashboard             the signed-in account's view (its role decides: insights/scope.py)
    GET  /api/panel?view=       the figures panel alone (the page refreshes itself with it)
    GET  /api/figures           the same figures as JSON
    GET  /export/<t>.csv        a table of the signed-in view as CSV
    GET  /report?month=YYYY-MM  the monthly Cabinet report (print CSS)
    GET  /healthz               the three databases answer
    GET  /static/<file>         CSS and JS (no CDN)
Accounts, sessions, CSRF and login throttling are channels/accounts.py, the agent console's:
only the roles ops_room, minister and entity sign in here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from bot.bounded_json import parse_json
from bot.i18n import lang_or_default
from bot.settings import env, get_settings
from bot.sql import INSIGHTS, migrate, sync_engine
from channels.accounts import AccountStore, Session, csrf_ok
from channels.agent_tables import agents, audit
from insights import broker, pages, views
from insights.analytics import Folder
from insights.scope import OPS_ROOM, PUBLIC, Scope

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "bekh_insights"
LANG_COOKIE = "bekh_insights_lang"
CSRF_HEADER = "X-CSRF-Token"
DASHBOARD_ROLES = ("ops_room", "minister", "entity")
MAX_BODY = 4096
_TABLE = re.compile(r"^[a-z_]{1,20}$")
_MONTH = re.compile(r"^(20[0-9]{2})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class InsightsConfig:
    host: str = "127.0.0.1"
    port: int = 8900
    analytics_url: str = ""
    accounts_url: str | None = None
    case_store_url: str = ""
    broker_url: str = "none"
    broker_queue: str = "bekh_events"
    poll_seconds: float = 2.0
    refresh_seconds: int = 30  # how often an open page fetches its figures again
    quiet_minutes: float = 30.0  # a request form silent this long counts as left unfinished
    cache_seconds: float = 15.0  # a view computed for one viewer serves the same view to others this long
    secure_cookies: bool = False
    trusted_proxies: int = 0


def load_config() -> InsightsConfig:
    from bot.launcher import DEFAULT_EVENT_QUEUE, event_broker_url
    from insights.case_store_source import database_url

    raw_port = env("INSIGHTS_PORT", "8900") or "8900"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ValueError(f"Config 'INSIGHTS_PORT' is {raw_port!r}: give a TCP port (1-65535)")
    return InsightsConfig(
        host=env("INSIGHTS_HOST", "127.0.0.1") or "127.0.0.1",
        port=int(raw_port),
        analytics_url=INSIGHTS.default_url(),
        accounts_url=env("AGENT_CONSOLE_DATABASE_URL"),
        case_store_url=database_url(),
        broker_url=event_broker_url(),
        broker_queue=env("EVENT_BROKER_QUEUE", DEFAULT_EVENT_QUEUE) or DEFAULT_EVENT_QUEUE,
        poll_seconds=float(env("INSIGHTS_BROKER_POLL_SECONDS", "2") or 2),
        refresh_seconds=max(int(env("INSIGHTS_REFRESH_SECONDS", "30") or 30), 1),
        quiet_minutes=max(float(env("INSIGHTS_QUIET_MINUTES", "30") or 30), 0.0),
        cache_seconds=max(float(env("INSIGHTS_CACHE_SECONDS", "15") or 15), 0.0),
        secure_cookies=get_settings().public_base_url.startswith("https://"),
    )


CONFIG = web.AppKey("config", InsightsConfig)
ACCOUNTS = web.AppKey("accounts", AccountStore)
ANALYTICS = web.AppKey("analytics", Engine)
CASES = web.AppKey("cases", Engine)
SOURCES = web.AppKey("sources", views.Sources)
NAMES = web.AppKey("names", tuple)  # (entity_name, sector_name)
CACHE = web.AppKey("cache", dict)  # (scope, language, period) -> (monotonic time, Dashboard)
READER = web.AppKey("reader", object)  # broker.Running, or None when no broker is read


# --- resources -----------------------------------------------------------------------------------

async def _stores(app: web.Application) -> AsyncIterator[None]:
    from case_store.catalogue import Catalogue
    from insights.case_store_source import read_only_engine

    cfg = app[CONFIG]
    migrate(INSIGHTS, cfg.analytics_url)
    app[ACCOUNTS] = AccountStore(cfg.accounts_url)
    app[ANALYTICS] = sync_engine(cfg.analytics_url)
    app[CASES] = read_only_engine(cfg.case_store_url)
    catalogue = Catalogue.load()
    accounts = app[ACCOUNTS]

    def entity_name(entity_id: str, lang: str) -> str:
        e = catalogue.entity_by_id.get(entity_id)
        return (e.name_ar if lang == "ar" else e.name_en) if e else entity_id

    def sector_name(sector_id: str, lang: str) -> str:
        s = catalogue.sector_by_id.get(sector_id)
        return (s.name_ar if lang == "ar" else s.name_en) if s else sector_id

    def agent_filings(since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
        """Requests filed through the console, per agent (the console's audit trail)."""
        with accounts.engine.connect() as conn:
            rows = conn.execute(
                select(agents.c.display_name, func.count()).join(agents, agents.c.id == audit.c.agent_id)
                .where(audit.c.action == "request_created", audit.c.at >= since, audit.c.at < until)
                .group_by(agents.c.display_name).order_by(func.count().desc())
            ).all()
        return [{"agent": name, "filed": int(n)} for name, n in rows]

    app[SOURCES] = views.Sources(app[CASES], app[ANALYTICS], entity_name, sector_name, agent_filings,
                                 dt.timedelta(minutes=cfg.quiet_minutes))
    app[NAMES] = (entity_name, sector_name)
    yield
    app[ACCOUNTS].engine.dispose()
    app[ANALYTICS].dispose()
    app[CASES].dispose()


async def _consumer(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    async with broker.consuming(cfg.broker_url, cfg.broker_queue, Folder(app[ANALYTICS]), cfg.poll_seconds) as running:
        app[READER] = running
        yield


async def _stop_reading(app: web.Application) -> None:
    """On shutdown, before aiohttp waits for running tasks: the reader never ends by itself."""
    running = app.get(READER)
    if isinstance(running, broker.Running):
        await running.stop()


# --- helpers -------------------------------------------------------------------------------------

def _lang(request: web.Request) -> str:
    return lang_or_default(request.query.get("lang") or request.cookies.get(LANG_COOKIE) or "ar")


def _html(body: str, lang: str | None = None, status: int = 200) -> web.Response:
    resp = web.Response(text=body, content_type="text/html", charset="utf-8", status=status, headers=pages.SECURITY_HEADERS)
    if lang:
        resp.set_cookie(LANG_COOKIE, lang, samesite="Strict", path="/", httponly=True)
    return resp


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _client_ip(request: web.Request) -> str:
    return (request.remote or "unknown")[:64]


async def _session(request: web.Request) -> Session | None:
    store = request.app[ACCOUNTS]
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None
    return await store.run(store.session, token, DASHBOARD_ROLES)


def scope_of(session: Session) -> Scope:
    """The one place a dashboard account becomes what it may see (insights/scope.py)."""
    a = session.agent
    if a.role == "ops_room":
        return OPS_ROOM
    if a.role == "minister":
        return Scope("minister", sector=a.sector)
    if a.role == "entity":
        return Scope("entity", entity=a.entity)
    raise web.HTTPForbidden()


def _scope_name(app: web.Application, scope: Scope, lang: str) -> str:
    entity_name, sector_name = app[NAMES]
    if scope.entity:
        return str(entity_name(scope.entity, lang))
    if scope.sector:
        return str(sector_name(scope.sector, lang))
    return ""


def _period(request: web.Request) -> str:
    p = request.query.get("period", views.DEFAULT_PERIOD)
    if p not in views.PERIODS:
        raise web.HTTPBadRequest(text=f"period must be one of {', '.join(views.PERIODS)}")
    return p


async def _build(request: web.Request, scope: Scope, lang: str, period: str, now: dt.datetime | None = None) -> views.Dashboard:
    """The view, computed at most once per `cache_seconds` for the same scope, language and period:
    the public page and the live refresh of many open pages would otherwise repeat the same queries."""
    cache = request.app[CACHE]
    key = (scope, lang, period)
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < request.app[CONFIG].cache_seconds:
        return hit[1]
    d = await asyncio.to_thread(views.build, scope.role, scope, lang, period, request.app[SOURCES], now)
    if len(cache) > 500:  # scopes x languages x periods stays small; this only bounds a surprise
        cache.clear()
    cache[key] = (time.monotonic(), d)
    return d


async def _signed_in(request: web.Request) -> tuple[Session, Scope]:
    s = await _session(request)
    if s is None:
        raise web.HTTPUnauthorized(text="not signed in", headers={"Cache-Control": "no-store"})
    return s, scope_of(s)


async def _page_session(request: web.Request) -> tuple[Session, Scope, str]:
    """A page's signed-in account, its scope and language; to the sign-in page when there is none."""
    s = await _session(request)
    lang = _lang(request)
    if s is None:
        raise web.HTTPFound(f"/login?lang={lang}")
    return s, scope_of(s), lang


# --- routes --------------------------------------------------------------------------------------

routes = web.RouteTableDef()


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    target = "/dashboard" if await _session(request) else "/public"
    raise web.HTTPFound(target)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    def check() -> None:
        for engine in (request.app[ANALYTICS], request.app[CASES], request.app[ACCOUNTS].engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))

    try:
        await asyncio.to_thread(check)
    except Exception as exc:
        return _json({"ok": False, "error": type(exc).__name__}, 503)
    return _json({"ok": True})


@routes.get("/public")
async def public(request: web.Request) -> web.Response:
    lang = _lang(request)
    now = dt.datetime.now(dt.timezone.utc)
    d = await _build(request, PUBLIC, lang, _period(request), now)
    html = pages.dashboard_page(d, who="", scope_name="", csrf="", base="/public", csv_base="/public/export", now=now,
                                report_href=None, refresh_seconds=request.app[CONFIG].refresh_seconds)
    return _html(html, lang)


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    lang = _lang(request)
    return _html(pages.login_page(lang), lang)


@routes.post("/api/login")
async def login(request: web.Request) -> web.Response:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return _json({"error": "too_large"}, 413)
    try:
        body = parse_json(raw)
    except ValueError:
        return _json({"error": "bad_request"}, 400)
    username, password = (body.get("username"), body.get("password")) if isinstance(body, dict) else (None, None)
    if not isinstance(username, str) or not isinstance(password, str) or len(password) > 1024:
        return _json({"error": "bad_request"}, 400)
    store = request.app[ACCOUNTS]
    result = await store.run(store.login, username, password, _client_ip(request), DASHBOARD_ROLES)
    if result.outcome == "rate_limited":
        return _json({"error": "rate_limited", "retry_after": result.retry_after}, 429)
    if result.outcome in ("disabled", "wrong_room"):
        return _json({"error": "not_a_dashboard_account" if result.outcome == "wrong_room" else "account_disabled"}, 403)
    if result.outcome != "ok" or result.agent is None or result.session_token is None:
        return _json({"error": "bad_credentials"}, 401)
    resp = _json({"account": result.agent.public(), "csrf_token": result.csrf_token})
    resp.set_cookie(COOKIE, result.session_token, httponly=True, samesite="Strict", secure=request.app[CONFIG].secure_cookies,
                    path="/")
    return resp


@routes.post("/api/logout")
async def logout(request: web.Request) -> web.Response:
    s = await _session(request)
    if s is None:
        return _json({"error": "not_signed_in"}, 401)
    if not csrf_ok(request.headers.get(CSRF_HEADER), s.csrf_token):
        return _json({"error": "csrf_token_missing_or_wrong"}, 403)
    store = request.app[ACCOUNTS]
    await store.run(store.logout, request.cookies.get(COOKIE, ""))
    resp = _json({"ok": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


@routes.get("/dashboard")
async def dashboard(request: web.Request) -> web.Response:
    s, scope, lang = await _page_session(request)
    now = dt.datetime.now(dt.timezone.utc)
    d = await _build(request, scope, lang, _period(request), now)
    month = (now.date().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    html = pages.dashboard_page(d, who=s.agent.display_name, scope_name=_scope_name(request.app, scope, lang), csrf=s.csrf_token,
                                base="/dashboard", csv_base="/export", now=now, report_href=f"/report?month={month}&lang={lang}",
                                refresh_seconds=request.app[CONFIG].refresh_seconds)
    return _html(html, lang)


@routes.get("/api/panel")
async def panel(request: web.Request) -> web.Response:
    lang, period = _lang(request), _period(request)
    now = dt.datetime.now(dt.timezone.utc)
    if request.query.get("view") == "public":
        d = await _build(request, PUBLIC, lang, period, now)
        return _json({"html": pages.panel(d, "/public/export", now)})
    _, scope = await _signed_in(request)
    d = await _build(request, scope, lang, period, now)
    return _json({"html": pages.panel(d, "/export", now)})


def _figures_json(d: views.Dashboard) -> dict[str, Any]:
    return {
        "view": d.view, "since": d.since.isoformat(), "until": d.until.isoformat(), "grain": d.grain,
        "tables": {tb.key: tb.rows for tb in views.all_tables(d)},
    }


@routes.get("/api/figures")
async def figures(request: web.Request) -> web.Response:
    lang, period = _lang(request), _period(request)
    if request.query.get("view") == "public":
        return _json(_figures_json(await _build(request, PUBLIC, lang, period)))
    _, scope = await _signed_in(request)
    return _json(_figures_json(await _build(request, scope, lang, period)))


async def _csv(request: web.Request, scope: Scope) -> web.Response:
    name = request.match_info["table"]
    if not _TABLE.match(name):
        raise web.HTTPNotFound()
    lang = _lang(request)
    d = await _build(request, scope, lang, _period(request))
    table = next((tb for tb in views.all_tables(d) if tb.key == name), None)
    if table is None:
        raise web.HTTPNotFound()
    return web.Response(
        text=pages.table_csv(lang, table), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{d.view}-{name}-{d.since}-{d.until}.csv"', "Cache-Control": "no-store",
                 "X-Content-Type-Options": "nosniff"},
    )


@routes.get("/public/export/{table}.csv")
async def public_csv(request: web.Request) -> web.Response:
    return await _csv(request, PUBLIC)


@routes.get("/export/{table}.csv")
async def export_csv(request: web.Request) -> web.Response:
    _, scope = await _signed_in(request)
    return await _csv(request, scope)


@routes.get("/report")
async def report(request: web.Request) -> web.Response:
    _, scope, lang = await _page_session(request)
    m = _MONTH.match(request.query.get("month", ""))
    if not m:
        raise web.HTTPBadRequest(text="month must be YYYY-MM")
    first = dt.date(int(m.group(1)), int(m.group(2)), 1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    now = dt.datetime.now(dt.timezone.utc)

    d = await asyncio.to_thread(views.build, scope.role, scope, lang, "30d", request.app[SOURCES], now, (first, last, "week"))
    return _html(pages.report_page(d, first, _scope_name(request.app, scope, lang), now), lang)


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Hostile input gets a 4xx, never a 500 with a trace."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("insights: %s %s failed", request.method, request.path)
        return _json({"error": "internal"}, 500)


def make_app(config: InsightsConfig | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[errors])
    app[CONFIG] = config or load_config()
    app[CACHE] = {}
    app.cleanup_ctx.append(_stores)
    app.cleanup_ctx.append(_consumer)
    app.on_shutdown.append(_stop_reading)
    app.add_routes(routes)
    app.router.add_static("/static", STATIC, append_version=False)
    return app


def with_overrides(config: InsightsConfig, **changes: Any) -> InsightsConfig:
    return dataclasses.replace(config, **changes)
