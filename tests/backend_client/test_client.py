"""CaseStoreClient against the real service over loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from service_fixtures import Running, complaint, report
from sqlalchemy import func, select

from backend_client import (
    CaseStoreClient,
    CaseStoreError,
    CaseStoreUnavailable,
    Conflict,
    IdempotencyKeyReused,
    InvalidReference,
    NotFoundOrUnverified,
    RateLimited,
    ValidationError,
)
from backend_client import client as client_module
from bot import refcode
from bot.launcher import free_port
from case_store.models import Request

OWNER = "messenger_" + "a" * 32


@pytest.fixture
async def client(store: Running):
    async with CaseStoreClient(store.base_url, store.token, timeout=5) as c:
        yield c


async def test_create_get_move_rate_reopen(client: CaseStoreClient) -> None:
    created = await client.create_request(**complaint(), idempotency_key="client-key-0001")
    assert created.created and created.pin is None
    ref = created.request.reference
    assert created.request.entity.name_en == "Ministry of Health"
    again = await client.create_request(**complaint(), idempotency_key="client-key-0001")
    assert not again.created and again.request.reference == ref

    got = await client.get_request(ref, requester_id=OWNER)
    assert got.status == "submitted" and got.timeline[0].status == "submitted"
    assert (await client.get_request(refcode.format_grouped(ref), phone_tail="4567", actor="agent:7")).reference == ref

    with pytest.raises(Conflict) as exc:
        await client.rate(ref, 5, True, requester_id=OWNER)
    assert exc.value.code == "not_ratable"
    await client.set_status(ref, "in_progress", "entity:moh")
    answered = await client.set_status(ref, "answered", "entity:moh", answer="Fixed.")
    assert answered.answer == "Fixed."
    rated = await client.rate(ref, 5, True, "thanks", requester_id=OWNER)
    assert rated.rating is not None and rated.rating.score == 5
    reopened = await client.reopen(ref, "not really", requester_id=OWNER)
    assert reopened.status == "reopened"
    with pytest.raises(Conflict) as exc:
        await client.set_status(ref, "closed", "entity:moh")
    assert exc.value.code == "transition_not_allowed"


async def test_report_pin_flow(client: CaseStoreClient) -> None:
    created = await client.create_request(**report(), idempotency_key="client-key-rep1")
    assert created.pin and created.request.confidential and created.request.description is None
    assert (await client.get_request(created.request.reference, pin=created.pin)).type == "report"


async def test_errors_are_typed(client: CaseStoreClient) -> None:
    with pytest.raises(InvalidReference) as bad:
        await client.get_request("123")
    assert bad.value.code == "malformed_reference"
    ref = refcode.generate()
    with pytest.raises(InvalidReference) as bad:
        await client.get_request(ref[:-1] + str((int(ref[-1]) + 1) % 10))
    assert bad.value.code == "bad_check_digit"
    for _ in range(5):
        with pytest.raises(NotFoundOrUnverified):
            await client.get_request(ref, phone_tail="1234")
    with pytest.raises(RateLimited) as limited:
        await client.get_request(ref, phone_tail="1234")
    assert limited.value.retry_after > 0
    with pytest.raises(ValidationError) as invalid:
        await client.create_request(**complaint(entity="nope"), idempotency_key="client-key-bad1")
    assert (invalid.value.code, invalid.value.field) == ("unknown_entity", "entity")


async def test_reused_idempotency_key_is_a_typed_error(client: CaseStoreClient) -> None:
    first = await client.create_request(**report(), idempotency_key="client-key-reuse")
    again = await client.create_request(**report(), idempotency_key="client-key-reuse")
    assert (again.created, again.pin, again.request.reference) == (False, first.pin, first.request.reference)
    with pytest.raises(IdempotencyKeyReused) as exc:
        await client.create_request(**report(description="another narrative"), idempotency_key="client-key-reuse")
    assert (exc.value.status, exc.value.code) == (422, "idempotency_key_reused")
    assert not isinstance(exc.value, InvalidReference)  # a different 422: not about a reference


async def test_wrong_token_is_a_case_store_error(store: Running) -> None:
    async with CaseStoreClient(store.base_url, "wrong") as c:
        with pytest.raises(CaseStoreError) as exc:
            await c.sectors()
    assert exc.value.status == 401 and not isinstance(exc.value, CaseStoreUnavailable)


async def test_catalogue(client: CaseStoreClient) -> None:
    assert [s.id for s in await client.sectors()] == ["health", "transport", "municipal"]
    assert [e.id for e in await client.entities(sector="transport")] == ["mot", "ltrc"]
    found = await client.entities(q="امانه عمان")
    assert found[0].id == "gam" and found[0].score is not None


async def test_closed_port_is_unavailable_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "BACKOFF_SECONDS", (0.01, 0.01))
    async with CaseStoreClient(f"http://127.0.0.1:{free_port()}", "t", timeout=2) as c:
        with pytest.raises(CaseStoreUnavailable):
            await c.create_request(**complaint(), idempotency_key="client-key-down")
        with pytest.raises(CaseStoreUnavailable):
            await c.get_request(refcode.generate(), requester_id=OWNER)


async def test_create_is_retried_with_the_same_key(store: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first attempt reaches a proxy that drops the connection after forwarding the create;
    the retry with the same key must get the request created the first time, not a second one."""
    monkeypatch.setattr(client_module, "BACKOFF_SECONDS", (0.01, 0.01))
    seen_keys: list[str] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        import aiohttp

        seen_keys.append(request.headers["Idempotency-Key"])
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "idempotency-key", "content-type")}
        async with aiohttp.ClientSession() as s, s.post(store.base_url + "/v1/requests", data=body, headers=headers) as resp:
            payload, status = await resp.read(), resp.status
        if len(seen_keys) == 1:
            assert request.transport is not None
            request.transport.close()  # the answer is lost on the way back
            await asyncio.sleep(0.05)
            raise ConnectionResetError
        return web.Response(body=payload, status=status, content_type="application/json")

    proxy = web.Application()
    proxy.router.add_post("/v1/requests", flaky)
    runner = web.AppRunner(proxy, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with CaseStoreClient(f"http://{host}:{port}", store.token) as c:
            created = await c.create_request(**complaint(), idempotency_key="client-key-retry")
    finally:
        await runner.cleanup()
    assert seen_keys == ["client-key-retry", "client-key-retry"]
    assert created.created is False  # the replay answer: the first attempt did create it
    async with store.service.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(Request)) == 1


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="must start with http"):
        CaseStoreClient("127.0.0.1:8800", "t")
    with pytest.raises(ValueError, match="CASE_STORE_TOKEN is empty"):
        CaseStoreClient("http://127.0.0.1:8800", "")
    assert CaseStoreClient.from_settings().base_url.startswith("http://127.0.0.1")
