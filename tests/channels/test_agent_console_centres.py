"""The agent console enters a caller's service-centre rating (issue 13): keyed by the caller's
phone (so the same person cannot rate that centre again by SMS or the IVR the same day), the
form token chooses the idempotency key, bad input and closed or unknown centres change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.request_rules import complaint_from_visit
from tests.channels.test_agent_console import API, Console, complaint, file_request, form_token, login, start_console


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


async def test_the_centre_is_found_by_its_code_in_either_digits_with_its_entity_and_sector(console: Console) -> None:
    async with console.client() as c:
        await login(c)
        async with c.get(f"{API}/centres", params={"code": "١٠٠١"}) as r:  # an Arabic keyboard's digits
            found = (await r.json())["centre"]
        assert r.status == 200
        assert (found["code"], found["name_en"], found["sector"], found["entity"]["name_ar"]) == (
            "1001", "Amman Health Directorate", "health", "وزارة الصحة")
        async with c.get(f"{API}/centres", params={"code": "3001"}) as r:
            assert (await r.json())["centre"]["status"] == "closed"  # the page refuses it before any rating
        for bad in ("41a7", "12345", ""):
            async with c.get(f"{API}/centres", params={"code": bad}) as r:
                assert r.status == 422, bad


async def test_a_bad_visit_comes_back_with_the_complaint_offer_and_a_good_one_without(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        status, bad = await post(c, csrf, rating(form_token=await form_token(c), centre_code="١٠٠١"))
        status_good, good = await post(c, csrf, rating(form_token=await form_token(c), centre_code="2001", score=4, pillars=[],
                                                       comment=None))
    assert status == 201 and bad["centre"]["name_ar"] == "مديرية صحة عمّان"
    # As in the chat (bot.request_rules.complaint_from_visit): the one pillar that fell short, the comment.
    assert bad["complaint_offer"] == {
        "centre_code": "1001", "sector": "health", "entity": {"id": "moh", "name_ar": "وزارة الصحة", "name_en": "Ministry of Health"},
        "pillar": "delivery_time", "description": "انتظرت ثلاث ساعات"}
    assert status_good == 201 and "complaint_offer" not in good
    # Two pillars short and a one-word comment: the complaint form asks for both.
    assert complaint_from_visit(["procedures", "delivery_time"], "سيئ") == (None, None)


async def test_the_offered_complaint_names_the_centre_while_it_goes_to_the_centres_entity(console: Console) -> None:
    body = complaint(centre_code="1001", description="انتظرت ثلاث ساعات", pillar="delivery_time")
    async with console.client() as c:
        csrf = await login(c)
        status, filed = await file_request(c, csrf, body)
        assert status == 201, filed
        # The agent moved it to another body: an ordinary complaint, no centre in its words.
        status, moved = await file_request(c, csrf, {**body, "entity": "jfda"})
        assert status == 201, moved
        for bad in ({"centre_code": "9999"}, {"centre_code": "12"}, {"type": "suggestion", "pillar": ""}):
            status, out = await file_request(c, csrf, {**body, **bad})
            assert status == 422 and "centre_code" in out["fields"], (bad, out)
    described = {r["reference"]: r["description"] for r in console.backend.store.requests()}
    assert described[filed["reference"]] == "زيارة مديرية صحة عمّان: انتظرت ثلاث ساعات"
    assert described[moved["reference"]] == "انتظرت ثلاث ساعات"
