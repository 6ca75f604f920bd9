"""The notifier against the real case store on loopback, with a recorder standing in for Graph and Twilio."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "case_store"))

import service_fixtures  # lives with the case-store tests (see tests/backend_client/conftest.py)
from service_fixtures import Clock, Running, complaint, report, start_case_store

from bot.channel_state import ChannelState
from bot.privacy import keyed_id
from channels.common import is_gsm7, sms_segments
from channels.messenger import GraphClient, MessengerOutput
from channels.notifier import CaseStoreError, Notifier, excerpt, main, render_event
from channels.outbound import RetryPolicy
from channels.twilio_sms import TwilioSmsOutput, make_client
from tests.support.recorder import Recorder

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-twilio-auth-token-0123456789"
SMS_FROM = "+15017122661"
PAGE_TOKEN = "test-page-token"
APP_SECRET = "test-app-secret"
PHONE = "+962791234567"
PSID = "psid-1234567890"
TWILIO_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
GRAPH_PATH = "/v21.0/me/messages"
NARRATIVE = "مدير المديرية يطلب رشوة مقابل ترخيص المحل"
SECRET_ANSWER = "أحيل المدير إلى التحقيق وأوقف عن العمل"

FAST_RETRY = RetryPolicy(max_attempts=5, base_seconds=0.001, max_seconds=0.002)  # due again next round

# The case store's own fixtures: a migrated SQLite copy per test and a hand-moved clock.
sqlite_template = service_fixtures.sqlite_template
sqlite_url = service_fixtures.sqlite_url
clock = service_fixtures.clock


@pytest.fixture
def rec() -> Iterator[Recorder]:
    recorder = Recorder().start()
    try:
        yield recorder
    finally:
        recorder.stop()


@pytest.fixture
async def store(sqlite_url: str, clock: Clock) -> AsyncIterator[Running]:
    running = await start_case_store(sqlite_url, clock)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def http(store: Running) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(store.base_url, headers=store.headers) as session:
        yield session


@pytest.fixture
def state(tmp_path: Path) -> ChannelState:
    return ChannelState(f"sqlite:///{tmp_path / 'channel_state.db'}")


def make_notifier(store: Running, rec: Recorder, state: ChannelState, **kwargs: Any) -> Notifier:
    return Notifier(
        messenger=MessengerOutput(GraphClient(PAGE_TOKEN, APP_SECRET, rec.url, "v21.0")),
        sms=TwilioSmsOutput(make_client(ACCOUNT_SID, AUTH_TOKEN, rec.url), SMS_FROM, state),
        case_store_url=store.base_url,
        case_store_token=store.token,
        state_url=state.url,  # attempts are counted next to the channel state
        retry=kwargs.pop("retry", FAST_RETRY),
        **kwargs,
    )


@pytest.fixture
async def notifier(store: Running, rec: Recorder, state: ChannelState) -> AsyncIterator[Notifier]:
    async with make_notifier(store, rec, state) as n:
        yield n


def sms_complaint(**overrides: object) -> dict[str, object]:
    body = complaint(
        language="ar", channel="sms", description="انتظرت ست ساعات في الطوارئ", requester_id="sms_" + "c" * 32,
        notify={"channel": "sms", "address": PHONE},
    )
    body.update(overrides)
    return body


async def create(http: aiohttp.ClientSession, body: dict[str, object]) -> dict[str, Any]:
    async with http.post("/v1/requests", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}) as resp:
        assert resp.status == 201, await resp.text()
        return dict(await resp.json())


async def move(http: aiohttp.ClientSession, ref: str, status: str, answer: str | None = None) -> None:
    body = {"status": status, "actor": "entity:moh", "answer": answer}
    async with http.post(f"/v1/requests/{ref}/status", json=body) as resp:
        assert resp.status == 200, await resp.text()


async def unacked(http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with http.get("/v1/outbox") as resp:
        return list((await resp.json())["events"])


def sms_sent(rec: Recorder) -> list[dict[str, str]]:
    return [r["form"] for r in rec.snapshot() if r["path"] == TWILIO_PATH]


def graph_sent(rec: Recorder) -> list[dict[str, Any]]:
    return [r["json"] for r in rec.snapshot() if r["path"] == GRAPH_PATH]


def sms(body: str, to: str = PHONE) -> dict[str, str]:
    return {"To": to, "From": SMS_FROM, "Body": body}


def tagged(text: str, psid: str = PSID) -> dict[str, Any]:
    return {"recipient": {"id": psid}, "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE", "message": {"text": text}}


# --- sending, in the request's language, on its channel ----------------------------------------

async def test_arabic_sms_and_english_messenger_updates(
    http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder
) -> None:
    ar = await create(http, sms_complaint())
    en = await create(http, complaint())  # English, Messenger, notify PSID
    a, e = ar["reference_display"], en["reference_display"]
    await move(http, ar["reference"], "in_progress")
    await move(http, en["reference"], "in_progress")
    await move(http, ar["reference"], "answered", "راجع قسم الطوارئ وتمت معالجة الازدحام.")
    await move(http, en["reference"], "answered", "The hospital added two doctors to the night shift.")

    assert await notifier.run_once() == 4  # the two `created` events are acked without a message

    assert [r["path"] for r in rec.snapshot()] == [TWILIO_PATH, GRAPH_PATH, TWILIO_PATH, GRAPH_PATH]
    assert sms_sent(rec) == [
        sms(f"بخدمتكم: حالة طلبك {a}: قيد المعالجة"),
        sms(f"بخدمتكم: رد الجهة على طلبك {a}:\nراجع قسم الطوارئ وتمت معالجة الازدحام."),
    ]
    assert graph_sent(rec) == [
        tagged(f"Bekhedmetkom: your request {e} is now in progress."),
        tagged(f"Bekhedmetkom: the entity answered your request {e}:\nThe hospital added two doctors to the night shift."),
    ]
    assert await unacked(http) == []


async def test_a_replayed_round_and_a_restart_send_nothing_twice(
    store: Running, http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder, state: ChannelState
) -> None:
    created = await create(http, sms_complaint())
    await move(http, created["reference"], "in_progress")
    assert await notifier.run_once() == 1
    assert await notifier.run_once() == 0
    async with make_notifier(store, rec, state) as restarted:  # a new process: cursor from the ack state
        assert await restarted.run_once() == 0
    assert len(sms_sent(rec)) == 1

    await move(http, created["reference"], "rejected")
    assert await notifier.run_once() == 1
    assert sms_sent(rec)[-1] == sms(f"بخدمتكم: حالة طلبك {created['reference_display']}: مرفوض")


async def test_escalated_and_reopened(
    store: Running, http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder, clock: Clock
) -> None:
    en = await create(http, complaint())
    ref, shown = en["reference"], en["reference_display"]
    clock.advance(days=60)
    assert await store.service.escalate_overdue() == [ref]
    await move(http, ref, "in_progress")
    await move(http, ref, "answered", "Done.")
    async with http.post(f"/v1/requests/{ref}/reopen", json={}, headers={"X-Requester-Id": "messenger_" + "a" * 32}) as resp:
        assert resp.status == 200

    assert await notifier.run_once() == 4
    assert graph_sent(rec) == [
        tagged(f"Bekhedmetkom: your request {shown} is overdue, so we escalated it."),
        tagged(f"Bekhedmetkom: your request {shown} is now in progress."),
        tagged(f"Bekhedmetkom: the entity answered your request {shown}:\nDone."),
        tagged(f"Bekhedmetkom: your request {shown} was reopened. We will tell you when it is answered."),
    ]


async def test_long_answers_are_cut_and_point_to_the_full_reply(
    http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder
) -> None:
    ar = await create(http, sms_complaint())
    en = await create(http, complaint())
    await move(http, ar["reference"], "in_progress")
    await move(http, en["reference"], "in_progress")
    await move(http, ar["reference"], "answered", "تمت مراجعة الشكوى مع إدارة المستشفى " * 20)
    await move(http, en["reference"], "answered", "The complaint was reviewed with the hospital management. " * 20)
    assert await notifier.run_once() == 4

    ar_body = sms_sent(rec)[-1]["Body"]
    en_body = graph_sent(rec)[-1]["message"]["text"]
    ar_head, ar_excerpt, ar_tail = ar_body.split("\n")
    assert ar_head == f"بخدمتكم: رد الجهة على طلبك {ar['reference_display']}:"
    assert ar_excerpt.endswith("…") and 200 <= len(ar_excerpt) <= 251
    assert ar_tail == f"للرد كاملاً أرسل: حالة {ar['reference']}"
    en_excerpt, en_tail = en_body.split("\n")[1:]
    long_en = "The complaint was reviewed with the hospital management. " * 20
    assert en_excerpt.endswith("...") and len(en_excerpt) <= 253
    assert long_en.startswith(en_excerpt[:-3]) and long_en[len(en_excerpt) - 3] == " "  # cut on a whole word
    assert en_tail == f"For the full answer, send: STATUS {en['reference']}"
    assert is_gsm7(en_body)  # "..." not "…", which would make an English SMS UCS-2


# --- failures ------------------------------------------------------------------------------------

async def test_a_5xx_is_retried_next_round_in_order(
    http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder
) -> None:
    ar = await create(http, sms_complaint())
    en = await create(http, complaint())
    await move(http, ar["reference"], "in_progress")
    await move(http, ar["reference"], "answered", "تم.")
    await move(http, en["reference"], "in_progress")
    rec.fail("/Messages.json", status=503)
    rec.fail("/me/messages", status=500)

    assert await notifier.run_once() == 0
    # The failed SMS held back the later event of the same request; nothing of it was acked.
    assert len(sms_sent(rec)) == 1 and len(graph_sent(rec)) == 1
    assert [e["event"] for e in await unacked(http)] == ["status_changed", "answered", "status_changed"]

    assert await notifier.run_once() == 3
    a = ar["reference_display"]
    assert sms_sent(rec) == [
        sms(f"بخدمتكم: حالة طلبك {a}: قيد المعالجة"),
        sms(f"بخدمتكم: حالة طلبك {a}: قيد المعالجة"),
        sms(f"بخدمتكم: رد الجهة على طلبك {a}:\nتم."),
    ]
    assert graph_sent(rec) == [tagged(f"Bekhedmetkom: your request {en['reference_display']} is now in progress.")] * 2
    assert await unacked(http) == []
    assert await notifier.run_once() == 0


async def test_an_event_that_keeps_failing_is_parked_after_the_cap_and_can_be_put_back(
    store: Running, http: aiohttp.ClientSession, rec: Recorder, state: ChannelState,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    ar = await create(http, sms_complaint())
    en = await create(http, complaint())
    await move(http, ar["reference"], "in_progress")
    await move(http, en["reference"], "in_progress")
    rec.fail("/Messages.json", status=503, times=1000)  # Twilio down for good
    cap = RetryPolicy(max_attempts=3, base_seconds=0.001, max_seconds=0.002)
    async with make_notifier(store, rec, state, retry=cap) as n:
        for _ in range(8):
            await n.run_once()
            await asyncio.sleep(0.01)
        assert len(sms_sent(rec)) == 3, "three attempts, then no more"
        assert len(graph_sent(rec)) == 1, "the other request's event went out meanwhile"
        sms_event = [e for e in await unacked(http) if e["reference"] == ar["reference"]]
        assert [e["event"] for e in sms_event] == ["status_changed"], "parked, not acked: the case store still has it"

        monkeypatch.setenv("CHANNEL_STATE_DATABASE_URL", state.url)
        assert main(["dead"]) == 0
        listed = capsys.readouterr().out
        assert f"event {sms_event[0]['id']}\tstatus_changed\tsms\tattempts=3" in listed
        assert "1 parked event(s)" in listed
        assert PHONE not in listed and ar["reference"] not in listed and "503" in listed

        async with make_notifier(store, rec, state, retry=cap) as restarted:  # the count survives a restart
            await restarted.run_once()
        assert len(sms_sent(rec)) == 3

        rec.clear_failures()
        assert main(["retry", str(sms_event[0]["id"])]) == 0
        assert await n.run_once() + await n.run_once() == 1
    assert len(sms_sent(rec)) == 4 and await unacked(http) == []
    assert main(["dead"]) == 0 and "0 parked event(s)" in capsys.readouterr().out


def test_the_notifier_talks_to_the_case_store_only_through_backend_client() -> None:
    import channels.notifier as package
    from backend_client import CaseStoreClient

    modules = sorted(Path(package.__file__).parent.glob("*.py"))
    assert len(modules) > 1  # a package: every one of its modules is checked
    for path in modules:
        source = path.read_text(encoding="utf-8")
        assert "aiohttp" not in source and "/v1/outbox" not in source.split('"""', 2)[2], path.name
    assert isinstance(Notifier(case_store_url="http://127.0.0.1:1", case_store_token="t").client, CaseStoreClient)


