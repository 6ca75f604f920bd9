"""The agent console enters a caller's service-centre rating (issue 13): keyed by the caller's
phone (so the same person cannot rate that centre again by SMS or the IVR the same day), the
form token chooses the idempotency key, bad input and closed or unknown centres change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.channels.test_agent_console import API, Console, form_token, login, start_console


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    c, stop = await start_console(tmp_path)
    yield c
    await stop()


def rating(**over: Any) -> dict[str, Any]:
    body = {"caller_phone": "079 123 4567", "caller_language": "ar", "centre_code": "1001", "score": 2,
            "pillars": ["delivery_time"], "comment": "انتظرت ثلاث ساعات"}
    body.update(over)
    return body


async def post(c: aiohttp.ClientSession, csrf: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with c.post(f"{API}/centre_ratings", json=body, headers={"X-CSRF-Token": csrf}) as r:
        return r.status, await r.json()


async def test_an_agent_enters_a_callers_rating_once(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        async with c.get(f"{API}/centres", params={"code": "1001"}) as r:
            assert r.status == 200 and (await r.json())["centre"]["entity"]["id"] == "moh"
        token = await form_token(c)
        assert (await post(c, csrf, rating(form_token=token)))[0] == 201
        assert (await post(c, csrf, rating(form_token=token)))[0] == 200  # a double click: the same rating
        status, body = await post(c, csrf, rating(form_token=await form_token(c)))
        assert (status, body["error"]) == (409, "already_rated_today")
        status, body = await post(c, csrf, rating(form_token=await form_token(c), centre_code="3001"))
        assert (status, body["error"]) == (409, "centre_closed")
        status, body = await post(c, csrf, rating(form_token=await form_token(c), centre_code="9999"))
        assert (status, body["error"]) == (404, "unknown_centre")
        for bad in ({"score": 9}, {"pillars": ["x"]}, {"centre_code": "41a7"}, {"caller_phone": "12"}):
            status, body = await post(c, csrf, rating(form_token=await form_token(c), **bad))
            assert status == 422 and set(bad) <= set(body["fields"]), bad
        status, body = await post(c, csrf, rating(form_token="forged.token.x"))
        assert (status, body["error"]) == (422, "form_expired")
    rows = console.backend.store.rows("SELECT channel, entered_by, score FROM centre_ratings")
    assert [(r["channel"], r["score"]) for r in rows] == [("contact_center", 2)]
    assert rows[0]["entered_by"].startswith("agent:")
