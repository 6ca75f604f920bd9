"""Load on the channel connectors, beside Rasa's stock REST channel, on the same model and run.

    .venv/bin/python bench/channel_load.py --conversations 20 --turns 5
    .venv/bin/python bench/channel_load.py --channels twilio_sms,rest -c 50

Starts the whole system (tests/e2e/harness.start_system), then for each channel runs N
concurrent conversations of T turns, each signed as Meta / Twilio sign them, and prints p50 /
p95 latency per turn and turns per second. Latency is from the POST to the reply: the TwiML
answer for SMS and REST, the first Send API call the recorder sees for Messenger (whose
webhook answers at once and replies in the background). Figures only: never pass/fail.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import hmac
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests
from twilio.request_validator import RequestValidator

SCRIPT = ("مرحبا", "بدي أعرف شو الخدمات اللي عندكم", "شكراً", "Hello, how does this work?", "مع السلامة")


def messenger_turns(system: Any, session: requests.Session, turns: int) -> list[float]:
    psid = str(uuid.uuid4().int)[:16]
    url = f"{system.rasa_url}/webhooks/messenger/webhook"
    secret = system.env["MESSENGER_APP_SECRET"].encode()

    def mine(r: dict[str, Any]) -> bool:
        return r["path"].endswith("/me/messages") and (r["json"] or {}).get("recipient", {}).get("id") == psid

    out = []
    for i in range(turns):
        seen = len([r for r in system.recorder.snapshot() if mine(r)])
        now = int(time.time() * 1000)
        event = {"object": "page", "entry": [{"id": "1", "time": now, "messaging": [
            {"sender": {"id": psid}, "recipient": {"id": "1"}, "timestamp": now,
             "message": {"mid": f"m_{uuid.uuid4().hex}", "text": SCRIPT[i % len(SCRIPT)]}}]}]}
        body = json.dumps(event, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json",
                   "X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()}
        start = time.perf_counter()
        session.post(url, data=body, headers=headers, timeout=30).raise_for_status()
        system.recorder.wait_for(mine, timeout=60, count=seen + 1)
        out.append(time.perf_counter() - start)
        time.sleep(0.3)  # let the rest of the turn's messages arrive before the next one
    return out


def sms_turns(system: Any, session: requests.Session, turns: int) -> list[float]:
    phone = "+96279" + str(uuid.uuid4().int)[:7]
    path = "/webhooks/twilio_sms/webhook"
    public = system.env["PUBLIC_BASE_URL"].rstrip("/") + path
    validator = RequestValidator(system.env["TWILIO_AUTH_TOKEN"])
    out = []
    for i in range(turns):
        sid = "SM" + uuid.uuid4().hex
        params = {"MessageSid": sid, "SmsSid": sid, "From": phone, "To": system.env["TWILIO_SMS_FROM"],
                  "Body": SCRIPT[i % len(SCRIPT)], "NumMedia": "0", "AccountSid": system.env["TWILIO_ACCOUNT_SID"]}
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": validator.compute_signature(public, params)}
        start = time.perf_counter()
        session.post(f"{system.rasa_url}{path}", data=urlencode(params), headers=headers, timeout=30).raise_for_status()
        out.append(time.perf_counter() - start)
    return out


def rest_turns(system: Any, session: requests.Session, turns: int) -> list[float]:
    sender = "bench_" + uuid.uuid4().hex
    out = []
    for i in range(turns):
        start = time.perf_counter()
        session.post(f"{system.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": SCRIPT[i % len(SCRIPT)]},
                     headers={"Authorization": f"Bearer {system.env['RASA_TOKEN']}"}, timeout=30).raise_for_status()
        out.append(time.perf_counter() - start)
    return out


RUNNERS: dict[str, Callable[[Any, requests.Session, int], list[float]]] = {
    "messenger": messenger_turns, "twilio_sms": sms_turns, "rest": rest_turns,
}


def run(system: Any, channel: str, conversations: int, turns: int) -> dict[str, float]:
    def one(_: int) -> list[float]:
        with requests.Session() as session:
            return RUNNERS[channel](system, session, turns)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(conversations) as pool:
        latencies = [x for conv in pool.map(one, range(conversations)) for x in conv]
    wall = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else latencies * 19
    return {"turns": len(latencies), "p50_ms": statistics.median(latencies) * 1000, "p95_ms": q[18] * 1000,
            "turns_per_s": len(latencies) / wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--conversations", type=int, default=10, help="concurrent conversations per channel")
    parser.add_argument("-t", "--turns", type=int, default=5, help="turns per conversation")
    parser.add_argument("--channels", default="rest,twilio_sms,messenger", help="comma-separated: " + ",".join(RUNNERS))
    args = parser.parse_args(argv)
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    unknown = [c for c in channels if c not in RUNNERS]
    if unknown:
        parser.error(f"unknown channel(s) {unknown}; choose from {sorted(RUNNERS)}")
    try:
        from tests.e2e.harness import TIMED, start_system
    except ImportError as exc:
        print(f"channel_load: needs tests/e2e/harness.py (start_system): {exc}", file=sys.stderr)
        return 2
    print("starting the system (trains the model if needed)...", flush=True)
    system = start_system(TIMED)
    try:
        run(system, channels[0], 1, 1)  # warm-up: model, action server, first SQLite writes
        print(f"{'channel':<12} {'turns':>6} {'p50 ms':>9} {'p95 ms':>9} {'turns/s':>9}   "
              f"({args.conversations} conversations x {args.turns} turns)")
        for channel in channels:
            r = run(system, channel, args.conversations, args.turns)
            print(f"{channel:<12} {r['turns']:>6} {r['p50_ms']:>9.0f} {r['p95_ms']:>9.0f} {r['turns_per_s']:>9.1f}", flush=True)
    finally:
        system.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
