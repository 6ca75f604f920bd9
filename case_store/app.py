"""The aiohttp application: factory, app keys, resources in cleanup contexts, middlewares."""

from __future__ import annotations

import hmac
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot.settings import Settings, get_settings
from case_store import escalation, views
from case_store import sla as sla_module
from case_store.campaigns import Campaigns
from case_store.catalogue import Catalogue
from case_store.centre_ratings import CentreRatings
from case_store.centres import Registry
from case_store.constants import MAX_BODY_BYTES
from case_store.db import Database
from case_store.errors import ServiceError
from case_store.keys import CAMPAIGNS, CATALOGUE, CENTRE_RATINGS, CENTRES, DATABASE, SERVICE, SETTINGS
from case_store.secrets_ import Verifier
from case_store.service import CaseService, Clock, utcnow

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/healthz"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def json_error(status: int, body: dict[str, object]) -> web.Response:
    return web.json_response(body, status=status)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # A request id ties our log lines to the caller's without logging anything personal.
    # Echoed in a response header, so only a plain token is taken from the caller.
    given = request.headers.get("X-Request-Id", "")
    rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
    request["request_id"] = rid
    response = await handler(request)
    response.headers["X-Request-Id"] = rid
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    expected = f"Bearer {request.app[SETTINGS].case_store_token}".encode()
    given = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        return json_error(401, {"error": "unauthorized"})
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as exc:
        log.debug("request %s -> %s %s", request.get("request_id"), exc.status, exc.error)
        response = json_error(exc.status, exc.body())
        if exc.status == 429:
            response.headers["Retry-After"] = str(exc.body()["retry_after"])
        return response
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, {"error": "payload_too_large", "max_bytes": MAX_BODY_BYTES})
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return json_error(exc.status, {"error": (exc.reason or "error").lower().replace(" ", "_")})
        raise
    except Exception:
        # The traceback may hold payload values; log the type and request id only.
        log.error("request %s failed with an internal error", request.get("request_id"), exc_info=False)
        log.debug("internal error detail", exc_info=True)
        return json_error(500, {"error": "internal_error"})


def _resources(
    database_url: str, catalogue_path: Path | None, clock: Clock, centres_path: Path | None = None,
    campaign_paths: list[Path] | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        catalogue = Catalogue.load(catalogue_path)
        # Loaded (and validated against the catalogue) before anything is served: a bad centre
        # or campaign file stops the start with a message naming the item.
        centres = Registry.load(catalogue, centres_path)
        campaigns = Campaigns.load(catalogue, campaign_paths)
        sla = sla_module.load(settings.timezone)
        db = Database(database_url)
        app[CATALOGUE] = catalogue
        app[CENTRES] = centres
        app[CAMPAIGNS] = campaigns
        app[DATABASE] = db
        app[SERVICE] = CaseService(db, catalogue, sla, settings.case_store_encryption_key, clock, campaigns)
        app[CENTRE_RATINGS] = CentreRatings(
            db, centres, catalogue, Verifier(settings.case_store_encryption_key), sla.calendar.tz, clock
        )
        try:
            yield
        finally:
            await db.dispose()

    return ctx


def create_app(
    settings: Settings | None = None,
    database_url: str | None = None,
    *,
    catalogue_path: Path | None = None,
    clock: Clock = utcnow,
    escalation_interval: float | None = 0,
    centres_path: Path | None = None,
    campaign_paths: list[Path] | None = None,
) -> web.Application:
    """Build the case-store app. Migrations are not run here: `serve` and tests do that.

    escalation_interval: seconds between scheduled escalation sweeps (case_store/escalation.py);
    0 for none (the default here, so tests drive escalation themselves), None to read
    CASE_STORE_ESCALATION_INTERVAL (what `serve` does)."""
    settings = settings or get_settings()
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[request_id_middleware, error_middleware, auth_middleware],
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.append(
        _resources(database_url or settings.case_store_database_url, catalogue_path, clock, centres_path, campaign_paths)
    )
    app.cleanup_ctx.append(escalation.scheduler(escalation_interval))
    views.setup_routes(app)
    return app
