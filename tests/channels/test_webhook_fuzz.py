"""Every webhook answers hostile input with 4xx, never 5xx, and stores nothing for what it refuses.

Bounded, seeded property tests (hypothesis, `derandomize=True`): correctly signed bodies of
random JSON shapes, wrong types in every field, huge strings, deep nesting, odd Unicode, and
for Twilio random form fields, are posted to the real connectors served by a real Sanic app
(rasa.core.run.configure_app) on loopback, with a stand-in agent. Checked for every example:
the status is below 500, a refused request (4xx) leaves no delivery, sender state or Rasa
turn behind, and no connector logs an error (a failure inside a background turn is a 5xx the
vendor never sees).

`FUZZ_EXAMPLES=N` runs N examples per property instead of the default budget (`make test`
keeps the whole file well under a minute):

    FUZZ_EXAMPLES=2000 python -m pytest -q -p no:cacheprovider tests/channels/test_webhook_fuzz.py
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.channels.channel import InputChannel, UserMessage
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.business_hours import BusinessHours
from bot.channel_state import ChannelState, deliveries, sender_state
from bot.launcher import free_port
from channels.messenger import MessengerInput
from channels.rest import RestInput
from channels.twilio_sms import TwilioSmsInput
from channels.twilio_voice import TwilioVoiceInput, VoiceSettings
from tests.support.recorder import Recorder

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(derandomize=True, max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

APP_SECRET = "fuzz-app-secret-0123456789"
TWILIO_TOKEN = "fuzz-twilio-auth-token-0123456789"
RASA_TOKEN = "fuzz-rasa-token-0123456789"
PUBLIC = "https://bekh.example.jo"
MENU = [{"title": "شكوى", "payload": "/complain"}, {"title": "اقتراح", "payload": "/suggest"}]


# --- the connectors, served from a thread so the properties can stay synchronous --------------

class Agent:
    """Stands in for Rasa: records each UserMessage and answers with a short menu."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_with_buttons(message.sender_id, "كيف بقدر أساعدك؟", MENU)