async def test_a_graph_4xx_is_acked_and_not_retried(
    http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder
) -> None:
    en = await create(http, complaint())
    await move(http, en["reference"], "in_progress")
    rec.fail("/me/messages", status=400)
    assert await notifier.run_once() == 0
    assert await unacked(http) == []
    assert await notifier.run_once() == 0
    assert len(graph_sent(rec)) == 1


async def test_an_opted_out_number_gets_nothing(
    http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder, state: ChannelState
) -> None:
    await state.update(keyed_id("twilio_sms", PHONE), opted_out=True)
    created = await create(http, sms_complaint(notify={"channel": "sms", "address": "0791234567"}))
    await move(http, created["reference"], "in_progress")
    assert await notifier.run_once() == 0
    assert rec.snapshot() == []
    assert await unacked(http) == []  # a refusal for good: acked, not retried forever


async def test_requests_without_a_notify_address_are_acked_silently(
    http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder
) -> None:
    body = complaint()
    body.pop("notify")
    created = await create(http, body)
    await move(http, created["reference"], "in_progress")
    assert await notifier.run_once() == 0
    assert rec.snapshot() == []
    assert await unacked(http) == []


async def test_run_forever_polls_and_survives_an_unreachable_round(
    store: Running, http: aiohttp.ClientSession, rec: Recorder, state: ChannelState
) -> None:
    created = await create(http, sms_complaint())
    await move(http, created["reference"], "in_progress")
    async with make_notifier(store, rec, state) as n:
        task = asyncio.create_task(n.run_forever(interval=0.05))
        try:
            await asyncio.to_thread(rec.wait_for, lambda r: r["path"] == TWILIO_PATH)
            await move(http, created["reference"], "answered", "تم.")
            await asyncio.to_thread(rec.wait_for, lambda r: r["path"] == TWILIO_PATH, 10.0, 2)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert len(sms_sent(rec)) == 2


