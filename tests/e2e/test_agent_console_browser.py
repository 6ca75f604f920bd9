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
    case_store: tuple[str, str]  # its URL and bearer token (the centre-rating figures)


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
    # The shipped catalogue and centres, as the running system has them (the rating form's codes,
    # the human-rights track's body).
    console, stop = await fakes.start_console(tmp_path, catalogue=fakes.REAL_CATALOGUE)
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
        case_store=(console.backend.store.url, console.backend.store.token),
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

    return Site(system.rasa_url, username, start_handoff, messenger_texts, by_reference,
                (system.case_store_url, system.case_store_token))


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


# --- the centre rating form (issue 13) -------------------------------------------------------------
# The shipped registry (case_store/data/centres.yml): an open centre and the closed one.
OPEN_CENTRE = {"code": "4131", "ar": "مكتب الأحوال المدنية والجوازات - إربد", "en": "Civil Status and Passports Office - Irbid",
               "entity_ar": "دائرة الأحوال المدنية والجوازات", "entity_en": "Civil Status and Passports Department"}
CLOSED_CENTRE = "5222"


def _new_phone() -> str:
    """A caller no earlier run has used: one rating per person per centre per day."""
    return "079" + "".join(str(int(c, 16) % 10) for c in uuid.uuid4().hex[:7])


async def _ratings_of(site: Site, code: str) -> int:
    url, token = site.case_store
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{url}/v1/centre-ratings/summary", params={"by": "centre", "centre": code},
                         headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200, await r.text()
            return int((await r.json())["ratings"])


async def _wait_text(page: Any, selector: str, text: str) -> None:
    """Until the element shows `text` (any text when ""); polled from here: the page's CSP forbids eval."""
    from playwright.async_api import expect

    located = page.locator(selector)
    if text:
        await expect(located).to_contain_text(text, timeout=15_000)
    else:
        await expect(located).not_to_be_empty(timeout=15_000)


async def _wait_focus(page: Any, selector: str) -> None:
    """Until `selector` has the focus (it moves after the page's request returns)."""
    from playwright.async_api import expect

    await expect(page.locator(selector)).to_be_focused(timeout=15_000)


async def _active(page: Any) -> str:
    return str(await page.evaluate("document.activeElement.id || document.activeElement.name + '=' + document.activeElement.value"))


async def _type_code(page: Any, code: str) -> None:
    await page.fill("#rate-centre", "")
    await page.focus("#rate-centre")
    await page.keyboard.type(code)


async def test_agent_enters_a_bad_visit_by_keyboard_and_files_the_offered_complaint_in_arabic(site: Site, page: Any) -> None:
    phone = _new_phone()
    before = await _ratings_of(site, OPEN_CENTRE["code"])
    await _sign_in(page, site, "ar")
    await page.keyboard.press("Alt+r")  # the tab's shortcut; focus lands on the caller's phone
    await page.wait_for_selector("#rate-view:not([hidden])")
    assert await _active(page) == "rate-phone"
    await page.keyboard.type(phone)
    await page.keyboard.press("Tab")  # the caller's language (Arabic, checked)
    await page.keyboard.press("Tab")
    assert await _active(page) == "rate-centre"
    # A closed centre and an unknown code are refused at once, with the reason, in the agent's language.
    await page.keyboard.type(CLOSED_CENTRE)
    await _wait_text(page, "#rate-centre-error", "مغلق")
    await _type_code(page, "9999")
    await _wait_text(page, "#rate-centre-error", "9999")
    assert "لا يوجد مركز خدمة بالرمز 9999" in (await page.text_content("#rate-centre-error") or "")
    # The code as an Arabic keyboard types it; the centre and its entity are named before anything is sent.
    await _type_code(page, "٤١٣١")
    await _wait_text(page, "#rate-centre-found", "")
    found = await page.text_content("#rate-centre-found") or ""
    assert OPEN_CENTRE["ar"] in found and OPEN_CENTRE["entity_ar"] in found
    assert (await page.text_content("#rate-centre-error") or "") == ""
    await page.keyboard.press("Enter")  # confirms the code, moves to the score (does not submit)
    await _wait_focus(page, "input[name=score][value='1']")
    await page.keyboard.press("2")  # the keys 1 to 5 pick the score
    assert await page.is_checked("input[name=score][value='2']")
    await page.keyboard.press("Tab")  # the pillars: the first box, then the second
    await page.keyboard.press("Tab")
    assert await _active(page) == "pillars=delivery_time"
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    assert await _active(page) == "rate-comment"
    await page.keyboard.type("انتظرت ثلاث ساعات ولم يُنجز طلبي")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "agent_console_centre_rating_ar.png"), full_page=True)
    assert await _ratings_of(site, OPEN_CENTRE["code"]) == before  # nothing sent yet
    await page.keyboard.press("Control+Enter")
    await page.wait_for_selector("#rate-result:not([hidden])")
    assert await _ratings_of(site, OPEN_CENTRE["code"]) == before + 1
    assert "لا يُعطى التقييم رقماً مرجعياً" in (await page.text_content("#rate-result-text") or "")
    offer = await page.text_content("#rate-offer-text") or ""
    assert OPEN_CENTRE["entity_ar"] in offer
    await _wait_focus(page, "#rate-complain")  # the one-step offer has the focus
    await page.screenshot(path=str(ARTIFACTS / "agent_console_centre_rating_offer_ar.png"), full_page=True)
    await page.keyboard.press("Enter")
    # The "new call" form, filled in from the rating: the agent checks it and sends it.
    await page.wait_for_selector("#call-view:not([hidden]) #from-rating:not([hidden])")
    assert await page.input_value("#caller-phone") == phone
    assert await page.input_value("#req-type") == "complaint"
    assert await page.input_value("#req-entity-q") == OPEN_CENTRE["entity_ar"]
    assert await page.input_value("#req-pillar") == "delivery_time"  # the one pillar that fell short
    assert await page.input_value("#req-description") == "انتظرت ثلاث ساعات ولم يُنجز طلبي"
    await _wait_focus(page, "#req-description")
    await page.screenshot(path=str(ARTIFACTS / "agent_console_centre_complaint_ar.png"), full_page=True)
    await page.keyboard.press("Control+Enter")
    await page.wait_for_selector("#call-result:not([hidden])")
    reference = (await page.text_content("#result-reference") or "").replace(" ", "")
    row = site.requests_by_reference(reference)
    assert row is not None and row["description"] == f"زيارة {OPEN_CENTRE['ar']}: انتظرت ثلاث ساعات ولم يُنجز طلبي"
    # The same caller, the same centre, the same day: refused, nothing stored.
    await page.keyboard.press("Alt+r")
    assert await page.is_hidden("#rate-offer")  # offered once: no second complaint from the same rating
    await page.click("#rate-again")
    await page.fill("#rate-phone", phone)
    await _type_code(page, OPEN_CENTRE["code"])
    await _wait_text(page, "#rate-centre-found", "")
    await page.check("input[name=score][value='4']")
    await page.keyboard.press("Control+Enter")
    await _wait_text(page, "#rate-error", "سبق أن قيّم")
    assert await _ratings_of(site, OPEN_CENTRE["code"]) == before + 1


