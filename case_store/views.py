"""HTTP handlers: parse, call the service, render JSON. No business rules live here."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import text

from bot.bounded_json import BadJson, parse_json
from case_store import schemas
from case_store.constants import MAX_BODY_BYTES, MAX_ID, UTC
from case_store.errors import UnknownCentre, ValidationFailed
from case_store.keys import CAMPAIGNS, CATALOGUE, CENTRE_RATINGS, DATABASE, SERVICE
from case_store.service import Proof

OPENAPI = Path(__file__).resolve().parent / "openapi.yaml"


# An integer parameter: ASCII digits only (int() would also take "٣", " 5" or "1_0"); a long one
# is out of range before any conversion (Python refuses int() past 4,300 digits).
_INTEGER = re.compile(r"-?[0-9]+")
_MAX_DIGITS = 19
MAX_HEADER_CHARS = 256
MAX_QUERY_CHARS = 100  # a catalogue search longer than any entity name is refused, not scored

_BAD_JSON = {
    "too_deep": "the body is nested too deeply",
    "not_utf8": "the body is not UTF-8",
    "not_json": "the body is not valid JSON",
}


async def read_json(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The JSON object in the body, through bot.bounded_json (size, then depth, then parse);
    every failure is a 4xx. `optional`: an empty body reads as {}."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
    raw = await request.read()  # raises HTTPRequestEntityTooLarge past client_max_size
    if optional and not raw.strip():
        return {}
    try:
        value: dict[str, Any] = parse_json(raw, max_bytes=MAX_BODY_BYTES, expect=dict)
    except BadJson as exc:
        if exc.reason == "too_large":
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=len(raw)) from None
        if exc.reason == "wrong_type":
            raise ValidationFailed("invalid_type", None, "expected a JSON object") from None
        raise ValidationFailed("malformed_json", None, _BAD_JSON.get(exc.reason, "the body is not valid JSON")) from None
    return value


def header(request: web.Request, name: str, max_len: int = MAX_HEADER_CHARS) -> str | None:
    """A header as text, or None when absent or empty. Bytes that are not UTF-8 (aiohttp keeps
    them as surrogates, which no database or hash accepts) and overlong values are a 400."""
    value = request.headers.get(name)
    if not value:
        return None
    if len(value) > max_len or not schemas.is_clean_text(value):
        raise ValidationFailed("invalid_value", name, f"at most {max_len} characters of UTF-8 text")
    return value


def proof_from(request: web.Request) -> Proof:
    actor = header(request, "X-Actor")
    return Proof(
        requester_id=header(request, "X-Requester-Id"),
        phone_tail=header(request, "X-Verify-Phone-Tail"),
        pin=header(request, "X-Verify-Pin"),
        actor=actor and actor[:128],
    )


def int_value(raw: str, name: str, low: int, high: int) -> int:
    if not _INTEGER.fullmatch(raw):
        raise ValidationFailed("invalid_type", name, "expected an integer")
    if len(raw.lstrip("-")) > _MAX_DIGITS or not low <= int(raw) <= high:
        raise ValidationFailed("out_of_range", name, f"expected {low}..{high}")
    return int(raw)


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return int_value(raw, name, low, high)


def text_param(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_QUERY_CHARS or not schemas.is_clean_text(raw):
        raise ValidationFailed("too_long" if len(raw) > MAX_QUERY_CHARS else "invalid_value", name,
                               f"at most {MAX_QUERY_CHARS} characters of text")
    return raw.strip()


async def healthz(request: web.Request) -> web.Response:
    async with request.app[DATABASE].read() as session:
        await session.execute(text("SELECT 1"))
    return web.json_response({"status": "ok"})


async def openapi(_request: web.Request) -> web.Response:
    return web.Response(body=OPENAPI.read_bytes(), content_type="application/yaml")


async def create_request(request: web.Request) -> web.Response:
    key = schemas.idempotency_key(request.headers.get("Idempotency-Key"))
    data, anonymous = schemas.parse_create(await read_json(request))
    result = await request.app[SERVICE].create(data, anonymous, key)
    body = dict(result.request)
    if result.pin is not None:
        body["pin"] = result.pin
    return web.json_response(body, status=201 if result.created else 200)


async def get_request(request: web.Request) -> web.Response:
    found = await request.app[SERVICE].get(request.match_info["reference"], proof_from(request))
    return web.json_response(found)


async def rate_request(request: web.Request) -> web.Response:
    rating = schemas.parse_rating(await read_json(request))
    found = await request.app[SERVICE].rate(request.match_info["reference"], proof_from(request), rating)
    return web.json_response(found)


async def reopen_request(request: web.Request) -> web.Response:
    reason = schemas.parse_reopen(await read_json(request, optional=True))
    found = await request.app[SERVICE].reopen(request.match_info["reference"], proof_from(request), reason)
    return web.json_response(found)


async def set_status(request: web.Request) -> web.Response:
    change = schemas.parse_status(await read_json(request))
    found = await request.app[SERVICE].set_status(request.match_info["reference"], change)
    return web.json_response(found)


async def sectors(request: web.Request) -> web.Response:
    return web.json_response({"sectors": [s.to_json() for s in request.app[CATALOGUE].sectors]})


async def entities(request: web.Request) -> web.Response:
    catalogue = request.app[CATALOGUE]
    sector = text_param(request, "sector")
    if sector is not None and sector not in catalogue.sector_by_id:
        raise ValidationFailed("unknown_sector", "sector")
    q = text_param(request, "q")
    limit = int_param(request, "limit", 20 if q else 500, 1, 500)
    if q:
        rows = [{**m.entity.to_json(), "score": m.score} for m in catalogue.search(q, sector, limit)]
    else:
        rows = [e.to_json() for e in catalogue.entities_in(sector)[:limit]]
    return web.json_response({"entities": rows})


async def route(request: web.Request) -> web.Response:
    """Which body a person's text addresses (Catalogue.route). POST, so the text stays out of
    URLs and access logs; nothing is stored."""
    found = schemas.parse_route(await read_json(request))
    return web.json_response(request.app[CATALOGUE].route(found.text, found.among).to_json())


async def outbox(request: web.Request) -> web.Response:
    after = int_param(request, "after", 0, 0, MAX_ID)
    limit = int_param(request, "limit", 100, 1, 500)
    events = await request.app[SERVICE].outbox(after, limit)
    next_after = events[-1]["id"] if events else after
    return web.json_response({"events": events, "next_after": next_after})


async def ack(request: web.Request) -> web.Response:
    event_id = int_value(request.match_info["id"], "id", 1, MAX_ID)
    return web.json_response(await request.app[SERVICE].ack(event_id))


# --- service centres and campaigns (issue 13) ------------------------------------------------

_CODE = re.compile(r"[0-9]{1,8}")


def centre_code(request: web.Request) -> str:
    """The code in the path; anything that is not a short run of ASCII digits is unknown."""
    code = request.match_info["code"]
    if not _CODE.fullmatch(code):
        raise UnknownCentre()
    return code


def time_param(request: web.Request, name: str) -> dt.datetime | None:
    raw = text_param(request, name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed("invalid_value", name, "expected an ISO date or date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def centres(request: web.Request) -> web.Response:
    service = request.app[CENTRE_RATINGS]
    return web.json_response({"centres": [service.centre_json(c) for c in service.registry.centres]})


async def centre(request: web.Request) -> web.Response:
    found = await request.app[CENTRE_RATINGS].lookup(centre_code(request), header(request, "X-Requester-Id"))
    return web.json_response(found)


async def rate_centre(request: web.Request) -> web.Response:
    code = centre_code(request)
    key = schemas.idempotency_key(request.headers.get("Idempotency-Key"))
    data = schemas.parse_centre_rating(await read_json(request))
    result = await request.app[CENTRE_RATINGS].rate(code, data, key)
    return web.json_response(result.rating, status=201 if result.created else 200)


async def centre_rating_summary(request: web.Request) -> web.Response:
    by = text_param(request, "by") or "centre"
    body = await request.app[CENTRE_RATINGS].summary(
        by, time_param(request, "since"), time_param(request, "until"),
        centre=text_param(request, "centre"), entity=text_param(request, "entity"),
    )
    return web.json_response(body)


async def campaigns(request: web.Request) -> web.Response:
    return web.json_response({"campaigns": [c.to_json() for c in request.app[CAMPAIGNS].campaigns if c.active]})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/openapi.yaml", openapi)
    app.router.add_post("/v1/requests", create_request)
    app.router.add_get("/v1/requests/{reference}", get_request)
    app.router.add_post("/v1/requests/{reference}/rating", rate_request)
    app.router.add_post("/v1/requests/{reference}/reopen", reopen_request)
    app.router.add_post("/v1/requests/{reference}/status", set_status)
    app.router.add_get("/v1/catalogue/sectors", sectors)
    app.router.add_get("/v1/catalogue/entities", entities)
    app.router.add_post("/v1/catalogue/route", route)
    app.router.add_get("/v1/outbox", outbox)
    app.router.add_post("/v1/outbox/{id}/ack", ack)
    app.router.add_get("/v1/centres", centres)
    app.router.add_get("/v1/centres/{code}", centre)
    app.router.add_post("/v1/centres/{code}/ratings", rate_centre)
    app.router.add_get("/v1/centre-ratings/summary", centre_rating_summary)
    app.router.add_get("/v1/campaigns", campaigns)
