"""The request endpoints over loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from service_fixtures import Running, complaint
from sqlalchemy import func, select

from bot import refcode
from case_store.models import OutboxEvent, Request


def key(n: int | str = 1) -> dict[str, str]:
    return {"Idempotency-Key": f"test-key-{n:0>8}"}


async def count_rows(store: Running, model: type = Request) -> int:
    async with store.service.db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def create(http: aiohttp.ClientSession, body: dict[str, object], k: int | str = 1) -> dict[str, object]:
    async with http.post("/v1/requests", json=body, headers=key(k)) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def test_create_returns_the_request_with_a_valid_reference(store: Running, http: aiohttp.ClientSession) -> None:
    body = await create(http, complaint())
    assert refcode.parse(str(body["reference"])) == body["reference"]
    assert body["reference_display"] == refcode.format_grouped(str(body["reference"]))
    assert body["status"] == "submitted"
    assert body["entity"] == {"id": "moh", "name_ar": "وزارة الصحة", "name_en": "Ministry of Health"}
    assert body["timeline"] == [{"at": "2025-05-04T07:00:00Z", "status": "submitted", "actor": "citizen", "note": None}]
    # complaint/normal = 10 working days after Sunday 4 May 2025 -> Sunday 18 May, 15:00 Amman (UTC+3).
    assert body["due_at"] == "2025-05-18T12:00:00Z"
    assert body["confidential"] is False and "pin" not in body
    assert body["description"].startswith("Waited")


async def test_replayed_key_answers_200_with_the_same_request(store: Running, http: aiohttp.ClientSession) -> None:
    first = await create(http, complaint())
    async with http.post("/v1/requests", json=complaint(), headers=key()) as resp:
        assert resp.status == 200
        assert (await resp.json())["reference"] == first["reference"]
    assert await count_rows(store) == 1


async def test_concurrent_creates_with_one_key_make_one_row(store: Running, http: aiohttp.ClientSession) -> None:
    async def one() -> tuple[int, str]:
        async with http.post("/v1/requests", json=complaint(), headers=key("same")) as resp:
            return resp.status, (await resp.json())["reference"]

    answers = await asyncio.gather(*(one() for _ in range(20)))
    assert sorted(status for status, _ in answers) == [200] * 19 + [201]
    assert len({ref for _, ref in answers}) == 1
    assert await count_rows(store) == 1
    assert await count_rows(store, OutboxEvent) == 1


async def test_concurrent_creates_with_different_keys_all_succeed(store: Running, http: aiohttp.ClientSession) -> None:
    async def one(i: int) -> int:
        async with http.post("/v1/requests", json=complaint(), headers=key(i)) as resp:
            return resp.status

    statuses = await asyncio.gather(*(one(i) for i in range(50)))
    assert statuses == [201] * 50
    assert await count_rows(store) == 50


async def test_validation_errors_name_the_field(http: aiohttp.ClientSession) -> None:
    cases = [
        (complaint(type="praise"), "invalid_value", "type"),
        (complaint(entity="nope"), "unknown_entity", "entity"),
        (complaint(sector="transport"), "entity_not_in_sector", "entity"),
        (complaint(description="   "), "missing_field", "description"),
        (complaint(language="fr"), "invalid_value", "language"),
        (complaint(contact_phone="12"), "invalid_value", "contact_phone"),
        (complaint(attachments=[{"url": "ftp://x", "media_type": "image/jpeg"}]), "invalid_value", "attachments[0].url"),
        (complaint(notify={"channel": "fax", "address": "1"}), "invalid_value", "notify.channel"),
        (complaint(anonymous="yes"), "invalid_type", "anonymous"),
        ([1, 2], "invalid_type", None),
    ]
    for i, (body, error, field) in enumerate(cases):
        async with http.post("/v1/requests", json=body, headers=key(100 + i)) as resp:
            assert resp.status == 400, body
            got = await resp.json()
            assert (got["error"], got["field"]) == (error, field)


async def test_idempotency_key_is_required_and_bounded(http: aiohttp.ClientSession) -> None:
    async with http.post("/v1/requests", json=complaint()) as resp:
        assert resp.status == 400
        assert await resp.json() == {"error": "missing_field", "field": "Idempotency-Key", "message": "the header is required"}
    async with http.post("/v1/requests", json=complaint(), headers={"Idempotency-Key": "short"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["field"] == "Idempotency-Key"


async def test_malformed_json_and_oversized_bodies(store: Running, http: aiohttp.ClientSession) -> None:
    async with http.post("/v1/requests", data=b"{not json", headers={**key(), "Content-Type": "application/json"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "malformed_json"
    big = json.dumps(complaint(description="x" * (70 * 1024))).encode()
    async with http.post("/v1/requests", data=big, headers={**key(2), "Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"] == "payload_too_large"
    assert await count_rows(store) == 0


async def test_bearer_token_required_except_healthz(store: Running) -> None:
    async with aiohttp.ClientSession(store.base_url) as anon:
        async with anon.get("/healthz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ok"}
        async with anon.post("/v1/requests", json=complaint(), headers=key()) as resp:
            assert resp.status == 401
        async with anon.get("/v1/catalogue/sectors", headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
    assert await count_rows(store) == 0


async def test_get_with_each_kind_of_proof(http: aiohttp.ClientSession) -> None:
    body = await create(http, complaint())
    ref = body["reference"]
    for headers in (
        {"X-Requester-Id": "messenger_" + "a" * 32},
        {"X-Verify-Phone-Tail": "4567"},
        {"X-Verify-Phone-Tail": "4567", "X-Actor": "agent:42"},
    ):
        async with http.get(f"/v1/requests/{ref}", headers=headers) as resp:
            assert resp.status == 200, headers
            assert (await resp.json())["reference"] == ref
    # Grouped and Arabic-Indic forms of the same reference are accepted.
    arabic = str(ref).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    async with http.get(f"/v1/requests/{arabic}", headers={"X-Verify-Phone-Tail": "4567"}) as resp:
        assert resp.status == 200


async def test_unknown_and_unverified_are_byte_identical(http: aiohttp.ClientSession) -> None:
    body = await create(http, complaint())
    unknown = refcode.generate()
    async with http.get(f"/v1/requests/{unknown}", headers={"X-Verify-Phone-Tail": "4567"}) as resp:
        a_status, a_body, a_type = resp.status, await resp.read(), resp.content_type
    async with http.get(f"/v1/requests/{body['reference']}", headers={"X-Verify-Phone-Tail": "0000"}) as resp:
        b_status, b_body, b_type = resp.status, await resp.read(), resp.content_type
    assert (a_status, a_body, a_type) == (b_status, b_body, b_type) == (404, b'{"error": "not_found_or_unverified"}', "application/json")


async def test_malformed_reference_and_bad_check_digit_are_422(http: aiohttp.ClientSession) -> None:
    ref = refcode.generate()
    wrong = ref[:-1] + str((int(ref[-1]) + 1) % 10)
    for text, code in (("12345", "malformed_reference"), (wrong, "bad_check_digit")):
        async with http.get(f"/v1/requests/{text}", headers={"X-Verify-Phone-Tail": "4567"}) as resp:
            assert resp.status == 422
            assert await resp.json() == {"error": code}


async def test_failed_lookups_are_rate_limited_per_reference(store: Running, http: aiohttp.ClientSession) -> None:
    body = await create(http, complaint())
    ref = body["reference"]
    for i in range(5):
        async with http.get(f"/v1/requests/{ref}", headers={"X-Verify-Phone-Tail": f"000{i}"}) as resp:
            assert resp.status == 404
    async with http.get(f"/v1/requests/{ref}", headers={"X-Verify-Phone-Tail": "4567"}) as resp:
        assert resp.status == 429  # even the right tail: the guesser must not learn it
        got = await resp.json()
        assert got["error"] == "rate_limited" and 0 < got["retry_after"] <= 15 * 60
        assert resp.headers["Retry-After"] == str(got["retry_after"])
    # A stranger's guesses never lock the owner out: the owner's own (keyed, connector-set)
    # requester id still opens the request; a claimed id that is not the owner's is refused.
    async with http.get(f"/v1/requests/{ref}", headers={"X-Requester-Id": "messenger_" + "9" * 32}) as resp:
        assert resp.status == 429  # a stranger's id is stopped like a guess
    async with http.get(f"/v1/requests/{ref}", headers={"X-Requester-Id": "messenger_" + "a" * 32}) as resp:
        assert resp.status == 200  # the owner's own id
    store.clock.advance(minutes=16)
    async with http.get(f"/v1/requests/{ref}", headers={"X-Verify-Phone-Tail": "4567"}) as resp:
        assert resp.status == 200


async def test_failed_lookups_are_rate_limited_per_identity(http: aiohttp.ClientSession) -> None:
    who = {"X-Requester-Id": "sms_" + "c" * 32}
    for _ in range(5):
        async with http.get(f"/v1/requests/{refcode.generate()}", headers=who) as resp:
            assert resp.status == 404
    async with http.get(f"/v1/requests/{refcode.generate()}", headers=who) as resp:
        assert resp.status == 429


async def test_rate_limit_holds_across_app_instances(store: Running, http: aiohttp.ClientSession) -> None:
    from service_fixtures import start_case_store

    ref = (await create(http, complaint()))["reference"]
    for _ in range(5):
        async with http.get(f"/v1/requests/{ref}", headers={"X-Verify-Phone-Tail": "1111"}) as resp:
            assert resp.status == 404
    other = await start_case_store(store.database_url, store.clock)
    try:
        async with (
            aiohttp.ClientSession(other.base_url, headers=other.headers) as http2,
            http2.get(f"/v1/requests/{ref}", headers={"X-Verify-Phone-Tail": "4567"}) as resp,
        ):
            assert resp.status == 429
    finally:
        await other.stop()