async def test_agent_enters_a_good_visit_in_english_with_no_complaint_offer(site: Site, page: Any) -> None:
    before = await _ratings_of(site, OPEN_CENTRE["code"])
    await _sign_in(page, site, "en")
    await page.click("#tab-rate")
    assert await _active(page) == "rate-phone"
    await page.keyboard.type(_new_phone())
    await page.check("input[name=rate_language][value=en]")
    await _type_code(page, OPEN_CENTRE["code"])
    await _wait_text(page, "#rate-centre-found", "")
    found = await page.text_content("#rate-centre-found") or ""
    assert OPEN_CENTRE["en"] in found and OPEN_CENTRE["entity_en"] in found
    # Sent without a score: the score is marked and focused, nothing is stored.
    await page.keyboard.press("Control+Enter")
    await _wait_text(page, "#rate-score-error", "Choose a score")
    await _wait_focus(page, "input[name=score][value='1']")
    await page.keyboard.press("5")
    assert await page.is_checked("input[name=score][value='5']")
    assert (await page.text_content("#rate-error") or "") == ""  # nothing is marked any more
    await page.fill("#rate-comment", "Quick and polite, thank you")
    await page.focus("#rate-comment")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "agent_console_centre_rating_en.png"), full_page=True)
    await page.keyboard.press("Control+Enter")
    await page.wait_for_selector("#rate-result:not([hidden])")
    assert "is recorded" in (await page.text_content("#rate-result-text") or "")
    assert await page.is_hidden("#rate-offer")  # a good visit offers no complaint
    await _wait_focus(page, "#rate-again")
    assert await _ratings_of(site, OPEN_CENTRE["code"]) == before + 1


async def test_a_human_rights_grievance_is_named_as_one_when_looked_up(site: Site, page: Any) -> None:
    """Once shown as "Report a violation": the page names a request's type by its track's menu entry."""
    await _sign_in(page, site, "ar")
    await page.keyboard.type(_new_phone())
    await page.select_option("#req-type", label="تظلم في حقوق الإنسان")
    await page.fill("#req-description", "احتجز ابني في المركز الأمني ثلاثة أيام دون أن يسمح له بمحام")
    await page.keyboard.press("Control+Enter")
    await page.wait_for_selector("#call-result:not([hidden])")
    reference = (await page.text_content("#result-reference") or "").replace(" ", "")
    pin = (await page.text_content("#result-pin") or "").strip()
    await page.keyboard.press("Alt+l")
    await page.fill("#lookup-reference", reference)
    await page.fill("#lookup-pin", pin)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#lookup-result:not([hidden])")
    shown = await page.eval_on_selector_all("#lookup-result dt", "dts => dts.map(dt => [dt.textContent, dt.nextElementSibling.textContent])")
    assert ["النوع", "تظلم في حقوق الإنسان"] in shown, shown
    await page.screenshot(path=str(ARTIFACTS / "agent_console_grievance_lookup_ar.png"), full_page=True)
