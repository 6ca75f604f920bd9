"""Facebook Messenger connector: `channels.messenger.MessengerInput`, route /webhooks/messenger/webhook.

Roles (STYLE.md 1):
- verify: `verify_signature` checks `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
  app secret) in constant time before the body is even parsed; the GET handshake compares the
  verify token in constant time too.
- parse: `parse_events` turns one webhook POST into a list of `MessengerEvent`s: every `entry`
  and every `messaging` item of a batch (Rasa's stock connector keeps only the first), skipping
  echoes, delivery and read receipts.
- send: `MessengerOutput` renders Rasa's messages within Messenger's limits (`render_reply`) and
  queues them in the durable outbox (channels/outbound.py); the outbox worker posts them to the
  Graph API (`GraphClient`, `graph_sender`), off the event loop, in order, with retries.
  pymessenger supplies the `appsecret_proof`; `GraphClient` says what else it cannot do.
- wire: `MessengerInput` holds the credentials, answers Meta at once and processes the events
  in a background task, de-duplicated on `mid` in bot.channel_state.

Why not Rasa's `facebook` connector: it checks the SHA-1 `X-Hub-Signature` with `==`, returns
200 "not validated" on a bad signature, handles only the first event of a batch, and processes
the turn before answering Meta, which retries after 20 s.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from pymessenger.utils import generate_appsecret_proof
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings
from bot.bounded_json import BadJson, parse_json
from bot.channel_state import ChannelState, shared
from bot.inbound import clean_user_text
from bot.lang import message_language
from bot.privacy import keyed_id, seal_address
from channels.common import (
    Attachment,
    attachment_metadata,
    button_payloads,
    button_titles,
    centre_code_from_ref,
    is_supported_media,
    is_valid_payload,
    numbered_lines,
    parse_choice,
    problem_reply,
    rate_centre_payload,
    split_text,
    t,
    truncate,
    user_language,
)
from channels.outbound import DeliveryWorker, Permanent, SendFn, Transient, worker_for
from channels.outbound import shared as shared_outbox

logger = logging.getLogger(__name__)

CHANNEL = "messenger"
DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v21.0"
MAX_BODY_BYTES = 256 * 1024
MAX_TEXT = 2000  # characters in one Messenger text message
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
SEND_TIMEOUT = 10.0  # seconds for one Send API call
# Graph error codes that mean "try again later", whatever the HTTP status: unknown (1),
# temporarily unavailable (2), application / user / page request limits (4, 17, 32, 613).
GRAPH_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613})

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class MessengerConfigError(ValueError):
    pass


class MalformedPayload(ValueError):
    pass


class MessengerSendError(RuntimeError):
    """The Graph API refused a message; `code` is Meta's error code (never the payload)."""

    def __init__(self, status: int, code: Any) -> None:
        super().__init__(f"Graph API answered HTTP {status}, error code {code}")
        self.status, self.code = status, code


# --- verify ----------------------------------------------------------------------------------

