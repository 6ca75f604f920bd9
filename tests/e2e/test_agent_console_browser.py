"""The agent console in headless Chromium (Debian's /usr/bin/chromium), driven by Playwright.

With the lead's `system` fixture (tests/e2e/conftest.py) these run against the real Rasa server,
case store and recorder; the handoff is started by a signed Messenger message asking for a
person. Without it they run against an in-process console (real case store, recorded clouds) of
tests/channels/test_agent_console.py, so the page can be developed and checked anyway
(force that with AGENT_CONSOLE_E2E_LOCAL=1).
Screenshots go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PASSWORD = "correct horse battery"

# On CI a missing browser is a failure (make test installs it), not a skip.
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="needs Debian's chromium at /usr/bin/chromium (make system-deps)")


def _fakes() -> Any:
    spec = importlib.util.spec_from_file_location("agent_console_api_fakes", ROOT / "tests" / "channels" / "test_agent_console.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Site:
    base: str  # the Rasa server's URL
    username: str
    start_handoff: Callable[[], Any]  # coroutine: a Messenger user asks for a person
    messenger_texts: Callable[[], list[str]]  # texts sent to Messenger so far
    requests_by_reference: Callable[[str], Any]


@pytest.fixture
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    system = None
    if os.environ.get("AGENT_CONSOLE_E2E_LOCAL") != "1":  # =1: the in-process console, for page work
        try:
            system = request.getfixturevalue("system")
        except pytest.FixtureLookupError:
            system = None
    if system is not None:
        yield _system_site(system)
        return
    fakes = _fakes()
    console, stop = await fakes.start_console(tmp_path)
    sender = "messenger_" + uuid.uuid4().hex

    async def start_handoff() -> None:
        await fakes.seed_conversation(console, sender, "messenger", "PSID-" + uuid.uuid4().hex[:12])
        await fakes.queue(console, sender)

    yield Site(
        base=console.url,
        username="amal",
        start_handoff=start_handoff,
        messenger_texts=lambda: [r["json"]["message"]["text"] for r in console.backend.messenger()],
        requests_by_reference=lambda ref: console.backend.cases.get(ref),
    )
    await stop()


def _system_site(system: Any) -> Site:
    env = {**os.environ, **system.env}
    username = "e2e" + uuid.uuid4().hex[:8]
    subprocess.run(
        [sys.executable, "-m", "channels.agents", "create", username, "--name", "Amal Haddad", "--password-stdin"],
        input=PASSWORD + "\n", text=True, env=env, cwd=ROOT, check=True,
    )
    psid = "".join(str(int(c, 16) % 10) for c in uuid.uuid4().hex[:16])

    async def start_handoff() -> None:
        body = json.dumps({
            "object": "page",
            "entry": [{"id": "PAGE", "time": int(time.time() * 1000), "messaging": [{
                "sender": {"id": psid}, "recipient": {"id": "PAGE"}, "timestamp": int(time.time() * 1000),
                "message": {"mid": "m_" + uuid.uuid4().hex, "text": "بدي احكي مع موظف"},
            }]}],
        }).encode()
        sig = "sha256=" + hmac.new(system.env["MESSENGER_APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{system.rasa_url}/webhooks/messenger/webhook", data=body,
                              headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig}) as r:
                assert r.status == 200, await r.text()

    def messenger_texts() -> list[str]:
        return [
            (r.get("json") or {}).get("message", {}).get("text", "")
            for r in system.recorder.requests
            if r["path"].endswith("/me/messages") and (r.get("json") or {}).get("recipient", {}).get("id") == psid
        ]

    def by_reference(ref: str) -> Any:
        return next((row for row in system.case_store_requests() if str(row.get("reference")) == ref), None)

    return Site(system.rasa_url, username, start_handoff, messenger_texts, by_reference)


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ar-JO")
        pg = await context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        await browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"


async def _sign_in(page: Any, site: Site, lang: str) -> None:
    await page.goto(f"{site.base}/webhooks/agent_console/?lang={lang}")
    await page.fill("#login-username", site.username)
    await page.fill("#login-password", PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#app-view:not([hidden])")


async def test_agent_files_a_complaint_for_an_arabic_speaking_caller(site: Site, page: Any) -> None:
    await _sign_in(page, site, "ar")
    assert await page.get_attribute("html", "dir") == "rtl"
    assert await page.evaluate("document.activeElement.id") == "caller-phone"  # focus lands on the first field
    await page.keyboard.type("0791234567")
    await page.select_option("#req-type", "complaint")
    await page.wait_for_selector("#complaint-fields:not([hidden])")
    await page.wait_for_function("document.querySelectorAll('#req-sector option').length > 1")
    first_sector = await page.eval_on_selector("#req-sector", "s => s.options[1].value")
    await page.select_option("#req-sector", first_sector)
    await page.focus("#req-entity-q")  # search as you type: the list opens with the sector's entities
    await page.wait_for_selector("#req-entity-list [role=option]")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Enter")
    assert await page.input_value("#req-entity") != ""
    await page.select_option("#req-pillar", "delivery_time")
    await page.check("input[name=importance][value=urgent]")
    await page.fill("#req-description", "تأخر موعد العملية الجراحية في المستشفى ثلاثة أشهر دون سبب")
    await page.focus("#req-description")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "agent_console_new_call_form_ar.png"), full_page=True)
    await page.keyboard.press("Control+Enter")
    await page.wait_for_selector("#call-result:not([hidden])")
    shown = (await page.text_content("#result-reference") or "").strip()
    reference = shown.replace(" ", "")
    assert len(reference) == 10 and reference.isdigit()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "agent_console_new_call_ar.png"), full_page=True)
    assert "رسالة نصية" in (await page.text_content("#result-sms") or "")
    assert site.requests_by_reference(reference) is not None


async def test_agent_takes_a_handed_off_messenger_conversation_and_replies(site: Site, page: Any) -> None:
    await site.start_handoff()
    await _sign_in(page, site, "en")
    assert await page.get_attribute("html", "dir") == "ltr"
    await page.keyboard.press("Alt+q")  # access key of the Conversations tab
    await page.wait_for_selector("#queue-view:not([hidden])")
    take = page.locator("#queue-list button", has_text="Take")
    await take.first.wait_for(timeout=30_000)
    await take.first.click()
    await page.wait_for_selector("#conversation:not([hidden]) #transcript li.user")
    assert "بدي احكي مع موظف" in (await page.text_content("#transcript") or "")
    reply = "Hello, this is Amal from the contact center. How can I help?"
    await page.fill("#reply-text", reply)
    await page.keyboard.press("Control+Enter")
    await page.wait_for_selector("#transcript li.agent")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "agent_console_handoff_en.png"), full_page=True)
    for _ in range(50):
        if reply in site.messenger_texts():
            break
        await asyncio.sleep(0.1)
    assert reply in site.messenger_texts()
