"""The insights service over loopback HTTP: sign-in by role, who sees what (an entity's account
never sees another entity's figures), the public page (no sign-in, no small cells, says so),
CSV, the Cabinet report, and hostile input answered with 4xx."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from case_store import migrate
from case_store.catalogue import Catalogue
from case_store.seed import seed
from channels.accounts import AccountStore
from insights.web import InsightsConfig, make_app

PASSWORD = "correct horse battery"
NOW = dt.datetime.now(dt.timezone.utc)


@dataclass
class Site:
    base: str
    entity: str  # the entity account's entity
    sector: str  # the minister's sector
    catalogue: Catalogue


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    tmp = tmp_path_factory.mktemp("insights_web")
    cases = f"sqlite:///{tmp / 'cases.db'}"
    migrate.upgrade(cases)
    seed(cases, 1500, 7, days=80)
    import sqlite3

    db = sqlite3.connect(tmp / "cases.db")
    entity, sector = db.execute("SELECT entity, sector FROM requests GROUP BY entity ORDER BY count(*) DESC").fetchone()
    db.close()
    accounts = AccountStore(f"sqlite:///{tmp / 'accounts.db'}")
    accounts.create_agent("ops", "Ops Room", PASSWORD, role="ops_room")
    accounts.create_agent("fp", "Focal Point", PASSWORD, role="entity", entity=entity)
    accounts.create_agent("min", "Minister", PASSWORD, role="minister", sector=sector)
    accounts.create_agent("amal", "Amal Agent", PASSWORD)
    accounts.engine.dispose()
    return tmp, entity, sector


@pytest.fixture
async def site(data: tuple[Path, str, str]) -> AsyncIterator[Site]:
    tmp, entity, sector = data
    config = InsightsConfig(
        host="127.0.0.1", port=0, analytics_url=f"sqlite:///{tmp / 'insights.db'}", accounts_url=f"sqlite:///{tmp / 'accounts.db'}",
        case_store_url=f"sqlite:///{tmp / 'cases.db'}", broker_url="none",
    )
    runner = web.AppRunner(make_app(config))
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    try:
        yield Site(f"http://127.0.0.1:{port}", entity, sector, Catalogue.load())
    finally:
        await runner.cleanup()


async def signed_in(site: Site, username: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{site.base}/api/login", json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        http.headers["X-CSRF-Token"] = (await r.json())["csrf_token"]  # type: ignore[index]
    return http


async def league(http: aiohttp.ClientSession, site: Site, view: str = "dashboard") -> list[dict]:
    async with http.get(f"{site.base}/api/figures?period=90d&view={view}") as r:
        assert r.status == 200
        return (await r.json())["tables"]["league"]


async def test_an_entity_account_sees_its_entity_only(site: Site) -> None:
    ops = await signed_in(site, "ops")
    fp = await signed_in(site, "fp")
    try:
        everything = await league(ops, site)
        assert len({r["entity"] for r in everything}) > 5
        mine = await league(fp, site)
        own_name = site.catalogue.entity_by_id[site.entity].name_ar
        assert [r["entity"] for r in mine] == [own_name]
        assert mine[0]["count"] == next(r["count"] for r in everything if r["entity"] == own_name)
        # no parameter widens the scope
        async with fp.get(f"{site.base}/api/figures?period=90d&entity=other&sector=x&view=ops_room") as r:
            assert [x["entity"] for x in (await r.json())["tables"]["league"]] == [own_name]
        async with fp.get(f"{site.base}/export/league.csv?lang=en") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
            rows = list(csv.reader(io.StringIO((await r.text()).lstrip("\ufeff"))))
        assert [row[1] for row in rows[1:]] == [site.catalogue.entity_by_id[site.entity].name_en]
        # the conversation figures are the operations room's only
        async with fp.get(f"{site.base}/export/completion.csv") as r:
            assert r.status == 404
        async with ops.get(f"{site.base}/export/completion.csv") as r:
            assert r.status == 200
        async with fp.get(f"{site.base}/dashboard?lang=en") as r:
            page = await r.text()
        assert "Entity view" in page and "Conversations with the assistant" not in page
    finally:
        await ops.close()
        await fp.close()


async def test_a_minister_sees_the_sector(site: Site) -> None:
    m = await signed_in(site, "min")
    try:
        names = {r["entity"] for r in await league(m, site)}
        sector_names = {e.name_ar for e in site.catalogue.entities_in(site.sector)}
        assert names and names <= sector_names
    finally:
        await m.close()


async def test_only_dashboard_roles_sign_in_and_logout_needs_csrf(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{site.base}/api/login", json={"username": "amal", "password": PASSWORD}) as r:
            assert r.status == 403 and (await r.json())["error"] == "not_a_dashboard_account"
        async with http.post(f"{site.base}/api/login", json={"username": "ops", "password": "wrong password!"}) as r:
            assert r.status == 401
        for path in ("/api/figures", "/export/league.csv", "/api/panel?view=ops_room"):
            async with http.get(f"{site.base}{path}") as r:
                assert r.status == 401, path
        async with http.get(f"{site.base}/dashboard", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"].startswith("/login")
    ops = await signed_in(site, "ops")
    try:
        token = ops.headers.pop("X-CSRF-Token")
        async with ops.post(f"{site.base}/api/logout") as r:
            assert r.status == 403
        async with ops.post(f"{site.base}/api/logout", headers={"X-CSRF-Token": token}) as r:
            assert r.status == 200
        async with ops.get(f"{site.base}/api/figures") as r:
            assert r.status == 401
    finally:
        await ops.close()


async def test_public_page_no_sign_in_no_small_cells_and_it_says_so(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        rows = await league(http, site, view="public")
        assert rows and all(r["count"] is None or r["count"] >= 5 for r in rows)
        for r in rows:
            for key in ("within_sla_share", "rating_mean", "resolved_share"):
                assert r["suppressed"] or r[key] is None or r["count"] >= 5
        for lang, words in (("ar", "أقل من 5 طلبات"), ("en", "fewer than 5 requests")):
            async with http.get(f"{site.base}/public?lang={lang}") as r:
                assert r.status == 200
                page = await r.text()
            assert words in page and f'lang="{lang}"' in page
            assert ("dir=\"rtl\"" in page) == (lang == "ar")
            # no free text and nothing of the operations room on the citizens' page
            assert "Open past their due date" not in page and "Median hours" not in page and "<textarea" not in page
        async with http.get(f"{site.base}/public/export/league.csv?lang=en") as r:
            assert r.status == 200
        async with http.get(f"{site.base}/public/export/escalations.csv") as r:
            assert r.status == 404  # not a public table


async def test_cabinet_report_and_live_panel(site: Site) -> None:
    ops = await signed_in(site, "ops")
    try:
        month = (NOW.date().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        async with ops.get(f"{site.base}/report?month={month}&lang=ar") as r:
            assert r.status == 200
            page = await r.text()
        assert "insights-print.css" in page and "التقرير الشهري لمجلس الوزراء" in page
        async with ops.get(f"{site.base}/api/panel?view=ops_room&period=30d&lang=en") as r:
            assert r.status == 200 and "<svg" in (await r.json())["html"]
    finally:
        await ops.close()


async def test_hostile_input_gets_4xx(site: Site) -> None:
    rng = random.Random(12)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{site.base}/api/login", data=b"x" * 10_000) as r:
            assert r.status == 413
        for _ in range(40):
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
            async with http.post(f"{site.base}/api/login", data=body) as r:
                assert 400 <= r.status < 500, body
        for path in ("/public?period=5y", "/report?month=2026-13", "/public/export/..%2fetc.csv", "/api/figures?view=public&period=%00",
                     "/public/export/" + "a" * 300 + ".csv"):
            async with http.get(f"{site.base}{path}", allow_redirects=False) as r:
                assert 300 <= r.status < 500, path