def signature_for(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` header value Meta sends for `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(signature_for(app_secret, body).encode(), header.strip().encode())


def verify_handshake(args: Mapping[str, Any], verify_token: str) -> str | None:
    """The challenge to echo for a valid subscription handshake, else None."""
    mode, token, challenge = args.get("hub.mode"), args.get("hub.verify_token"), args.get("hub.challenge")
    if mode != "subscribe" or not token or challenge is None:
        return None
    if not hmac.compare_digest(str(token).encode(), verify_token.encode()):
        return None
    return str(challenge)


# --- parse -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MessengerEvent:
    """One thing a person did. kind: text | payload | attachments | unsupported."""

    psid: str
    kind: str
    text: str = ""
    payload: str | None = None
    attachments: tuple[Attachment, ...] = ()
    mid: str | None = None
    timestamp: Any = None

    def dedup_key(self) -> str:
        if self.mid:
            return f"{CHANNEL}:mid:{self.mid}"
        digest = hashlib.sha256(f"{self.psid}|{self.timestamp}|{self.payload or self.text}".encode()).hexdigest()
        return f"{CHANNEL}:evt:{digest[:40]}"


def _is_echo(message: Mapping[str, Any]) -> bool:
    return bool(message.get("is_echo"))


def _is_sticker(attachment: Mapping[str, Any]) -> bool:
    payload = attachment.get("payload")
    return isinstance(payload, dict) and "sticker_id" in payload


def _attachment(raw: Any) -> Attachment | None:
    """A supported attachment (image, file) or None (audio, video, location, sticker, ...)."""
    if not isinstance(raw, dict) or _is_sticker(raw):
        return None
    kind = str(raw.get("type") or "")
    payload: dict[str, Any] = raw["payload"] if isinstance(raw.get("payload"), dict) else {}
    url = payload.get("url")
    media_type = "image/*" if kind == "image" else kind
    if not isinstance(url, str) or not url.startswith("https://") or not is_supported_media(media_type):
        return None
    return Attachment(url=url, media_type=media_type)


def _message_event(psid: str, message: Mapping[str, Any], timestamp: Any) -> MessengerEvent | None:
    if _is_echo(message):
        return None
    mid = message.get("mid") if isinstance(message.get("mid"), str) else None
    text: str = message["text"] if isinstance(message.get("text"), str) else ""
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, dict) and is_valid_payload(quick_reply.get("payload")):
        return MessengerEvent(psid, "payload", text=text, payload=quick_reply["payload"].strip(), mid=mid, timestamp=timestamp)
    raw_attachments = message.get("attachments")
    if isinstance(raw_attachments, list) and raw_attachments:
        found = tuple(a for a in (_attachment(r) for r in raw_attachments) if a is not None)
        if found:
            return MessengerEvent(psid, "attachments", text=text, attachments=found, mid=mid, timestamp=timestamp)
        if not text:
            return MessengerEvent(psid, "unsupported", mid=mid, timestamp=timestamp)
    return MessengerEvent(psid, "text", text=text, mid=mid, timestamp=timestamp)


def _centre_code(referral: Any) -> str | None:
    """The centre code of a rating link's referral (`{"ref": "rate_4127", "source": "SHORTLINK",
    "type": "OPEN_THREAD"}`), or None for any other referral."""
    return centre_code_from_ref(referral.get("ref")) if isinstance(referral, dict) else None


def _referral_event(psid: str, referral: Mapping[str, Any], timestamp: Any) -> MessengerEvent | None:
    """A person with a conversation already open followed a rating link (Meta's
    `messaging_referrals` webhook). Other referrals (ads, chat plugins) start nothing."""
    code = _centre_code(referral)
    if code is None:
        return None
    return MessengerEvent(psid, "payload", payload=rate_centre_payload(code), timestamp=timestamp)


def _postback_event(psid: str, postback: Mapping[str, Any], timestamp: Any) -> MessengerEvent:
    mid = postback.get("mid") if isinstance(postback.get("mid"), str) else None
    code = _centre_code(postback.get("referral"))
    if code is not None:
        # A first conversation opened by a rating link: the Get Started postback carries the
        # referral, and the survey replaces the greeting.
        return MessengerEvent(psid, "payload", payload=rate_centre_payload(code), mid=mid, timestamp=timestamp)
    payload = postback.get("payload")
    title: str = postback["title"] if isinstance(postback.get("title"), str) else ""
    if isinstance(payload, str) and is_valid_payload(payload):
        return MessengerEvent(psid, "payload", text=title, payload=payload.strip(), mid=mid, timestamp=timestamp)
    # Not one of our payloads (an old menu, a forged call): read the button's title as text.
    return MessengerEvent(psid, "text", text=title, payload=str(payload or ""), mid=mid, timestamp=timestamp)


