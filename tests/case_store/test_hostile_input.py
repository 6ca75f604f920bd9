"""Hostile input gets a 4xx and changes nothing (issue 10, item 5), on SQLite and PostgreSQL.
The fuzzing in test_fuzz_openapi.py searches more widely; these pin the cases seen in the wild."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from service_fixtures import Running, complaint
from sqlalchemy import func, select

from bot import refcode
from case_store.models import Request

JSON = {"Content-Type": "application/json"}


async def count_rows(store: Running) -> int:
    async with store.service.db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(Request)) or 0)


async def answer(resp: aiohttp.ClientResponse) -> tuple[int, dict[str, object]]:
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


async def test_deeply_nested_json_is_400_on_every_body(store: Running, http: aiohttp.ClientSession) -> None:
    ref = refcode.generate()
    for nested in ("[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000):
        for path in ("/v1/requests", f"/v1/requests/{ref}/rating", f"/v1/requests/{ref}/reopen", f"/v1/requests/{ref}/status"):
            async with http.post(path, data=nested.encode(), headers={**JSON, "Idempotency-Key": "hostile-key-01"}) as resp:
                status, body = await answer(resp)
            assert (status, body["error"]) == (400, "malformed_json"), path
    assert await count_rows(store) == 0


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
async def test_a_body_that_is_not_an_object_is_400(http: aiohttp.ClientSession, raw: bytes) -> None:
    ref = refcode.generate()
    for path in ("/v1/requests", f"/v1/requests/{ref}/rating", f"/v1/requests/{ref}/reopen", f"/v1/requests/{ref}/status"):
        async with http.post(path, data=raw, headers={**JSON, "Idempotency-Key": "hostile-key-02"}) as resp:
            assert await answer(resp) == (400, {"error": "invalid_type", "field": None, "message": "expected a JSON object"})


async def test_not_utf8_and_empty_bodies_are_400(http: aiohttp.ClientSession) -> None:
    for raw in (b"\xff\xfe{}", b"", b"  "):
        async with http.post("/v1/requests", data=raw, headers={**JSON, "Idempotency-Key": "hostile-key-03"}) as resp:
            status, body = await answer(resp)
        assert (status, body["error"]) == (400, "malformed_json")
    # The reopen body is optional: empty means "no reason".
    async with http.post(f"/v1/requests/{refcode.generate()}/reopen", data=b"") as resp:
        assert resp.status == 404


@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b"])
async def test_nul_and_lone_surrogates_in_text_are_400(store: Running, http: aiohttp.ClientSession, text: str) -> None:
    # PostgreSQL refuses NUL in text, and nothing can encode a lone surrogate: both were 500s.
    for field in ("description", "requester_id", "sector"):
        async with http.post("/v1/requests", json=complaint(**{field: text}), headers={"Idempotency-Key": "hostile-key-04"}) as resp:
            assert await answer(resp) == (400, {"error": "invalid_value", "field": field, "message": "not valid text"})
    assert await count_rows(store) == 0


async def test_an_unparseable_attachment_url_is_400(http: aiohttp.ClientSession) -> None:
    body = complaint(attachments=[{"url": "http://[", "media_type": "image/jpeg"}])
    async with http.post("/v1/requests", json=body, headers={"Idempotency-Key": "hostile-key-05"}) as resp:
        status, got = await answer(resp)
    assert (status, got["error"], got["field"]) == (400, "invalid_value", "attachments[0].url")


@pytest.mark.parametrize("event_id", ["99999999999999999999999", "9223372036854775808", "2147483648", "0", "-1"])
async def test_outbox_ids_out_of_range_are_400(http: aiohttp.ClientSession, event_id: str) -> None:
    async with http.post(f"/v1/outbox/{event_id}/ack") as resp:
        status, body = await answer(resp)
    assert (status, body["error"], body["field"]) == (400, "out_of_range", "id")


@pytest.mark.parametrize("value", ["²", "٣", "1_0", " 5", "1e3", "x", "+5"])
async def test_integers_must_be_ascii_digits(http: aiohttp.ClientSession, value: str) -> None:
    for path, name in (("/v1/outbox", "after"), ("/v1/outbox", "limit"), ("/v1/catalogue/entities", "limit")):
        async with http.get(path, params={name: value}) as resp:
            status, body = await answer(resp)
        assert (status, body["error"], body["field"]) == (400, "invalid_type", name)
    async with http.post(f"/v1/outbox/{value}/ack") as resp:
        assert resp.status == 400


@pytest.mark.parametrize("value", ["-1", "2147483648", "99999999999999999999", "9" * 5000])
async def test_integers_out_of_range_are_400(http: aiohttp.ClientSession, value: str) -> None:
    for path, name in (("/v1/outbox", "after"), ("/v1/outbox", "limit"), ("/v1/catalogue/entities", "limit")):
        async with http.get(path, params={name: value}) as resp:
            status, body = await answer(resp)
        assert (status, body["error"], body["field"]) == (400, "out_of_range", name)


async def test_a_long_catalogue_search_is_refused_quickly(http: aiohttp.ClientSession) -> None:
    started = time.perf_counter()
    async with http.get("/v1/catalogue/entities", params={"q": "وزارة " * 120}) as resp:
        status, body = await answer(resp)
    assert (status, body["error"], body["field"]) == (400, "too_long", "q")
    assert time.perf_counter() - started < 2


async def test_headers_that_are_too_long_are_400(http: aiohttp.ClientSession) -> None:
    ref = refcode.generate()
    for name in ("X-Requester-Id", "X-Verify-Pin", "X-Actor"):
        async with http.get(f"/v1/requests/{ref}", headers={name: "x" * 300}) as resp:
            status, body = await answer(resp)
        assert (status, body["error"], body["field"]) == (400, "invalid_value", name)


async def test_headers_that_are_not_utf8_are_400(store: Running) -> None:
    """aiohttp's client cannot send such bytes, so this speaks HTTP over a raw socket."""
    host, port = store.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET /v1/requests/{refcode.generate()} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {store.token}\r\n".encode()
        + b"X-Requester-Id: \xff\xfe\xc3(\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b'"field": "X-Requester-Id"' in body


async def test_request_ids_are_echoed_only_when_plain(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/catalogue/sectors", headers={"X-Request-Id": "abc-123"}) as resp:
        assert resp.headers["X-Request-Id"] == "abc-123"
    async with http.get("/v1/catalogue/sectors", headers={"X-Request-Id": "é<script>"}) as resp:
        assert resp.status == 200 and resp.headers["X-Request-Id"] != "é<script>"
