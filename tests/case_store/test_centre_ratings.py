"""Service-centre ratings (issue 13) over loopback: one per person per centre per day, keyed,
no reference; unknown and closed centres; replays; the summary the dashboards and CLI read."""

from __future__ import annotations

from typing import Any

import aiohttp
from service_fixtures import Running
from sqlalchemy import text

RATER = "messenger_" + "b" * 32


def rating(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"score": 2, "pillars": ["delivery_time", "employee_behaviour"], "comment": "Waited two hours",
                            "language": "en", "channel": "sms", "rater_id": RATER}
    body.update(overrides)
    return body


async def rows(store: Running, sql: str) -> list[dict[str, Any]]:
    """Raw rows on either database (SQLite or PostgreSQL), as an operator would read them."""
    async with store.service.db.read() as s:
        return [dict(r) for r in (await s.execute(text(sql))).mappings().all()]


async def rate(http: aiohttp.ClientSession, code: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
    async with http.post(f"/v1/centres/{code}/ratings", json=body, headers={"Idempotency-Key": key}) as resp:
        return resp.status, await resp.json()


async def test_a_rating_is_stored_without_a_reference_or_the_rater_id(store: Running, http: aiohttp.ClientSession) -> None:
    status, body = await rate(http, "1001", rating(), "rating-key-0001")
    assert status == 201, body
    assert body["centre"]["code"] == "1001" and body["centre"]["entity"]["id"] == "moh"
    assert body["score"] == 2 and body["pillars"] == ["delivery_time", "employee_behaviour"]
    assert "reference" not in body
    found = await rows(store, "SELECT * FROM centre_ratings")
    assert len(found) == 1 and RATER not in " ".join(str(v) for v in found[0].values())
    assert (await rows(store, "SELECT COUNT(*) AS n FROM requests"))[0]["n"] == 0  # not a request
    assert sorted(r["pillar"] for r in (await rows(store, "SELECT pillar FROM centre_rating_pillars"))) == [
        "delivery_time", "employee_behaviour"]


async def test_one_rating_per_person_per_centre_per_day(store: Running, http: aiohttp.ClientSession) -> None:
    assert (await rate(http, "1001", rating(), "rating-key-0001"))[0] == 201
    # A replay of the same submission is the same rating, not a second one.
    status, again = await rate(http, "1001", rating(), "rating-key-0001")
    assert status == 200 and again["id"]
    # A second survey the same day: refused, nothing stored.
    status, body = await rate(http, "1001", rating(score=5, pillars=[]), "rating-key-0002")
    assert (status, body) == (409, {"error": "already_rated_today"})
    # The lookup says so before the bot asks anything.
    async with http.get("/v1/centres/1001", headers={"X-Requester-Id": RATER}) as resp:
        assert (await resp.json())["rated_today"] is True
    # Another centre, or another person, the same day: fine.
    assert (await rate(http, "1002", rating(), "rating-key-0003"))[0] == 201
    assert (await rate(http, "1001", rating(rater_id="sms_" + "c" * 32), "rating-key-0004"))[0] == 201
    # The next local day: fine again.
    store.clock.advance(days=1)
    assert (await rate(http, "1001", rating(), "rating-key-0005"))[0] == 201
    assert len(await rows(store, "SELECT id FROM centre_ratings")) == 4


async def test_unknown_and_closed_centres_change_nothing(store: Running, http: aiohttp.ClientSession) -> None:
    for code in ("9999", "12", "abcd", "٤١٢٧"):
        async with http.get(f"/v1/centres/{code}") as resp:
            assert resp.status == 404 and (await resp.json()) == {"error": "unknown_centre"}
    assert await rate(http, "9999", rating(), "rating-key-0001") == (404, {"error": "unknown_centre"})
    async with http.get("/v1/centres/3001") as resp:
        assert (await resp.json())["status"] == "closed"
    assert await rate(http, "3001", rating(), "rating-key-0002") == (409, {"error": "centre_closed"})
    assert (await rows(store, "SELECT COUNT(*) AS n FROM centre_ratings"))[0]["n"] == 0


async def test_a_reused_key_for_another_rating_is_refused(store: Running, http: aiohttp.ClientSession) -> None:
    assert (await rate(http, "1001", rating(), "rating-key-0001"))[0] == 201
    status, body = await rate(http, "2001", rating(), "rating-key-0001")
    assert (status, body) == (422, {"error": "idempotency_key_reused"})


async def test_bad_bodies_are_400s(store: Running, http: aiohttp.ClientSession) -> None:
    for bad, field in (({"score": 6}, "score"), ({"score": True}, "score"), ({"pillars": ["nope"]}, "pillars"),
                       ({"pillars": "procedures"}, "pillars"), ({"channel": "fax"}, "channel"), ({"rater_id": ""}, "rater_id")):
        status, body = await rate(http, "1001", rating(**bad), "rating-key-0001")
        assert status == 400 and body["field"] == field, (bad, body)
    async with http.post("/v1/centres/1001/ratings", json=rating()) as resp:
        assert resp.status == 400  # no Idempotency-Key


async def test_summary_per_centre_entity_pillar_and_period(store: Running, http: aiohttp.ClientSession) -> None:
    await rate(http, "1001", rating(score=2), "rating-key-0001")
    await rate(http, "1001", rating(score=4, pillars=[], rater_id="r2" + "x" * 30), "rating-key-0002")
    await rate(http, "2001", rating(score=5, pillars=["procedures"], rater_id="r3" + "x" * 30), "rating-key-0003")
    async with http.get("/v1/centre-ratings/summary", params={"by": "centre"}) as resp:
        body = await resp.json()
    rows = {r["key"]: r for r in body["rows"]}
    assert body["ratings"] == 3
    assert rows["moh_amman"]["count"] == 2 and rows["moh_amman"]["average"] == 3.0 and rows["moh_amman"]["code"] == "1001"
    assert rows["moh_amman"]["short"] == {"delivery_time": 1, "employee_behaviour": 1}
    assert rows["moh_amman"]["scores"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    async with http.get("/v1/centre-ratings/summary", params={"by": "entity"}) as resp:
        assert {r["key"]: r["count"] for r in (await resp.json())["rows"]} == {"gam": 1, "moh": 2}
    async with http.get("/v1/centre-ratings/summary", params={"by": "pillar"}) as resp:
        pillars = {r["key"]: r["short"] for r in (await resp.json())["rows"]}
    assert pillars == {"service_quality": 0, "delivery_time": 1, "employee_behaviour": 1, "procedures": 1, "infrastructure": 0}
    async with http.get("/v1/centre-ratings/summary", params={"by": "week", "entity": "moh"}) as resp:
        weeks = (await resp.json())["rows"]
    assert [(r["key"], r["count"]) for r in weeks] == [("2025-05-04", 2)]  # the week of Sunday 4 May
    async with http.get("/v1/centre-ratings/summary", params={"by": "day", "since": "2025-05-05"}) as resp:
        assert (await resp.json())["ratings"] == 0
    async with http.get("/v1/centre-ratings/summary", params={"by": "nonsense"}) as resp:
        assert resp.status == 400


async def test_campaigns_are_listed_and_tag_their_complaints(store: Running, http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/campaigns") as resp:
        campaigns = {c["id"]: c for c in (await resp.json())["campaigns"]}
    smoking = campaigns["smoking_public_places"]
    assert smoking["entity"] == "moh" and smoking["sector"] == "health" and len(smoking["questions"]) == 2
    body = {"type": "complaint", "sector": "health", "entity": "moh", "description": "People smoke inside the clinic hall",
            "language": "en", "channel": "sms", "requester_id": RATER, "campaign": "smoking_public_places",
            "campaign_answers": {"place": "Clinic on Mecca Street", "when": "Sunday morning"}}
    async with http.post("/v1/requests", json=body, headers={"Idempotency-Key": "campaign-key-1"}) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    assert created["campaign"] == "smoking_public_places"
    assert created["campaign_answers"] == {"place": "Clinic on Mecca Street", "when": "Sunday morning"}
    # The campaign's SLA (5 working days from Sunday 4 May 2025), not the complaint table's 10.
    assert created["due_at"].startswith("2025-05-11")
    for bad, error in (({"campaign": "nope"}, "unknown_campaign"), ({"entity": "jfda"}, "entity_not_in_campaign"),
                       ({"type": "suggestion"}, "campaign_not_complaint"),
                       ({"campaign_answers": {"colour": "red"}}, "invalid_value")):
        async with http.post("/v1/requests", json={**body, **bad}, headers={"Idempotency-Key": "campaign-key-" + error}) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == error, bad
    # An ordinary complaint carries no campaign.
    plain = {**body, "pillar": "service_quality"}
    plain.pop("campaign"), plain.pop("campaign_answers")
    async with http.post("/v1/requests", json=plain, headers={"Idempotency-Key": "campaign-key-2"}) as resp:
        assert (await resp.json())["campaign"] is None