class ErrorLog(logging.Handler):
    """Errors logged by our connectors or by Sanic while serving (a swallowed 500 included)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("channels", "sanic", "rasa.core.channels")):
            self.records.append(f"{record.name}: {record.getMessage()}")


class Served:
    def __init__(self, channel: InputChannel, state: ChannelState | None) -> None:
        self.channel, self.state, self.agent = channel, state, Agent()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.base = ""
        self.session = requests.Session()
        self.errors = ErrorLog()

    def run(self, coro: Awaitable[Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    async def _start(self) -> str:
        from rasa.core.run import configure_app
        from sanic import Sanic

        Sanic.test_mode = True
        app = configure_app([self.channel], enable_api=False, use_uvloop=False)
        app.ctx.agent = SimpleNamespace(handle_message=self.agent)
        port = free_port()
        self.server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
        await self.server.startup()
        return f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        drain = getattr(self.channel, "drain", None)
        if drain:
            await drain()
        self.server.close()
        await self.server.wait_closed()

    def __enter__(self) -> Served:
        self.thread.start()
        self.base = self.run(self._start())
        logging.getLogger().addHandler(self.errors)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self.errors)
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.session.close()

    def settle(self) -> None:
        """Wait for turns the connector runs after answering (Messenger answers first)."""
        drain = getattr(self.channel, "drain", None)
        if drain:
            self.run(drain())

    def rows(self) -> tuple[int, int]:
        if self.state is None:
            return (0, 0)
        with self.state.engine.connect() as conn:
            return (conn.execute(select(func.count()).select_from(deliveries)).scalar_one(),
                    conn.execute(select(func.count()).select_from(sender_state)).scalar_one())

    def check(self, send: Callable[[], requests.Response]) -> int:
        """Send one request; assert < 500, nothing stored when refused, no error logged."""
        self.errors.records.clear()
        before, heard = self.rows(), len(self.agent.messages)
        status = send().status_code
        self.settle()
        assert status < 500, f"server error {status}"
        if status >= 400:
            assert self.rows() == before, "a refused request left state behind"
            assert len(self.agent.messages) == heard, "a refused request reached Rasa"
        assert not self.errors.records, self.errors.records
        return status


@pytest.fixture(scope="module")
def cloud() -> Iterator[Recorder]:
    """Meta's Graph API and Twilio's REST API, recorded locally (replies are sent somewhere)."""
    rec = Recorder().start()
    yield rec
    rec.stop()


@pytest.fixture(scope="module")
def messenger(tmp_path_factory: pytest.TempPathFactory, cloud: Recorder) -> Iterator[Served]:
    path = tmp_path_factory.mktemp("messenger")
    channel = MessengerInput.from_credentials({
        "app_secret": APP_SECRET, "verify_token": "v", "page_access_token": "EAAfuzz",
        "graph_url": cloud.url, "state_url": f"sqlite:///{path / 'state.db'}",
    })
    with Served(channel, channel.state) as served:
        yield served


@pytest.fixture(scope="module")
def sms(tmp_path_factory: pytest.TempPathFactory, cloud: Recorder) -> Iterator[Served]:
    path = tmp_path_factory.mktemp("sms")
    channel = TwilioSmsInput.from_credentials({
        "account_sid": "AC" + "0" * 32, "auth_token": TWILIO_TOKEN, "sms_from": "+15017122661",
        "public_base_url": PUBLIC, "api_base_url": cloud.url, "state_url": f"sqlite:///{path / 'state.db'}",
    })
    with Served(channel, channel.state) as served:
        yield served


class _Sms:
    async def send_sms(self, to: str, text: str) -> list[str]:
        return ["SM" + "0" * 32]


class _Open:
    def is_open(self, now: Any = None) -> bool:
        return True


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    path = tmp_path_factory.mktemp("voice")
    hours = BusinessHours.parse("sun-thu 08:00-15:00")
    voice_settings = VoiceSettings(public_base_url=PUBLIC, hours_text={lang: hours.describe(lang) for lang in ("ar", "en")})
    state = ChannelState(f"sqlite:///{path / 'state.db'}")
    channel = TwilioVoiceInput(TWILIO_TOKEN, voice_settings, state, _Sms(), _Open())
    with Served(channel, state) as served:
        yield served


@pytest.fixture(scope="module")
def rest() -> Iterator[Served]:
    with Served(RestInput(RASA_TOKEN), None) as served:
        yield served


# --- strategies -------------------------------------------------------------------------------

ODD_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
HUGE = st.sampled_from(["ا", "x", "/", "\u200b", "🙂", " "]).flatmap(
    lambda ch: st.integers(1_000, 300_000).map(lambda n: ch * n))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    ODD_TEXT, st.sampled_from(["/affirm", "/ /affirm", '/inform{"sector":"health"}', "", "2", "٢"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4),
                    max_leaves=15)
DEEP = st.tuples(st.integers(30, 6_000), st.sampled_from(["[", "{\"a\":"])).map(
    lambda t: (t[1] * t[0] + "0" + ("]" if t[1] == "[" else "}") * t[0]).encode())
RAW = st.one_of(DEEP, st.binary(max_size=200), HUGE.map(lambda s: json.dumps(s).encode()))


def maybe(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A plausible value most of the time, any JSON value (a wrong type) otherwise."""
    return st.one_of(plausible, plausible, JSON)


MESSAGE = st.fixed_dictionaries({}, optional={
    "mid": maybe(st.uuids().map(lambda u: f"m_{u.hex}")),
    "text": maybe(st.one_of(ODD_TEXT, HUGE)),
    "is_echo": maybe(st.booleans()),
    "quick_reply": maybe(st.fixed_dictionaries({"payload": maybe(st.sampled_from(["/complain", "/ /affirm", "/x{"]))})),
    "attachments": maybe(st.lists(st.fixed_dictionaries({"type": maybe(st.sampled_from(["image", "file", "audio"])),
                                                         "payload": maybe(st.fixed_dictionaries({"url": maybe(st.just("https://x.jo/a.png"))}))}),
                                  max_size=3)),
})
POSTBACK = st.fixed_dictionaries({}, optional={"mid": maybe(ODD_TEXT), "title": maybe(ODD_TEXT),
                                               "payload": maybe(st.sampled_from(["/complain", "GET_STARTED", "/ /affirm"]))})
ITEM = st.fixed_dictionaries({"sender": maybe(st.fixed_dictionaries({"id": maybe(st.sampled_from(["6783920011223344", "1"]))}))},
                             optional={"timestamp": maybe(st.integers()), "message": maybe(MESSAGE), "postback": maybe(POSTBACK)})