async def test_case_store_unreachable_raises_and_sends_nothing(
    rec: Recorder, state: ChannelState, unused_port: int
) -> None:
    async with Notifier(
        sms=TwilioSmsOutput(make_client(ACCOUNT_SID, AUTH_TOKEN, rec.url), SMS_FROM, state),
        case_store_url=f"http://127.0.0.1:{unused_port}",
        case_store_token="t",
    ) as n:
        with pytest.raises(CaseStoreError, match="unreachable"):
            await n.run_once()
    assert rec.snapshot() == []


# --- confidentiality and privacy -------------------------------------------------------------------

async def test_a_confidential_report_update_carries_no_narrative_or_answer(
    http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder
) -> None:
    ar = await create(http, report(anonymous=False, notify={"channel": "sms", "address": PHONE}))
    en = await create(http, report(anonymous=False, language="en", channel="messenger", requester_id="messenger_" + "d" * 32))
    for created in (ar, en):
        await move(http, created["reference"], "in_progress")
        await move(http, created["reference"], "answered", SECRET_ANSWER)

    assert await notifier.run_once() == 4
    ar_text = f"بخدمتكم: يوجد تحديث على بلاغك {ar['reference_display']}. تابعه بالرمز السري."
    en_text = f"Bekhedmetkom: there is an update on your report {en['reference_display']}. Check it with your PIN."
    assert sms_sent(rec) == [sms(ar_text)] * 2
    assert graph_sent(rec) == [tagged(en_text)] * 2
    for r in rec.snapshot():
        raw = r["raw"].decode()
        assert NARRATIVE not in raw and SECRET_ANSWER not in raw
        assert "رشوة" not in r["form"].get("Body", "")


