"""The conversation funnel end to end: real conversations through the running system (REST
channel: Rasa, action server, case store), Rasa's own event broker, `python -m insights serve`
folding it, and the operations room's figures read over HTTP, checked exactly.

Some conversations are filed, some abandoned at known steps, one cancelled. Once with Rasa's SQL
broker (the default install) and once with RabbitMQ (127.0.0.1:5672, guest/guest; in CI this
must run, not skip). Both systems are this module's own, so nobody else's turns are counted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from bot import launcher
from channels.accounts import AccountStore
from tests.e2e.harness import RunningSystem, start_system
from tests.e2e.test_dialog_e2e import Chat, answer_until

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
START_TIMEOUT = 900  # loading the model on a busy 2-core machine has taken over 3 minutes


def _rabbit_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
        return True
    except OSError:
        return False


def drive(system: RunningSystem) -> None:
    """Five conversations, outcomes known in advance."""
    filed_en = Chat(system, "filed-en")
    filed_en.say("I want to make a suggestion")
    answer_until(filed_en, "confirmed", "Please open the health centres in the evening so working people can go", None)
    filed_en.press("/affirm")

    left_at_description = Chat(system, "left-description")
    left_at_description.say("I want to make a suggestion")
    answer_until(left_at_description, "description", "", None)

    cancelled_at_sector = Chat(system, "cancel-sector")
    cancelled_at_sector.say("I have a question for the government")
    assert cancelled_at_sector.slots().get("requested_slot") == "sector"
    cancelled_at_sector.say("cancel")

    filed_ar = Chat(system, "filed-ar")
    filed_ar.say("الموظف بدائرة الترخيص صرخ علي قدام الناس وما رضي يخلص معاملتي")
    answer_until(filed_ar, "confirmed", "", "0791234567")
    filed_ar.press("/affirm")

    left_at_phone = Chat(system, "left-phone")
    left_at_phone.say("الموظف بدائرة الترخيص صرخ علي قدام الناس وما رضي يخلص معاملتي")
    answer_until(left_at_phone, "contact_phone", "", None)


class Insights:
    def __init__(self, system: RunningSystem) -> None:
        AccountStore(system.env["AGENT_CONSOLE_DATABASE_URL"]).create_agent("ops", "Ops", PASSWORD, role="ops_room")
        self.port = launcher.free_port()
        env = {**system.env, "INSIGHTS_PORT": str(self.port), "INSIGHTS_QUIET_MINUTES": "0", "INSIGHTS_BROKER_POLL_SECONDS": "0.5"}
        self.log = open(system.var_dir / "insights-test.log", "wb")  # noqa: SIM115 - the child writes it while it runs
        self.proc = subprocess.Popen([sys.executable, "-m", "insights", "serve", "--port", str(self.port)], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        launcher.wait_ready(f"http://127.0.0.1:{self.port}/healthz", 180, self.proc)
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/login", data=json.dumps(
            {"username": "ops", "password": PASSWORD}).encode(), headers={"Content-Type": "application/json"})
        self.http.open(req, timeout=10).read()

    def tables(self) -> dict[str, Any]:
        with self.http.open(f"http://127.0.0.1:{self.port}/api/figures?period=30d&lang=en", timeout=30) as r:
            return json.loads(r.read())["tables"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)  # it stops on SIGTERM within seconds, RabbitMQ consumer included
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


def check_funnel(system: RunningSystem, insights: Insights) -> None:
    deadline = time.monotonic() + 60
    while True:
        completion = {r["type"]: r for r in insights.tables()["completion"]}
        if completion["Complaint"]["started"] == 2 and completion["Suggestion"]["started"] == 2 and \
                completion["Complaint"]["filed"] + completion["Suggestion"]["filed"] == 2:
            break
        assert time.monotonic() < deadline, f"figures never arrived: {completion}"
        time.sleep(1)
    tables = insights.tables()
    completion = {r["type"]: {k: v for k, v in r.items() if k != "type"} for r in tables["completion"]}
    assert completion["Suggestion"] == {"started": 2, "filed": 1, "cancelled": 0, "abandoned": 1, "in_progress": 0, "rate": 0.5}
    assert completion["Complaint"] == {"started": 2, "filed": 1, "cancelled": 0, "abandoned": 1, "in_progress": 0, "rate": 0.5}
    assert completion["Ask the Government"] == {"started": 1, "filed": 0, "cancelled": 1, "abandoned": 0, "in_progress": 0, "rate": 0.0}
    dropoff = {r["step"]: (r["cancelled"], r["abandoned"]) for r in tables["dropoff"]}
    assert dropoff == {"Sector": (1, 0), "Description": (0, 1), "Phone number": (0, 1)}
    by_language = {r["language"]: r for r in tables["fallback"]}
    assert set(by_language) <= {"Arabic", "English", "Arabic in Latin letters", "Not yet known"}
    assert by_language["English"]["turns"] > 0 and by_language["Arabic"]["turns"] > 0


def broker_rows_with_text(system: RunningSystem) -> int:
    import sqlite3

    path = system.var_dir / "rasa_events.db"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM events WHERE data != '{}'").fetchone()[0])
    finally:
        db.close()


@pytest.fixture(scope="module")
def sql_system() -> Iterator[RunningSystem]:
    running = start_system(timeout=START_TIMEOUT)
    try:
        yield running
    finally:
        running.stop()


def test_funnel_from_the_sql_broker(sql_system: RunningSystem) -> None:
    drive(sql_system)
    insights = Insights(sql_system)
    try:
        check_funnel(sql_system, insights)
        assert broker_rows_with_text(sql_system) == 0  # folded and dropped: no message text piles up
        # the analytics store holds no text and no sender id
        import sqlite3

        db = sqlite3.connect(sql_system.var_dir / "insights.db")
        dump = json.dumps([list(map(str, r)) for t in ("ana_conversations", "ana_forms", "ana_turns", "ana_handoffs")
                           for r in db.execute(f"SELECT * FROM {t}")])
        db.close()
        assert "0791234567" not in dump and "health centres" not in dump and "filed-en" not in dump and "rest_" not in dump
    finally:
        insights.stop()


@pytest.mark.skipif(not _rabbit_up() and not os.environ.get("CI"), reason="RabbitMQ is not on 127.0.0.1:5672")
def test_funnel_from_rabbitmq() -> None:
    queue = f"bekh_events_test_{uuid.uuid4().hex[:8]}"
    running = start_system({"EVENT_BROKER_URL": AMQP, "EVENT_BROKER_QUEUE": queue}, timeout=START_TIMEOUT)
    try:
        drive(running)
        insights = Insights(running)
        try:
            check_funnel(running, insights)
        finally:
            insights.stop()
    finally:
        running.stop()
        _delete_queue(queue)


def _delete_queue(queue: str) -> None:
    import asyncio

    import aio_pika

    async def go() -> None:
        conn = await aio_pika.connect(AMQP)
        async with conn:
            channel = await conn.channel()
            await channel.queue_delete(queue)

    asyncio.run(go())