def parse_events(body: Any) -> list[MessengerEvent]:
    """Every message and postback of a webhook POST, in order. Receipts and echoes are dropped."""
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        raise MalformedPayload("expected an object with an 'entry' list")
    events: list[MessengerEvent] = []
    for entry in body["entry"]:
        items = entry.get("messaging") if isinstance(entry, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            sender = item.get("sender")
            psid = sender.get("id") if isinstance(sender, dict) else None
            if not isinstance(psid, (str, int)) or not str(psid):
                continue
            timestamp = item.get("timestamp")
            event: MessengerEvent | None = None
            if isinstance(item.get("message"), dict):
                event = _message_event(str(psid), item["message"], timestamp)
            elif isinstance(item.get("postback"), dict):
                event = _postback_event(str(psid), item["postback"], timestamp)
            elif isinstance(item.get("referral"), dict):
                event = _referral_event(str(psid), item["referral"], timestamp)
            # delivery, read, reaction, optin, other referrals...: nothing for the bot to do
            if event is not None:
                events.append(event)
    return events


# --- render ----------------------------------------------------------------------------------

@dataclass
class Rendered:
    messages: list[dict[str, Any]]
    choices: list[str] | None = None  # payloads offered as a numbered list (typed digits pick them)


def _quick_replies(titles: list[str], payloads: list[str]) -> list[dict[str, str]]:
    return [
        {"content_type": "text", "title": truncate(title, MAX_QUICK_REPLY_TITLE), "payload": payload}
        for title, payload in zip(titles[:MAX_QUICK_REPLIES], payloads[:MAX_QUICK_REPLIES])
    ]


def render_reply(text: str | None, buttons: list[dict[str, Any]] | None = None) -> Rendered:
    """Rasa text (+ buttons) as Send API `message` objects within Messenger's limits.

    Buttons become quick replies when there are at most 13 and every title fits in 20
    characters. Otherwise the full option texts go in the message body as a numbered list, and
    the quick replies carry "1. <title…>" for the first 13; a typed number picks any option.
    """
    text = (text or "").strip()
    language = message_language(text)
    if not buttons:
        return Rendered([{"text": part} for part in split_text(text, MAX_TEXT)])
    titles, payloads = button_titles(buttons), button_payloads(buttons)
    fits = len(buttons) <= MAX_QUICK_REPLIES and all(len(x) <= MAX_QUICK_REPLY_TITLE for x in titles)
    if fits:
        parts = split_text(text, MAX_TEXT) or [t(language, "Please choose:")]
        messages: list[dict[str, Any]] = [{"text": p} for p in parts]
        messages[-1]["quick_replies"] = _quick_replies(titles, payloads)
        return Rendered(messages)
    body = "\n\n".join(x for x in (text, numbered_lines(titles), t(language, "Reply with the number of your choice.")) if x)
    messages = [{"text": p} for p in split_text(body, MAX_TEXT)]
    numbered = [f"{i}. {title}" for i, title in enumerate(titles, start=1)]
    messages[-1]["quick_replies"] = _quick_replies(numbered, payloads)
    return Rendered(messages, choices=payloads)


def send_payload(psid: str, message: dict[str, Any], *, notification: bool = False) -> dict[str, Any]:
    """The documented Send API body; notifications outside the 24 h window carry a tag."""
    if notification:
        return {"recipient": {"id": psid}, "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE", "message": message}
    return {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": message}


# --- send ------------------------------------------------------------------------------------

class GraphClient:
    """The Graph API calls the gateway makes: the Send API and the Messenger Profile API.

    pymessenger 0.0.7 is used for the one thing it does correctly for us: the `appsecret_proof`
    (`pymessenger.utils.generate_appsecret_proof`, HMAC-SHA256 of the page token keyed with the
    app secret), sent with the access token on every call (`auth_args`). The posting is ours,
    because pymessenger's `Bot` cannot do what Meta's current API needs:
    - its base URL is hard-wired to https://graph.facebook.com/v<api_version>, default v2.6, long
      retired; we need MESSENGER_GRAPH_URL (a local recorder in tests) + MESSENGER_GRAPH_VERSION;
    - its payloads have no quick replies, no `messaging_type` and no message tags, which the
      Send API requires today (`RESPONSE` in a turn, `MESSAGE_TAG`/`ACCOUNT_UPDATE` for a status
      notification); `render_reply` and `send_payload` build them here;
    - `send_raw` is a bare `requests.post`: no timeout (a stalled Graph call would hold a worker
      thread forever), a new TCP+TLS connection per message, and no error check: Meta's error
      JSON comes back as if it were a success (and a non-JSON answer, say a proxy's 502 page,
      raises a bare ValueError). We post on one pooled `requests.Session` with a timeout and
      raise `MessengerSendError`, which the outbox classifies (`is_transient`);
    - its `validate_hub_signature` is Python 2 code (`unicode`, `str(secret)`: it raises on
      Python 3), lets the header choose the hash function, and compares with `==`: we verify
      `X-Hub-Signature-256` in constant time (`verify_signature`) instead.
    It is synchronous (requests): callers run it in `asyncio.to_thread`.
    """

    def __init__(self, access_token: str, app_secret: str, graph_url: str, version: str, timeout: float = SEND_TIMEOUT):
        self.graph_url = f"{graph_url.rstrip('/')}/{version}"
        self.auth_args = {"access_token": access_token, "appsecret_proof": generate_appsecret_proof(access_token, app_secret)}
        self.timeout = timeout
        self.session = requests.Session()

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        resp = self.session.post(f"{self.graph_url}/{path}", params=self.auth_args, json=payload, timeout=self.timeout)
        try:
            result = resp.json()
        except ValueError:
            result = {}
        if resp.status_code >= 400 or (isinstance(result, dict) and "error" in result):
            error = result.get("error", {}) if isinstance(result, dict) else {}
            raise MessengerSendError(resp.status_code, error.get("code") if isinstance(error, dict) else None)
        return result

    def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One Send API call (`payload` is a whole envelope: recipient, messaging_type, message)."""
        return self.post("me/messages", payload)


class MessengerOutput(OutputChannel):
    """Queues a turn's replies to one PSID; remembers what it rendered for the next turn.

    With a `worker` (every connector-made output) a message is only written to the durable
    outbox (channels/outbound.py) and the worker sends it: a Graph API outage can no longer fail
    the turn, so Rasa keeps the citizen's message and the replies go out when Meta is back.
    Without one (the notifier, whose own queue is the case store's outbox) it posts at once and
    raises `MessengerSendError` / `requests.RequestException`.
    """

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, bot: GraphClient, psid: str | None = None, worker: DeliveryWorker | None = None) -> None:
        self.bot = bot
        self.psid = psid
        self.worker = worker
        self.last_language: str | None = None
        self.choices: list[str] | None = None
        self.sent = 0

    def _address(self, recipient_id: str) -> str:
        # Rasa passes the tracker's (keyed) sender id; the PSID came with the message.
        return self.psid or recipient_id

    async def _post(self, psid: str, message: dict[str, Any], *, notification: bool = False) -> None:
        if self.worker is None:
            await asyncio.to_thread(self.bot.send, send_payload(psid, message, notification=notification))
        else:
            # The envelope without the recipient: the outbox keeps the PSID sealed, apart.
            envelope = send_payload("", message, notification=notification)
            del envelope["recipient"]
            await self.worker.box.enqueue(CHANNEL, psid, [envelope])
            self.worker.start()
        self.sent += 1

    async def _send_rendered(self, recipient_id: str, rendered: Rendered, language: str) -> None:
        self.last_language = language
        self.choices = rendered.choices
        for message in rendered.messages:
            await self._post(self._address(recipient_id), message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send_rendered(recipient_id, render_reply(text), message_language(text))

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        await self._send_rendered(recipient_id, render_reply(text, buttons), message_language(text))

    async def send_quick_replies(self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        message = {"attachment": {"type": "image", "payload": {"url": image, "is_reusable": True}}}
        await self._post(self._address(recipient_id), message)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """A custom response is a Send API `message` object, sent as it is. Hints meant for
        another channel (the IVR's `{"voice": ...}`) are not messages and are skipped."""
        if set(json_message) <= {"voice"}:
            return
        await self._post(self._address(recipient_id), json_message)

    async def send_notification(self, psid: str, text: str) -> None:
        """A message outside a conversation turn (status changed, answered): tagged ACCOUNT_UPDATE."""
        for part in split_text(text, MAX_TEXT):
            await self._post(psid, {"text": part}, notification=True)


def is_transient(exc: MessengerSendError) -> bool:
    """Worth trying again later: 5xx, throttling, or a Graph code that says so."""
    return exc.status >= 500 or exc.status == 429 or exc.code in GRAPH_TRANSIENT_CODES


def graph_sender(bot: GraphClient) -> SendFn:
    """The outbox worker's send function for Messenger: one Send API call per row."""

    async def send(psid: str, envelope: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(bot.send, {"recipient": {"id": psid}, **envelope})
        except MessengerSendError as exc:
            kind = Transient if is_transient(exc) else Permanent
            raise kind(f"HTTP {exc.status} code {exc.code}") from None
        except requests.RequestException as exc:
            raise Transient(type(exc).__name__) from None

    return send


# --- wire ------------------------------------------------------------------------------------

def _credential(credentials: Mapping[str, Any] | None, keys: tuple[str, ...], env_name: str) -> str:
    for key in keys:
        value = (credentials or {}).get(key)
        if value:
            return str(value)
    return settings.secret(env_name)  # raises in production, naming the variable


class _SenderLocks:
    """One lock per PSID, so two deliveries from the same person are handled in order."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await work()
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


@dataclass
class MessengerInput(InputChannel):
    app_secret: str
    verify_token: str
    page_access_token: str
    graph_url: str = DEFAULT_GRAPH_URL
    graph_version: str = DEFAULT_GRAPH_VERSION
    state_url: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    _tasks: set[asyncio.Task] = field(default_factory=set, init=False, repr=False)
    _locks: _SenderLocks = field(default_factory=_SenderLocks, init=False, repr=False)

    def __post_init__(self) -> None:
        for name, value in (
            ("MESSENGER_APP_SECRET", self.app_secret),
            ("MESSENGER_VERIFY_TOKEN", self.verify_token),
            ("MESSENGER_PAGE_ACCESS_TOKEN", self.page_access_token),
        ):
            if not value:
                raise MessengerConfigError(f"Config '{name}' is missing: set it to the value from the Meta app dashboard.")
        if not re.fullmatch(r"v\d+\.\d+", self.graph_version):
            raise MessengerConfigError(
                f"Config 'MESSENGER_GRAPH_VERSION' is {self.graph_version!r}; expected a Graph API version like 'v21.0'."
            )
        if not re.match(r"https?://", self.graph_url):
            raise MessengerConfigError(f"Config 'MESSENGER_GRAPH_URL' is {self.graph_url!r}; expected an http(s) URL.")
        self.bot = GraphClient(self.page_access_token, self.app_secret, self.graph_url, self.graph_version)
        self.worker = worker_for(shared_outbox(self.state_url), CHANNEL, graph_sender(self.bot))

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> MessengerInput:
        return cls(
            app_secret=_credential(credentials, ("app_secret", "secret"), "MESSENGER_APP_SECRET"),
            verify_token=_credential(credentials, ("verify_token", "verify"), "MESSENGER_VERIFY_TOKEN"),
            page_access_token=_credential(credentials, ("page_access_token", "page-access-token"), "MESSENGER_PAGE_ACCESS_TOKEN"),
            graph_url=str((credentials or {}).get("graph_url") or settings.env("MESSENGER_GRAPH_URL", DEFAULT_GRAPH_URL)),
            graph_version=str(
                (credentials or {}).get("graph_version") or settings.env("MESSENGER_GRAPH_VERSION", DEFAULT_GRAPH_VERSION)
            ),
            state_url=(credentials or {}).get("state_url"),
        )

    @property
    def state(self) -> ChannelState:
        return shared(self.state_url)

    def get_output_channel(self) -> MessengerOutput:
        """For notifications: `send_notification(psid, text)` (Rasa's sender ids are keyed hashes)."""
        return MessengerOutput(self.bot, worker=self.worker)

    # -- processing (in the background, after Meta has its 200) --
    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # keep a reference, or the task may be garbage-collected mid-turn
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            logger.error("messenger: processing failed: %s", type(exc).__name__)

    async def drain(self) -> None:
        """Wait for events still being processed, then send what is due (tests, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.worker.run_once()

    async def _process_batch(self, events: list[MessengerEvent], on_new_message: OnNewMessage) -> None:
        for event in events:
            try:
                await self._locks.run(event.psid, functools.partial(self._process, event, on_new_message))
            except Exception as exc:
                logger.error("messenger: event failed: %s", type(exc).__name__)

    async def _process(self, event: MessengerEvent, on_new_message: OnNewMessage) -> None:
        if not await self.state.claim(event.dedup_key()):
            return
        sender = keyed_id(CHANNEL, event.psid)
        stored = await self.state.get(sender)
        stored_lang = stored.get("lang")
        output = MessengerOutput(self.bot, event.psid, self.worker)

        async def refuse(problem: str, language: str) -> None:
            await output.send_text_message(sender, problem_reply(problem, language))

        metadata: dict[str, Any] = {"channel": CHANNEL, "reply_address": seal_address(event.psid)}
        if event.kind == "unsupported":
            return await refuse("unsupported_attachment", stored_lang or "ar")
        if event.kind == "payload":
            text = event.payload or ""
        else:
            cleaned = clean_user_text(event.text)
            if event.kind == "attachments":
                language = user_language(cleaned.text, stored_lang)
                text = cleaned.text or t(language, "I sent an attachment")
                metadata.update(attachment_metadata(event.attachments))
                if not cleaned.text:
                    # The placeholder text must not become a description: the form keeps the file
                    # and asks its question again (actions/forms.py).
                    metadata["attachment_only"] = True
            elif cleaned.problem:
                return await refuse(cleaned.problem, user_language(event.text or "", stored_lang))
            else:
                text = cleaned.text
                choice, choices = parse_choice(text), stored.get("choices") or []
                if choice is not None and choices:
                    if not 1 <= choice <= len(choices):
                        return await output.send_text_message(
                            sender, t(user_language("", stored_lang), "Please reply with a number from 1 to {n}.", n=len(choices))
                        )
                    text = choices[choice - 1]

        await on_new_message(
            UserMessage(text, output, sender, input_channel=CHANNEL, message_id=event.mid, metadata=metadata)
        )
        changes: dict[str, Any] = {}
        if output.last_language and output.last_language != stored_lang:
            changes["lang"] = output.last_language
        if output.sent and output.choices != stored.get("choices"):
            changes["choices"] = output.choices  # None removes stale choices
        if changes:
            await self.state.update(sender, **changes)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("messenger_webhook", __name__)

        @bp.listener("after_server_start")
        async def _deliver(_app: Any, _loop: Any) -> None:
            self.worker.start()  # also sends what an earlier run left queued

        @bp.listener("before_server_stop")
        async def _stop_delivering(_app: Any, _loop: Any) -> None:
            await self.worker.stop()

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["GET"])
        async def handshake(request: Request) -> HTTPResponse:
            challenge = verify_handshake({k: request.args.get(k) for k in request.args}, self.verify_token)
            if challenge is None:
                logger.warning("messenger: verification handshake refused")
                return response.text("forbidden", status=403)
            return response.text(challenge)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            if len(body) > self.max_body_bytes:
                return response.text("payload too large", status=413)
            if not verify_signature(self.app_secret, body, request.headers.get("X-Hub-Signature-256")):
                logger.warning("messenger: rejected a POST with a missing or wrong signature")
                return response.text("forbidden", status=403)
            try:
                # After the signature: only Meta's bodies are parsed, within size and depth limits.
                events = parse_events(parse_json(body, max_bytes=self.max_body_bytes))
            except BadJson as bad:
                return response.text("malformed payload", status=413 if bad.reason == "too_large" else 400)
            except MalformedPayload:
                return response.text("malformed payload", status=400)
            if events:
                self._spawn(self._process_batch(events, on_new_message))
            return response.text("EVENT_RECEIVED")

        return bp