async def test_logs_hold_no_address_text_or_token(
    store: Running, http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder, state: ChannelState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for body in (sms_complaint(), complaint()):
        created = await create(http, body)
        await move(http, created["reference"], "in_progress")
    rec.fail("/Messages.json", status=503)
    rec.fail("/me/messages", status=403)
    await notifier.run_once()
    await state.update(keyed_id("twilio_sms", PHONE), opted_out=True)
    await notifier.run_once()
    text = caplog.text
    assert "event" in text  # the notifier did log its outcomes
    for secret in (PHONE, "791234567", PSID, store.token, PAGE_TOKEN, AUTH_TOKEN, ACCOUNT_SID, "قيد المعالجة", "in progress"):
        assert secret not in text


# --- texts -----------------------------------------------------------------------------------------

def _event(kind: str, language: str, status: str = "in_progress", rtype: str = "complaint", answer: str | None = None) -> dict[str, Any]:
    payload = {"reference": "4829103756", "type": rtype, "status": status, "language": language,
               "notify": {"channel": "sms", "address": PHONE}, "answer": answer}
    return {"id": 1, "event": kind, "reference": "4829103756", "payload": payload}


@pytest.mark.parametrize(
    ("kind", "status", "rtype"),
    [
        ("status_changed", "in_progress", "complaint"),
        ("status_changed", "rejected", "complaint"),
        ("status_changed", "closed", "suggestion"),
        ("escalated", "in_progress", "inquiry"),
        ("reopened", "reopened", "complaint"),
        ("answered", "answered", "report"),
    ],
)
def test_short_messages_fit_one_sms(kind: str, status: str, rtype: str) -> None:
    ar, en = render_event(_event(kind, "ar", status, rtype)), render_event(_event(kind, "en", status, rtype))
    assert ar is not None and en is not None
    assert sms_segments(ar) == 1, f"{len(ar)} chars: {ar}"
    assert sms_segments(en) == 1 and is_gsm7(en)


def test_created_events_and_unknown_language_fallback() -> None:
    assert render_event(_event("created", "ar", "submitted")) is None
    assert render_event(_event("status_changed", "fr")) == "بخدمتكم: حالة طلبك 482 910 3756: قيد المعالجة"


def test_excerpt_ends_on_a_word() -> None:
    assert excerpt("  short\n\n answer  ", "en") == ("short\nanswer", False)
    text, cut = excerpt("word " * 100, "ar")
    assert cut and text.endswith("word…") and len(text) <= 251


def test_cli_refuses_a_non_positive_interval(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--interval", "0"])
    assert "--interval is 0.0" in capsys.readouterr().err


# --- two notifiers, one case store (issue 14: safe to run twice) ------------------------------

async def test_a_second_notifier_waits_while_the_first_holds_the_lease(
    store: Running, http: aiohttp.ClientSession, rec: Recorder, state: ChannelState
) -> None:
    created = await create(http, sms_complaint())
    async with make_notifier(store, rec, state) as first, make_notifier(store, rec, state) as second:
        await move(http, created["reference"], "in_progress")
        assert await first.run_once() == 1
        await move(http, created["reference"], "answered", "تم.")
        assert await second.run_once() == 0  # waits: the first holds the lease
        assert len(sms_sent(rec)) == 1
        assert await first.run_once() == 1
    assert len(sms_sent(rec)) == 2 and await unacked(http) == []


async def test_two_notifiers_polling_together_deliver_each_event_once_and_the_second_takes_over(
    store: Running, http: aiohttp.ClientSession, rec: Recorder, state: ChannelState
) -> None:
    refs = [(await create(http, sms_complaint()))["reference"] for _ in range(6)]
    first, second = make_notifier(store, rec, state, lease_seconds=2.0), make_notifier(store, rec, state, lease_seconds=2.0)
    tasks = [asyncio.create_task(n.run_forever(interval=0.02)) for n in (first, second)]
    try:
        for ref in refs:
            await move(http, ref, "in_progress")
        await asyncio.to_thread(rec.wait_for, lambda r: r["path"] == TWILIO_PATH, 20.0, len(refs))
        holder = first if first._holding else second
        other = second if holder is first else first
        # The holder stops (a rollout, a scale-down): it releases the lease, the other takes over.
        tasks[0 if holder is first else 1].cancel()
        await holder.close()
        for ref in refs:
            await move(http, ref, "answered", "تم.")
        await asyncio.to_thread(rec.wait_for, lambda r: r["path"] == TWILIO_PATH, 20.0, 2 * len(refs))
        await asyncio.sleep(0.3)  # room for a duplicate to show up
        assert other._holding
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await first.close()
        await second.close()
    bodies = [m["Body"] for m in sms_sent(rec)]
    assert len(bodies) == 2 * len(refs) and len(set(bodies)) == len(bodies)  # each event once
    assert await unacked(http) == []


async def test_a_dead_holders_lease_expires_and_the_other_notifier_sends(
    store: Running, http: aiohttp.ClientSession, rec: Recorder, state: ChannelState
) -> None:
    created = await create(http, sms_complaint())
    crashed = make_notifier(store, rec, state, lease_seconds=0.5)
    assert await crashed.run_once() == 0 and crashed._holding  # holds the lease, then dies (no release)
    async with make_notifier(store, rec, state, lease_seconds=0.5) as standby:
        await move(http, created["reference"], "in_progress")
        assert await standby.run_once() == 0
        await asyncio.sleep(0.6)
        assert await standby.run_once() == 1
        assert await crashed.run_once() == 0  # back from a stall: it lost the lease, sends nothing
    await crashed.client.close()
    assert len(sms_sent(rec)) == 1


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_the_lease_has_one_holder_even_when_many_race_for_it(db: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from channels.notifier import Lease

    url = request.getfixturevalue("postgres_url") if db == "postgresql" else f"sqlite:///{tmp_path / 'lease.db'}"
    leases = [Lease(url, seconds=30) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda lease: lease.acquire(), leases))
    assert won.count(True) == 1
    holder = leases[won.index(True)]
    assert holder.acquire() and not any(lease.acquire() for lease in leases if lease is not holder)  # renewal
    holder.release()
    assert leases[0 if holder is not leases[0] else 1].acquire() and not holder.acquire()


# --- escalation: the citizen in their language, and the official at the next level -------------

OFFICIAL_SMS = "+962790000101"  # jfda's level-1 contact in tests/case_store/fixtures/catalogue.yml


async def test_an_escalation_tells_the_citizen_in_their_language_and_the_next_level(
    store: Running, http: aiohttp.ClientSession, notifier: Notifier, rec: Recorder, clock: Clock
) -> None:
    ar = await create(http, sms_complaint(entity="jfda"))
    en = await create(http, complaint(entity="jfda"))
    clock.advance(days=60)
    assert sorted(await store.service.escalate_overdue()) == sorted([ar["reference"], en["reference"]])

    assert await notifier.run_once() == 4  # each: the citizen's `escalated`, the official's notice
    a, e = ar["reference_display"], en["reference_display"]
    official = "بخدمتكم: تأخر الرد على الطلب {} الموجّه إلى المؤسسة العامة للغذاء والدواء، ورُفع إليكم (المستوى 1)."
    assert sms_sent(rec) == [
        sms(f"بخدمتكم: تأخر الرد على طلبك {a}، فرفعناه لمستوى أعلى."),
        sms(official.format(a), to=OFFICIAL_SMS),
        sms(official.format(e), to=OFFICIAL_SMS),
    ]
    assert graph_sent(rec) == [tagged(f"Bekhedmetkom: your request {e} is overdue, so we escalated it.")]
    assert sms_segments(official.format(a)) <= 2

    # Level 2 goes to the minister's office on Messenger, in English; nothing of the narrative.
    clock.advance(days=60)
    assert len(await store.service.escalate_overdue()) == 2
    assert await notifier.run_once() == 4
    to_minister = [m for m in graph_sent(rec) if m["recipient"]["id"] == "psid-minister-health"]
    assert [m["message"]["text"] for m in to_minister] == [
        f"Bekhedmetkom: request {ref} to Jordan Food and Drug Administration is overdue and was escalated to you (level 2)."
        for ref in (a, e)
    ]
    assert "ست ساعات" not in str(rec.snapshot())


def test_the_notifier_process_loads_neither_rasa_core_nor_tensorflow() -> None:
    """It only sends messages: Rasa's core and TensorFlow would cost it about 600 MB (issue 14).
    Its entry point, in a fresh interpreter, as `python -m channels.notifier` imports it."""
    import subprocess

    probe = ("import sys, runpy; sys.argv = ['channels.notifier', '--help']\n"
             "try:\n    runpy.run_module('channels.notifier', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('tensorflow', 'rasa.core.agent', 'rasa.core.actions.action') if m in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
