"""The dashboards in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright), against
`python -m insights serve` as its own process over loopback, with a seeded case store and
conversation events published through Rasa's own SQL event broker.

The operations room, an entity's view and the public page are shot in Arabic and English; the
screenshots go to tests/artifacts/insights/ for a person to look at. The Cabinet report is
printed to PDF by Chromium (DevTools printToPDF, what --print-to-pdf uses). The live refresh is
checked by publishing more events while the page is open: the figure changes without a reload.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import launcher
from channels.accounts import AccountStore

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "insights"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery"
SENDER_KEY = "browser-sender-id-key-0123456789"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="needs Debian's chromium (make system-deps)"),
]


@dataclass
class Service:
    base: str
    entity: str
    broker_db: Path


def _conversation(sender: str, ts: float, filed: bool) -> list[dict]:
    def ev(dt_s: float, kind: str, **kw: object) -> dict:
        return {"sender_id": sender, "event": kind, "timestamp": ts + dt_s, **kw}

    out = [ev(0, "user", text="x", input_channel="messenger", parse_data={"intent": {"name": "complain"}}),
           ev(1, "slot", name="language", value="ar"), ev(2, "active_loop", name="complaint_form")]
    for i, step in enumerate(("sector", "entity_id", "pillar", "importance", "description")):
        out.append(ev(3 + i, "slot", name="requested_slot", value=step))
    if filed:
        out.append(ev(60, "bot", text="ref", metadata={"utter_action": "utter_submitted"}))
    return out


def _publish(broker_db: Path, events: list[dict]) -> None:
    from rasa.core.brokers.sql import SQLEventBroker

    broker = SQLEventBroker(db=str(broker_db))
    for e in events:
        broker.publish(e)
    broker.engine.dispose()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    from case_store import migrate
    from case_store.seed import seed

    tmp = tmp_path_factory.mktemp("insights_browser")
    cases = f"sqlite:///{tmp / 'cases.db'}"
    migrate.upgrade(cases)
    seed(cases, 4000, 3, days=400)
    db = sqlite3.connect(tmp / "cases.db")
    (entity,) = db.execute("SELECT entity FROM requests GROUP BY entity ORDER BY count(*) DESC").fetchone()
    db.close()
    accounts = AccountStore(f"sqlite:///{tmp / 'accounts.db'}")
    accounts.create_agent("ops", "Operations Room", PASSWORD, role="ops_room")
    accounts.create_agent("fp", "Focal Point", PASSWORD, role="entity", entity=entity)
    accounts.engine.dispose()
    now = time.time()
    events: list[dict] = []
    for i in range(40):
        events += _conversation(f"seed-{i}", now - 86400 * (i % 20) - 3600 * 3, filed=i % 3 != 0)
    _publish(tmp / "events.db", events)
    port = launcher.free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BEKH_ENV": "test", "BEKH_VAR_DIR": str(tmp), "SENDER_ID_KEY": SENDER_KEY,
           "CASE_STORE_DATABASE_URL": cases, "INSIGHTS_DATABASE_URL": f"sqlite:///{tmp / 'insights.db'}",
           "AGENT_CONSOLE_DATABASE_URL": f"sqlite:///{tmp / 'accounts.db'}", "EVENT_BROKER_URL": f"sqlite:///{tmp / 'events.db'}",
           "INSIGHTS_REFRESH_SECONDS": "2", "INSIGHTS_BROKER_POLL_SECONDS": "0.5", "RASA_TELEMETRY_ENABLED": "false"}
    log = open(tmp / "insights.log", "wb")  # noqa: SIM115 - the child writes it for its lifetime
    proc = subprocess.Popen([sys.executable, "-m", "insights", "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        launcher.wait_ready(f"http://127.0.0.1:{port}/healthz", 180, proc)
        yield Service(f"http://127.0.0.1:{port}", entity, tmp / "events.db")
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


async def _shoot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


async def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(f"{base}/login?lang=ar")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/dashboard**")


async def test_dashboards_in_both_languages_live_refresh_and_report_pdf(service: Service) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # the public page: no sign-in
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{service.base}/public?lang=ar&period=12m")
            assert await page.get_attribute("html", "dir") == "rtl"
            assert "أقل من 5 طلبات" in await page.inner_text("body")
            assert await page.locator("svg.chart").count() >= 2
            await _shoot(page, "public_ar")
            await page.goto(f"{service.base}/public?lang=en&period=12m")
            assert await page.get_attribute("html", "dir") == "ltr"
            assert "fewer than 5 requests" in await page.inner_text("body")
            await _shoot(page, "public_en")
            await page.close()

            # the operations room, live: more conversations arrive while it is open
            ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await ctx.new_page()
            await _sign_in(page, service.base, "ops")
            await page.goto(f"{service.base}/dashboard?lang=en&period=30d")
            tile = page.locator(".tile", has_text="Conversations started").locator(".value")
            before = int((await tile.inner_text()).replace(",", ""))
            assert before == 40
            _publish(service.broker_db, [e for i in range(5) for e in _conversation(f"live-{i}", time.time() - 60, filed=True)])
            url = page.url
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.tile')].some(t => t.innerText.includes('Conversations started')"
                " && t.querySelector('.value').innerText.trim() === '45')", timeout=30000)
            assert page.url == url  # no reload: the panel was swapped in
            assert await page.locator("svg.chart").count() >= 5  # trends, distributions, funnel
            await _shoot(page, "ops_room_en")
            await page.goto(f"{service.base}/dashboard?lang=ar&period=12m")
            assert await page.get_attribute("html", "dir") == "rtl"
            await _shoot(page, "ops_room_ar")

            # the Cabinet report, printed to PDF by Chromium
            month = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
            await page.goto(f"{service.base}/report?month={month}&lang=ar")
            await page.emulate_media(media="print")
            pdf = await page.pdf(format="A4", print_background=True)
            assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 2
            (ARTIFACTS / "cabinet_report_ar.pdf").write_bytes(pdf)
            await ctx.close()

            # an entity's view: its own entity only, both languages
            ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await ctx.new_page()
            await _sign_in(page, service.base, "fp")
            await page.goto(f"{service.base}/dashboard?lang=ar&period=12m")
            assert await page.locator("#t-league tbody tr").count() == 1
            assert "المحادثات مع المساعد" not in await page.inner_text("body")
            await _shoot(page, "entity_ar")
            await page.goto(f"{service.base}/dashboard?lang=en&period=12m")
            await _shoot(page, "entity_en")
            await ctx.close()
        finally:
            await browser.close()