MESSENGER_BODY = st.fixed_dictionaries({"object": maybe(st.just("page")),
                                        "entry": maybe(st.lists(st.fixed_dictionaries({"id": maybe(ODD_TEXT),
                                                                                       "messaging": maybe(st.lists(maybe(ITEM), max_size=3))}),
                                                                max_size=3))})

FORM_VALUE = st.one_of(ODD_TEXT, st.integers().map(str), st.sampled_from(["", "/affirm", "/ /affirm", "+962791234567", "abc"]),
                       st.integers(1_000, 70_000).map(lambda n: "ا" * n))
SMS_FORM = st.fixed_dictionaries({}, optional={
    "MessageSid": st.one_of(st.uuids().map(lambda u: "SM" + u.hex), FORM_VALUE), "From": FORM_VALUE, "Body": FORM_VALUE,
    "NumMedia": FORM_VALUE, "MediaUrl0": FORM_VALUE, "MediaContentType0": FORM_VALUE, "To": FORM_VALUE,
}).flatmap(lambda known: st.dictionaries(ODD_TEXT, FORM_VALUE, max_size=3).map(lambda extra: {**extra, **known}))
VOICE_FORM = st.fixed_dictionaries({"CallSid": st.one_of(st.uuids().map(lambda u: "CA" + u.hex), FORM_VALUE)}, optional={
    "From": FORM_VALUE, "Digits": FORM_VALUE, "SpeechResult": FORM_VALUE, "RecordingUrl": FORM_VALUE,
    "RecordingDuration": FORM_VALUE, "CallStatus": FORM_VALUE,
}).flatmap(lambda known: st.dictionaries(ODD_TEXT, FORM_VALUE, max_size=3).map(lambda extra: {**extra, **known}))
VOICE_QUERY = st.one_of(st.just(""), st.integers(-5, 200).map(lambda n: f"?step={n}"), ODD_TEXT.map(lambda s: "?" + urlencode({"step": s})))

REST_BODY = st.fixed_dictionaries({}, optional={"sender": maybe(st.one_of(ODD_TEXT, st.just("fuzz"))),
                                                "message": maybe(st.one_of(ODD_TEXT, HUGE)),
                                                "payload": maybe(st.sampled_from(["/complain", "/x{", "nope"])),
                                                "metadata": JSON, "input_channel": JSON})


# --- properties -------------------------------------------------------------------------------

def _messenger_post(served: Served, body: bytes) -> requests.Response:
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return served.session.post(f"{served.base}/webhooks/messenger/webhook", data=body, timeout=30,
                               headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})


@FUZZ
@given(body=st.one_of(MESSENGER_BODY.map(lambda b: json.dumps(b, ensure_ascii=False).encode()), RAW,
                      JSON.map(lambda b: json.dumps(b).encode())))
def test_messenger_signed_hostile_bodies_never_get_5xx(messenger: Served, body: bytes) -> None:
    messenger.check(lambda: _messenger_post(messenger, body))


def _twilio_post(served: Served, path: str, form: dict[str, str], query: str = "") -> requests.Response:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{PUBLIC}{path}{query}", form)
    return served.session.post(f"{served.base}{path}{query}", data=urlencode(form).encode(), timeout=30,
                               headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})


@FUZZ
@given(form=SMS_FORM)
def test_sms_signed_hostile_forms_never_get_5xx(sms: Served, form: dict[str, str]) -> None:
    sms.check(lambda: _twilio_post(sms, "/webhooks/twilio_sms/webhook", form))


@FUZZ
@given(form=VOICE_FORM, query=VOICE_QUERY, path=st.sampled_from(["/webhooks/twilio_voice/webhook", "/webhooks/twilio_voice/status"]))
def test_voice_signed_hostile_forms_never_get_5xx(voice: Served, form: dict[str, str], query: str, path: str) -> None:
    voice.check(lambda: _twilio_post(voice, path, form, query))


@FUZZ
@given(body=st.one_of(REST_BODY.map(lambda b: json.dumps(b, ensure_ascii=False).encode()), RAW,
                      JSON.map(lambda b: json.dumps(b).encode())))
def test_rest_hostile_bodies_with_the_token_never_get_5xx(rest: Served, body: bytes) -> None:
    status = rest.check(lambda: rest.session.post(f"{rest.base}/webhooks/rest/webhook", data=body, timeout=30, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {RASA_TOKEN}"}))
    if status == 200:
        message = rest.agent.messages[-1]
        assert message.metadata == {"channel": "rest"} and message.input_channel == "rest"
        assert message.sender_id.startswith("rest_")
