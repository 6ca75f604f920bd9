"""IVR load: N concurrent scripted phone calls, p50/p95 of the webhook answer time.

    .venv/bin/python bench/ivr_load.py [--calls 20] [--inproc]

By default starts the real system (tests/e2e/harness.py `start_system()`: case store, action
server, Rasa with every connector in credentials.yml) and needs credentials.yml to load
`channels.twilio_voice.TwilioVoiceInput`. `--inproc` (or when the harness or that line is
missing) measures the connector alone: a Sanic app on loopback with a stub bot that answers at
once, i.e. signature check + de-duplication + state + TwiML rendering, without NLU or actions.

Each call: answer (language menu), 2 (English), 6 (follow up), a mistyped reference, the right
reference, then silence until the IVR hangs up. Twilio waits 15 s for an answer; every answer
here should be far below that. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BEKH_ENV", "test")
os.environ.setdefault("BEKH_VAR_DIR", tempfile.mkdtemp(prefix="bekh-bench-"))

import aiohttp
from twilio.request_validator import RequestValidator

from bot import refcode

PATH = "/webhooks/twilio_voice/webhook"


async def one_call(session: aiohttp.ClientSession, target: str, public: str, token: str, account: str,
                   timings: list[float], errors: list[str], by_step: dict[int, list[float]] | None = None) -> int:
    sid, phone, query = "CA" + uuid.uuid4().hex, "+96279" + str(uuid.uuid4().int)[:7], ""
    reference = refcode.generate()
    wrong = reference[:-1] + str((int(reference[-1]) + 1) % 10)
    script: list[dict[str, str]] = [{}, {"Digits": "2"}, {"Digits": "6"}, {"Digits": wrong}, {"Digits": reference}]
    script += [{}] * 8
    validator = RequestValidator(token)
    steps = 0
    for inputs in script:
        params = {"CallSid": sid, "AccountSid": account, "From": phone, "To": "+96265008080", "CallStatus": "in-progress", **inputs}
        signature = validator.compute_signature(public + PATH + query, params)
        started = time.perf_counter()
        async with session.post(target + PATH + query, data=urlencode(params),
                                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}) as r:
            body = await r.text()
        timings.append(time.perf_counter() - started)
        if by_step is not None:
            by_step.setdefault(steps, []).append(timings[-1])
        steps += 1
        if r.status != 200:
            errors.append(f"HTTP {r.status}")
            break
        m = re.search(r'action="[^"?]+(\?step=\d+)"', body)
        if "<Hangup" in body or "<Enqueue" in body or "<Dial" in body or not m:
            break
        query = m.group(1)
    return steps


async def stub_server(calls: int) -> tuple[str, str, str, Any]:
    from rasa.core.run import configure_app
    from sanic import Sanic

    from bot.business_hours import current
    from bot.channel_state import ChannelState
    from channels.twilio_voice import (
        DEFAULT_CATALOGUE,
        TwilioVoiceInput,
        VoiceSettings,
        load_entity_hints,
    )
    from tests.conftest import free_port

    port = free_port()
    public = f"http://127.0.0.1:{port}"
    token = "bench-token"
    hours = current()

    class Sms:
        async def send_sms(self, to: str, text: str) -> None:
            return None

    settings = VoiceSettings(public_base_url=public, entity_hints=load_entity_hints(DEFAULT_CATALOGUE),
                             hours_text={lang: hours.describe(lang) for lang in ("ar", "en")})
    state = ChannelState(f"sqlite:///{Path(os.environ['BEKH_VAR_DIR']) / 'bench_channel_state.db'}")
    channel = TwilioVoiceInput(token, settings, state, Sms(), SimpleNamespace(is_open=lambda now=None: False))

    menu = {"text": "How can I help you?", "buttons": [{"title": t, "payload": p} for t, p in (
        ("Ask", "/ask_government"), ("Suggest", "/suggest"), ("Compliment", "/compliment"), ("Complaint", "/complain"),
        ("Report", "/report_violation"), ("Follow up", "/check_status"), ("Agent", "/human_handoff"))]}

    async def bot(message: Any) -> None:
        reply = menu if str(message.text).startswith("/switch") else {"text": "Your request is in progress."}
        await message.output_channel.send_response(message.sender_id, dict(reply))

    Sanic.test_mode = True
    app = configure_app([channel], enable_api=False, use_uvloop=False)
    app.ctx.agent = SimpleNamespace(handle_message=bot)
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    return public, public, token, server


async def run(calls: int, inproc: bool) -> None:
    server = running = None
    account = "AC" + "0" * 32
    if not inproc:
        from tests.e2e.harness import TIMED, start_system

        running = start_system(TIMED)
        target = public = running.rasa_url
        token, account = running.env["TWILIO_AUTH_TOKEN"], running.env["TWILIO_ACCOUNT_SID"]
        mode = "real system (Rasa + actions + case store)"
    else:
        target, public, token, server = await stub_server(calls)
        mode = "connector only (stub bot)"
    timings: list[float] = []
    errors: list[str] = []
    by_step: dict[int, list[float]] = {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            started = time.perf_counter()
            steps = await asyncio.gather(*(one_call(session, target, public, token, account, timings, errors, by_step) for _ in range(calls)))
            wall = time.perf_counter() - started
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        if running is not None:
            running.stop()
    ms = sorted(t * 1000 for t in timings)
    p95 = ms[max(0, round(0.95 * len(ms)) - 1)] if ms else float("nan")
    print(f"IVR load: {calls} concurrent calls, {mode}")
    print(f"  python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"  webhooks answered: {len(ms)} ({sum(steps)} steps), errors: {len(errors)} {sorted(set(errors))}")
    print(f"  wall time: {wall:.2f} s, {len(ms) / wall:.1f} webhooks/s")
    if ms:
        print(f"  answer time p50: {statistics.median(ms):.1f} ms, p95: {p95:.1f} ms, max: {ms[-1]:.1f} ms (Twilio waits 15000 ms)")
        for step, ts in sorted(by_step.items()):
            print(f"    step {step + 1}: {len(ts)} answers, p50 {statistics.median(ts) * 1000:.0f} ms, max {max(ts) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--inproc", action="store_true", help="measure the connector alone with a stub bot")
    args = parser.parse_args()
    inproc = args.inproc
    creds = ROOT / "credentials.yml"
    if not inproc and (not (ROOT / "tests" / "e2e" / "harness.py").exists()
                       or "channels.twilio_voice.TwilioVoiceInput" not in creds.read_text()):
        print("credentials.yml does not load channels.twilio_voice.TwilioVoiceInput (or no harness): measuring the connector alone")
        inproc = True
    asyncio.run(run(args.calls, inproc))


if __name__ == "__main__":
    main()
