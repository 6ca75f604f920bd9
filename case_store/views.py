"""HTTP handlers: parse, call the service, render JSON. No business rules live here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import text

from case_store import schemas
from case_store.constants import MAX_BODY_BYTES
from case_store.errors import ValidationFailed
from case_store.keys import CATALOGUE, DATABASE, SERVICE
from case_store.service import Proof

OPENAPI = Path(__file__).resolve().parent / "openapi.yaml"


async def read_json(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
    raw = await request.read()  # raises HTTPRequestEntityTooLarge past client_max_size
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationFailed("malformed_json", None, "the body is not valid JSON") from None


def proof_from(request: web.Request) -> Proof:
    h = request.headers
    return Proof(
        requester_id=h.get("X-Requester-Id") or None,
        phone_tail=h.get("X-Verify-Phone-Tail") or None,
        pin=h.get("X-Verify-Pin") or None,
        actor=(h.get("X-Actor") or None) and h["X-Actor"][:128],
    )


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed("invalid_type", name, "expected an integer") from None
    if not low <= value <= high:
        raise ValidationFailed("out_of_range", name, f"expected {low}..{high}")
    return value


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
    reason = schemas.parse_reopen(await read_json(request))
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
    sector = request.query.get("sector") or None
    if sector is not None and sector not in catalogue.sector_by_id:
        raise ValidationFailed("unknown_sector", "sector")
    limit = int_param(request, "limit", 20 if request.query.get("q") else 500, 1, 500)
    q = (request.query.get("q") or "").strip()
    if q:
        rows = [{**m.entity.to_json(), "score": m.score} for m in catalogue.search(q, sector, limit)]
    else:
        rows = [e.to_json() for e in catalogue.entities_in(sector)[:limit]]
    return web.json_response({"entities": rows})


async def outbox(request: web.Request) -> web.Response:
    after = int_param(request, "after", 0, 0, 2**62)
    limit = int_param(request, "limit", 100, 1, 500)
    events = await request.app[SERVICE].outbox(after, limit)
    next_after = events[-1]["id"] if events else after
    return web.json_response({"events": events, "next_after": next_after})


async def ack(request: web.Request) -> web.Response:
    try:
        event_id = int(request.match_info["id"])
    except ValueError:
        raise ValidationFailed("invalid_type", "id", "expected an integer") from None
    return web.json_response(await request.app[SERVICE].ack(event_id))


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
    app.router.add_get("/v1/outbox", outbox)
    app.router.add_post("/v1/outbox/{id}/ack", ack)
