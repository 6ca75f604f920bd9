"""The agent console: a web page for contact-center agents, served inside the Rasa server.

Routes (all under /webhooks/agent_console/):
    GET  /                         the page (?lang=ar|en; Arabic is right-to-left)
    GET  /static/<file>            its CSS and JS (no CDN, no build step)
    POST /api/login                {username, password} -> session cookie + CSRF token
    POST /api/logout               (CSRF)
    GET  /api/session              who is signed in, and the CSRF token for this session
    GET  /api/catalogue/sectors    proxied from the case store
    GET  /api/catalogue/entities   ?sector=&q=&limit= proxied from the case store
    GET  /api/form_token           a token for one "new call" form (the server picks the idempotency key)
    POST /api/requests             (CSRF) file a request for a caller (with its form_token); the caller
                                   gets the reference by SMS
    POST /api/lookup               (CSRF) a request by reference + the caller's proof (phone tail or PIN)
    GET  /api/handoffs             the queue of conversations waiting for a person
    GET  /api/handoffs/<id>        one conversation with its live transcript
    POST /api/handoffs/<id>/take   (CSRF) hold it (one agent at a time)
    POST /api/handoffs/<id>/reply  (CSRF) {text}: sent on Messenger or SMS
    POST /api/handoffs/<id>/resume (CSRF) hand it back to the assistant
    POST /internal/handoff         (bearer AGENT_CONSOLE_INTERNAL_TOKEN) called by action_handoff

Roles, as in the other channel modules: *parse* (request bodies -> checked values), *send*
(ConsoleSender: Messenger send API and Twilio REST) and *wire*
(AgentConsoleInput: credentials, routes, auth).

The case store is reached only through backend_client.CaseStoreClient (one shared session per
console, closed with the server). Request bodies go through bot.bounded_json and query parameters
are checked strictly, so hostile input gets a 4xx. Idempotency keys of new requests are minted
here (FormTokens), never taken from the client.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from babel.dates import format_datetime
from babel.messages.pofile import read_po
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from backend_client import (
    CaseRequest,
    CaseStoreClient,
    CaseStoreError,
    CaseStoreUnavailable,
    InvalidReference,
    NotFoundOrUnverified,
    RateLimited,
    ValidationError,
)
from bot import business_hours, refcode
from bot.arabic import digits_only
from bot.bounded_json import BadJson, parse_json
from bot.i18n import BABEL_LOCALES, LOCALE_DIR, gettext, lang_or_default
from bot.lang import LANGUAGES
from bot.privacy import (
    anonymous_requester_id,
    is_anonymous,
    is_plausible_phone,
    normalise_phone,
    open_address,
    phone_identity,
)
from bot.request_rules import IMPORTANCE, PILLARS, REQUEST_TYPES, description_too_short
from bot.settings import ConfigError, env, get_settings, local_timezone, secret
from channels.agents import ABSOLUTE_TIMEOUT, AgentStore, HandoffConflict, Session, utcnow

logger = logging.getLogger(__name__)

DOMAIN = "console"
STATIC_DIR = Path(__file__).resolve().parent / "agent_console_static"
COOKIE = "bekh_console"
LANG_COOKIE = "bekh_console_lang"
CSRF_HEADER = "X-CSRF-Token"
MAX_API_BODY = 64 * 1024
MAX_DESCRIPTION = 2000
MAX_REPLY = 2000  # Messenger's limit for one text message
MESSENGER_WINDOW = dt.timedelta(hours=24)

HANDOFF_CHANNELS = ("messenger", "sms", "voice")  # a voice caller who gave SMS consent is answered by SMS

Json = dict[str, Any]


def _t(language: str, message: str, **params: object) -> str:
    return gettext(DOMAIN, lang_or_default(language), message, **params)


# --- business hours ------------------------------------------------------------------------------
# The hours, the working week and the holidays are bot.business_hours' (CONTACT_CENTER_HOURS,
# bot.working_days); the time zone is BEKH_TIMEZONE.

_STEP = dt.timedelta(minutes=5)


def next_opening(now: dt.datetime) -> dt.datetime:
    """`now` when agents are on duty, else the first moment (5-minute grid) they are, within 3 weeks."""
    is_open = business_hours.current().is_open
    if is_open(now):
        return now
    t = now.replace(second=0, microsecond=0)
    t += dt.timedelta(minutes=-(t.minute % 5) + 5)
    for _ in range(21 * 24 * 12):  # three weeks covers the longest holiday run (Eid + weekend)
        if is_open(t):
            return t
        t += _STEP
    raise ValueError("the contact center has no opening hours in the next three weeks: check CONTACT_CENTER_HOURS")


def next_opening_text(language: str, now: dt.datetime) -> str:
    """What to tell a person who asks for an agent after hours, in their language."""
    language = lang_or_default(language)
    when = next_opening(now)
    if when <= now:
        return _t(language, "An agent will be with you shortly.")
    available = _t(language, "Our agents are available {hours}.", hours=business_hours.current().describe(language))
    moment = format_datetime(when.astimezone(local_timezone()), "EEEE HH:mm", locale=BABEL_LOCALES[language])
    return available + " " + _t(language, "The next opening is {when}.", when=moment)


# --- parse -----------------------------------------------------------------------------------------

class BadInput(Exception):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


@dataclass(frozen=True)
class NewRequest:
    phone: str
    language: str
    type: str
    sector: str
    entity: str
    pillar: str | None
    importance: str
    description: str
    anonymous: bool


def parse_new_request(body: Json) -> NewRequest:
    """The console form, checked with the case store's rules so the agent hears about mistakes at once."""
    errors: dict[str, str] = {}

    def text(name: str) -> str:
        v = body.get(name)
        return v.strip() if isinstance(v, str) else ""

    phone = text("caller_phone")
    if not phone or not is_plausible_phone(phone):
        errors["caller_phone"] = "invalid_phone"
    language = text("caller_language")
    if language not in LANGUAGES:
        errors["caller_language"] = "required"
    rtype = text("type")
    if rtype not in REQUEST_TYPES:
        errors["type"] = "required"
    sector, entity = text("sector"), text("entity")
    if not sector:
        errors["sector"] = "required"
    if not entity:
        errors["entity"] = "required"
    pillar = text("pillar") or None
    if rtype == "complaint" and pillar not in PILLARS:
        errors["pillar"] = "required"
    if rtype != "complaint":
        pillar = None
    importance = text("importance") or "normal"
    if importance not in IMPORTANCE:
        errors["importance"] = "invalid"
    description = text("description")
    if description_too_short(description):
        errors["description"] = "too_short"
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = "too_long"
    # A report is anonymous unless the caller agrees to be contacted (bot/privacy.py).
    anonymous = is_anonymous(rtype, False if body.get("contact_ok") is True else None)
    if errors:
        raise BadInput(errors)
    return NewRequest(normalise_phone(phone), language, rtype, sector, entity, pillar, importance, description, anonymous)


def parse_transcript(raw: Any) -> list[Json]:
    if not isinstance(raw, list):
        raise BadInput({"transcript": "must_be_list"})
    out: list[Json] = []
    for item in raw[-200:]:
        if not isinstance(item, dict) or item.get("who") not in ("user", "bot") or not isinstance(item.get("text"), str):
            raise BadInput({"transcript": "bad_item"})
        out.append({"who": item["who"], "text": item["text"][:4000], "at": str(item.get("at") or "")[:40]})
    return out


def _iso(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts or 0, dt.timezone.utc).isoformat()


def transcript_from_tracker(tracker: Any) -> list[Json]:
    """User and bot turns of a tracker (agent replies are bot turns with {"agent": name} metadata)."""
    from rasa.shared.core.events import BotUttered, UserUttered

    out: list[Json] = []
    for e in tracker.events:
        if isinstance(e, UserUttered) and e.text:
            out.append({"who": "user", "text": e.text, "at": _iso(e.timestamp)})
        elif isinstance(e, BotUttered) and e.text:
            agent = (e.metadata or {}).get("agent")
            out.append({"who": "agent" if agent else "bot", "text": e.text, "at": _iso(e.timestamp), **({"agent": agent} if agent else {})})
    return out[-200:]


def reply_route(tracker: Any, channel: str) -> tuple[str | None, dt.datetime | None]:
    """(reply address, time of the last user message) from the newest user event of `channel`."""
    from rasa.shared.core.events import UserUttered

    for e in reversed(tracker.events):
        if isinstance(e, UserUttered):
            meta = e.metadata or {}
            address = open_address(meta.get("reply_address")) if meta.get("channel") == channel else None
            if address:
                return address, dt.datetime.fromtimestamp(e.timestamp, dt.timezone.utc)
    return None, None


# --- send ------------------------------------------------------------------------------------------

class SendError(Exception):
    pass


class NoReplyAddress(SendError):
    """The conversation carries no address to answer on (e.g. a voice caller who gave no SMS consent)."""


class OptedOut(SendError):
    """The person texted STOP / توقف: no SMS until they text START / ابدأ."""


class TooLongForSms(SendError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"longer than {limit} characters")
        self.limit = limit


class ConsoleSender:
    """The console's messages to citizens, over one lazily made aiohttp session per server."""

    def __init__(self, cfg: ConsoleConfig) -> None:
        self.cfg = cfg
        self._session: aiohttp.ClientSession | None = None
        self._sms: Any = None

    def http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # citizens -----------------------------------------------------------------------------------
    async def send_sms(self, to: str, text: str) -> None:
        """Through the one SMS sender (channels/sms_sender.py): opt-outs honoured, queued in the
        durable outbox, never split: an agent's words arrive as written or not at all."""
        from channels.sms_sender import SmsTooLong

        try:
            sent = await self.sms().send(to, text, split=False)
        except SmsTooLong as e:
            raise TooLongForSms(e.limit) from None
        if not sent:
            raise OptedOut("the number opted out of SMS")

    def sms(self) -> Any:
        if self._sms is None:
            from bot.channel_state import default_url, shared
            from channels.sms_sender import queued_sender
            from channels.twilio_sms import make_client

            c = self.cfg
            client = make_client(c.twilio_account_sid, c.twilio_auth_token, c.twilio_api_base_url)
            self._sms = queued_sender(client, c.twilio_from or None, shared(default_url()), c.twilio_messaging_service_sid or None)
        return self._sms

    def _appsecret_proof(self) -> str:
        key, token = self.cfg.messenger_app_secret.encode(), self.cfg.messenger_page_access_token.encode()
        return hmac.new(key, token, hashlib.sha256).hexdigest()

    async def send_messenger(self, psid: str, text: str, outside_window: bool) -> None:
        payload: Json = {"recipient": {"id": psid}, "message": {"text": text}}
        if outside_window:
            # Past 24 h since the person's last message only tagged messages may be sent; HUMAN_AGENT
            # is the tag for a person answering (Meta allows it for 7 days).
            payload.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        else:
            payload["messaging_type"] = "RESPONSE"
        try:
            async with self.http().post(
                f"{self.cfg.messenger_graph_url}/me/messages",
                params={"access_token": self.cfg.messenger_page_access_token, "appsecret_proof": self._appsecret_proof()},
                json=payload,
            ) as resp:
                if resp.status >= 300:
                    raise SendError(f"graph api answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise SendError(type(e).__name__) from e


# --- wire ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConsoleConfig:
    internal_token: str
    database_url: str | None
    case_store_url: str
    case_store_token: str
    secure_cookies: bool
    messenger_page_access_token: str
    messenger_app_secret: str
    messenger_graph_url: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_from: str
    twilio_messaging_service_sid: str
    twilio_api_base_url: str
    trusted_proxies: int = 0


def _proxy_count(creds: Json) -> int:
    raw = str(creds.get("trusted_proxies") or env("AGENT_CONSOLE_TRUSTED_PROXIES") or "0").strip()
    if not re.fullmatch(r"[0-9]{1,2}", raw):
        raise ConfigError(
            f"Config 'AGENT_CONSOLE_TRUSTED_PROXIES' is {raw!r}: give the number of reverse proxies in front "
            "of Rasa that append to X-Forwarded-For (0, the default, when clients connect directly)."
        )
    return int(raw)


def _setting(creds: Json, key: str, var: str, *, is_secret: bool, default: str | None = None) -> str:
    value = creds.get(key) or env(var)
    if value:
        return str(value)
    if is_secret:
        return secret(var)  # raises in production, naming the variable
    if default is not None:
        return default
    raise ConfigError(f"Config '{var}' is missing, and has no default (credentials key '{key}').")


def load_config(creds: Json | None) -> ConsoleConfig:
    c = creds or {}
    s = get_settings()
    twilio_from = c.get("twilio_from") or env("TWILIO_SMS_FROM") or ""
    service = c.get("twilio_messaging_service_sid") or env("TWILIO_MESSAGING_SERVICE_SID") or ""
    if not twilio_from and not service:
        if s.production:
            raise ConfigError("Config 'TWILIO_SMS_FROM' (or 'TWILIO_MESSAGING_SERVICE_SID') is missing: the console sends references by SMS.")
        twilio_from = "+15005550006"  # Twilio's magic test number; dev and tests only
    return ConsoleConfig(
        internal_token=_setting(c, "internal_token", "AGENT_CONSOLE_INTERNAL_TOKEN", is_secret=True),
        database_url=c.get("database_url") or env("AGENT_CONSOLE_DATABASE_URL"),
        case_store_url=str(c.get("case_store_url") or s.case_store_url).rstrip("/"),
        case_store_token=str(c.get("case_store_token") or s.case_store_token),
        secure_cookies=str(c.get("public_base_url") or s.public_base_url).startswith("https://"),
        messenger_page_access_token=_setting(c, "page_access_token", "MESSENGER_PAGE_ACCESS_TOKEN", is_secret=True),
        messenger_app_secret=_setting(c, "app_secret", "MESSENGER_APP_SECRET", is_secret=True),
        # Same two settings as channels/messenger.py: base URL and API version, joined here.
        messenger_graph_url=_setting(c, "graph_url", "MESSENGER_GRAPH_URL", is_secret=False, default="https://graph.facebook.com").rstrip("/")
        + "/" + _setting(c, "graph_version", "MESSENGER_GRAPH_VERSION", is_secret=False, default="v21.0").strip("/"),
        twilio_account_sid=_setting(c, "account_sid", "TWILIO_ACCOUNT_SID", is_secret=True),
        twilio_auth_token=_setting(c, "auth_token", "TWILIO_AUTH_TOKEN", is_secret=True),
        twilio_from=twilio_from,
        twilio_messaging_service_sid=service,
        twilio_api_base_url=_setting(
            c, "twilio_api_base_url", "TWILIO_API_BASE_URL", is_secret=False, default="https://api.twilio.com"
        ).rstrip("/"),
        trusted_proxies=_proxy_count(c),
    )


def _error(status: int, code: str, **extra: Any) -> HTTPResponse:
    return response.json({"error": code, **extra}, status=status, headers={"Cache-Control": "no-store"})


def _ok(data: Any, status: int = 200) -> HTTPResponse:
    return response.json(data, status=status, headers={"Cache-Control": "no-store"})


def client_ip(request: Request, trusted_proxies: int) -> str:
    """The address login throttling and the audit trail see.

    With no trusted proxy the socket peer, whatever X-Forwarded-For claims (anyone can send it).
    Behind N proxies, the N-th address from the right of X-Forwarded-For: the one the outermost
    of our own proxies saw. Sanic's parser does the counting (its PROXIES_COUNT), with our count.
    """
    if trusted_proxies > 0:
        from types import SimpleNamespace

        from sanic.headers import parse_xforwarded

        cfg = SimpleNamespace(REAL_IP_HEADER=None, PROXIES_COUNT=trusted_proxies, FORWARDED_FOR_HEADER="X-Forwarded-For")
        forwarded = parse_xforwarded(request.headers, cfg) or {}
        if forwarded.get("for"):
            return str(forwarded["for"])[:64]
    return (request.ip or "unknown")[:64]


def _json_body(request: Request) -> Json:
    if not (request.content_type or "").startswith("application/json"):
        # Also a guard against cross-site form posts: a page elsewhere cannot send JSON without CORS.
        raise BadInput({"body": "json_required"})
    try:
        return parse_json(request.body, max_bytes=MAX_API_BODY)
    except BadJson as e:
        raise BadInput({"body": e.reason}) from None


_LIMIT = re.compile(r"[0-9]{1,3}")  # ASCII only: str.isdigit() also accepts "²", which int() refuses


def catalogue_query(args: Any) -> dict[str, str | int]:
    """?sector=&q=&limit= checked strictly: short text, and a limit of 1..25 in ASCII digits."""
    errors: dict[str, str] = {}
    out: dict[str, str | int] = {}
    for name in ("sector", "q"):
        value = args.get(name)
        if value:
            if len(value) > 100 or any(ord(ch) < 32 for ch in value):
                errors[name] = "invalid"
            else:
                out[name] = value
    raw = args.get("limit")
    if raw in (None, ""):
        out["limit"] = 10
    elif not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= 25:
        errors["limit"] = "invalid"
    else:
        out["limit"] = int(raw)
    if errors:
        raise BadInput(errors)
    return out


def request_view(r: CaseRequest) -> Json:
    """What the page shows of a request found by lookup (never a description or contact data)."""
    return {
        "reference": r.reference,
        "reference_display": r.reference_display,
        "type": r.type,
        "status": r.status,
        "sector": r.sector,
        "entity": {"id": r.entity.id, "name_ar": r.entity.name_ar, "name_en": r.entity.name_en},
        "pillar": r.pillar,
        "importance": r.importance,
        "created_at": r.created_at.isoformat() if r.created_at else None,
        "due_at": r.due_at.isoformat() if r.due_at else None,
        "answer": r.answer,
        "timeline": [{"at": t.at.isoformat(), "status": t.status, "note": t.note} for t in r.timeline],
        "confidential": r.confidential,
    }


class FormTokens:
    """Server-minted tokens for the "new call" form, so the console chooses every idempotency key.

    The page asks for a token when it opens a form and sends it back with the submission. A token
    is `issued.nonce.mac`, bound to the agent by an HMAC under a server key, valid for a shift
    (ABSOLUTE_TIMEOUT). The case store's Idempotency-Key is derived from the token's nonce and the
    agent, so a double click, or a retry after a dropped connection or a new sign-in, files once;
    a client can neither choose a key nor use another agent's token.
    """

    def __init__(self, secret_key: str, clock: Callable[[], dt.datetime]) -> None:
        self._key = hmac.new(secret_key.encode(), b"agent-console form tokens v1", hashlib.sha256).digest()
        self._clock = clock

    def _mac(self, *parts: object) -> str:
        return hmac.new(self._key, "|".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()

    def issue(self, agent_id: int) -> str:
        issued, nonce = int(self._clock().timestamp()), secrets.token_hex(16)
        return f"{issued}.{nonce}.{self._mac('form', agent_id, issued, nonce)[:32]}"

    def idempotency_key(self, agent_id: int, token: object) -> str | None:
        """The key for a submitted token, or None if it is not one we issued to this agent lately."""
        if not isinstance(token, str) or len(token) > 80:
            return None
        parts = token.split(".")
        if len(parts) != 3 or not re.fullmatch(r"[0-9]{1,12}", parts[0]) or not re.fullmatch(r"[0-9a-f]{32}", parts[1]):
            return None
        issued, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac.encode(), self._mac("form", agent_id, issued, nonce)[:32].encode()):
            return None
        age = self._clock().timestamp() - issued
        if not -60 <= age <= ABSOLUTE_TIMEOUT.total_seconds():
            return None
        return "console-" + self._mac("key", agent_id, nonce)[:48]


def _catalog_messages() -> list[str]:
    with (LOCALE_DIR / "en" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        return [str(m.id) for m in read_po(f) if m.id and isinstance(m.id, str)]


_MSGIDS: list[str] | None = None


def ui_strings(language: str) -> dict[str, str]:
    global _MSGIDS
    if _MSGIDS is None:
        _MSGIDS = _catalog_messages()
    return {m: _t(language, m) for m in _MSGIDS}


_PLACEHOLDER = re.compile(r"\{\{\s*(t:)?([^{}]+?)\s*\}\}")


def render_page(language: str, template: str) -> str:
    """Fill the page template: {{t:English text}} -> translated and escaped, {{lang}}, {{dir}}, {{i18n}}."""
    language = lang_or_default(language)

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return html.escape(_t(language, m.group(2)))
        name = m.group(2)
        if name == "lang":
            return language
        if name == "dir":
            return "rtl" if language == "ar" else "ltr"
        if name == "i18n":
            return json.dumps(ui_strings(language), ensure_ascii=False).replace("</", "<\\/")
        if name == "other_lang":
            return "en" if language == "ar" else "ar"
        raise KeyError(f"unknown placeholder {name!r} in the console page template")

    return _PLACEHOLDER.sub(sub, template)


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class AgentConsoleInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "agent_console"

    @classmethod
    def from_credentials(cls, credentials: Json | None) -> InputChannel:
        return cls(load_config(credentials))

    def __init__(
        self, config: ConsoleConfig, store: AgentStore | None = None, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store or AgentStore(config.database_url, clock=clock)
        self.sender = ConsoleSender(config)
        # One client of the case store per console; its session is opened on first use (inside
        # the server's loop) and closed when the server stops.
        self.cases = CaseStoreClient(config.case_store_url, config.case_store_token, timeout=10)
        self.forms = FormTokens(config.internal_token, clock)

    def client_ip(self, request: Request) -> str:
        return client_ip(request, self.config.trusted_proxies)

    # auth -----------------------------------------------------------------------------------------
    async def _session(self, request: Request, *, changes_state: bool) -> Session | HTTPResponse:
        session = await self.store.run(self.store.session, request.cookies.get(COOKIE))
        if session is None:
            return _error(401, "not_signed_in")
        if changes_state:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                return _error(403, "csrf_token_missing_or_wrong")
        return session

    def _set_cookie(self, resp: HTTPResponse, token: str) -> None:
        resp.cookies[COOKIE] = token
        c = resp.cookies[COOKIE]
        c["httponly"] = True
        c["samesite"] = "Strict"
        c["secure"] = self.config.secure_cookies
        c["path"] = "/webhooks/agent_console"

    # tracker access ---------------------------------------------------------------------------------
    @staticmethod
    def _rasa_agent(request: Request) -> Any:
        return getattr(request.app.ctx, "agent", None)

    async def _tracker(self, request: Request, sender_id: str) -> Any:
        agent = self._rasa_agent(request)
        if agent is None or getattr(agent, "tracker_store", None) is None:
            return None
        return await agent.tracker_store.retrieve(sender_id)

    async def _append(self, request: Request, sender_id: str, events: list[Any]) -> None:
        """Append events to a conversation under Rasa's lock (what POST /conversations/<id>/tracker/events does)."""
        agent = self._rasa_agent(request)
        if agent is None or getattr(agent, "tracker_store", None) is None:
            return
        async with agent.lock_store.lock(sender_id):
            tracker = await agent.tracker_store.retrieve(sender_id)
            if tracker is None:
                return
            for e in events:
                tracker.update(e)
            await agent.tracker_store.save(tracker)

    async def _send_to_citizen(self, request: Request, handoff: Json, text: str) -> None:
        tracker = await self._tracker(request, handoff["sender_id"])
        if tracker is None:
            raise NoReplyAddress("no conversation in the tracker store")
        address, last_user_at = reply_route(tracker, handoff["channel"])
        if not address:
            raise NoReplyAddress("no reply address in the conversation")
        if handoff["channel"] == "messenger":
            outside = last_user_at is None or self.clock() - last_user_at > MESSENGER_WINDOW
            await self.sender.send_messenger(address, text, outside)
        else:
            await self.sender.send_sms(address, text)

    # routes -----------------------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("agent_console", __name__)
        store, sender, cfg, cases = self.store, self.sender, self.config, self.cases
        template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

        @bp.listener("after_server_stop")
        async def _close(_app: Any, _loop: Any) -> None:
            await sender.close()
            await self.cases.close()

        bp.static("/static", str(STATIC_DIR), name="console_static")

        @bp.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            lang = request.args.get("lang") or request.cookies.get(LANG_COOKIE) or "ar"
            lang = lang_or_default(lang)
            resp = response.html(render_page(lang, template), headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})
            resp.cookies[LANG_COOKIE] = lang
            resp.cookies[LANG_COOKIE]["samesite"] = "Strict"
            resp.cookies[LANG_COOKIE]["path"] = "/webhooks/agent_console"
            return resp

        @bp.route("/api/login", methods=["POST"])
        async def login(request: Request) -> HTTPResponse:
            try:
                body = _json_body(request)
            except BadInput as e:
                return _error(400, "bad_request", fields=e.fields)
            username, password = body.get("username"), body.get("password")
            if not isinstance(username, str) or not isinstance(password, str) or len(password) > 1024:
                return _error(400, "bad_request")
            result = await store.run(store.login, username, password, self.client_ip(request))
            if result.outcome == "rate_limited":
                return _error(429, "rate_limited", retry_after=result.retry_after)
            if result.outcome == "disabled":
                return _error(403, "account_disabled")
            if result.outcome != "ok" or result.agent is None or result.session_token is None:
                return _error(401, "bad_credentials")
            resp = _ok({"agent": result.agent.public(), "csrf_token": result.csrf_token})
            self._set_cookie(resp, result.session_token)
            return resp

        @bp.route("/api/logout", methods=["POST"])
        async def logout(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=True)
            if isinstance(s, HTTPResponse):
                return s
            await store.run(store.logout, request.cookies.get(COOKIE))
            await store.run(store.record, s.agent.id, "logout", None, None, self.client_ip(request))
            resp = _ok({"ok": True})
            self._set_cookie(resp, "")
            resp.cookies[COOKIE]["max-age"] = 0
            return resp

        @bp.route("/api/session", methods=["GET"])
        async def session_info(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=False)
            if isinstance(s, HTTPResponse):
                return s
            return _ok({"agent": s.agent.public(), "csrf_token": s.csrf_token})

        @bp.route("/api/form_token", methods=["GET"])
        async def form_token(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=False)
            if isinstance(s, HTTPResponse):
                return s
            return _ok({"form_token": self.forms.issue(s.agent.id)})

        @bp.route("/api/catalogue/sectors", methods=["GET"])
        async def sectors(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=False)
            if isinstance(s, HTTPResponse):
                return s
            try:
                found = await cases.sectors()
            except CaseStoreUnavailable:
                return _error(502, "case_store_unavailable")
            except CaseStoreError as e:
                logger.warning("case store refused the sector list: %s", e.status)
                return _error(502, "case_store_error")
            return _ok({"sectors": [{"id": x.id, "name_ar": x.name_ar, "name_en": x.name_en} for x in found]})

        @bp.route("/api/catalogue/entities", methods=["GET"])
        async def entities(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=False)
            if isinstance(s, HTTPResponse):
                return s
            try:
                query = catalogue_query(request.args)
            except BadInput as e:
                return _error(422, "invalid", fields=e.fields)
            try:
                found = await cases.entities(
                    sector=str(query.get("sector") or "") or None, q=str(query.get("q") or "") or None,
                    limit=int(query["limit"]),
                )
            except CaseStoreUnavailable:
                return _error(502, "case_store_unavailable")
            except ValidationError as e:  # e.g. an unknown sector
                return _error(422, "invalid", fields={e.field or "sector": e.code or "invalid"})
            except CaseStoreError as e:
                logger.warning("case store refused an entity search: %s", e.status)
                return _error(502, "case_store_error")
            return _ok({"entities": [{"id": x.id, "sector": x.sector, "name_ar": x.name_ar, "name_en": x.name_en} for x in found]})

        @bp.route("/api/requests", methods=["POST"])
        async def create_request(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=True)
            if isinstance(s, HTTPResponse):
                return s
            try:
                body = _json_body(request)
                form = parse_new_request(body)
            except BadInput as e:
                return _error(422, "invalid", fields=e.fields)
            # The key comes from a token this server issued to this agent, never from the client.
            key = self.forms.idempotency_key(s.agent.id, body.get("form_token"))
            if key is None:
                return _error(422, "form_expired")
            actor = f"agent:{s.agent.id}"
            payload: Json = {
                "type": form.type,
                "sector": form.sector,
                "entity": form.entity,
                "importance": form.importance,
                "description": form.description,
                "language": form.language,
                "channel": "contact_center",
                "entered_by": actor,
                # So the caller can later check the status by SMS from the same phone. An anonymous
                # report gets an unlinkable id instead: its follow-up is by reference + PIN only.
                "requester_id": anonymous_requester_id(key)
                if form.anonymous
                else phone_identity(form.phone),
            }
            if form.pillar:
                payload["pillar"] = form.pillar
            if form.type == "report":
                payload["anonymous"] = form.anonymous
            if not form.anonymous:
                payload["contact_phone"] = form.phone
            try:
                created = await cases.create_request(**payload, idempotency_key=key)
            except CaseStoreUnavailable:
                return _error(502, "case_store_unavailable")
            except ValidationError as e:  # the store's own checks (e.g. an unknown entity)
                return _error(422, "invalid", fields={e.field or "form": e.code or "invalid"})
            except CaseStoreError as e:
                if e.code == "idempotency_key_reused":  # the same form token with a changed form
                    return _error(409, "form_already_submitted")
                logger.warning("case store refused a console request: status %s", e.status)
                return _error(502, "case_store_error")
            status = 201 if created.created else 200
            reference = created.request.reference
            display = created.request.reference_display or refcode.format_grouped(reference)
            sms = "skipped_anonymous" if form.anonymous else ("skipped_replay" if status == 200 else "sent")
            if sms == "sent":
                text = _t(form.language, "Bekhedmetkom: your request is registered. Reference: {reference}", reference=display)
                try:
                    await sender.send_sms(form.phone, text)
                except OptedOut:
                    sms = "skipped_opted_out"
                except SendError as e:
                    logger.warning("reference SMS not sent: %s", e)
                    sms = "failed"
            await store.run(
                # A report's reference stays out of the console's tables (it is confidential).
                store.record, s.agent.id, "request_created", None if form.type == "report" else reference,
                {"type": form.type, "entity": form.entity, "sms": sms, "replay": status == 200}, self.client_ip(request),
            )
            due = created.request.due_at
            out = {"reference": reference, "reference_display": display, "sms": sms, "due_at": due.isoformat() if due else None,
                   "type": created.request.type, "created": created.created}
            if created.pin:
                out["pin"] = created.pin
            return _ok(out, status=201 if status == 201 else 200)

        @bp.route("/api/lookup", methods=["POST"])
        async def lookup(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=True)
            if isinstance(s, HTTPResponse):
                return s
            try:
                body = _json_body(request)
            except BadInput as e:
                return _error(400, "bad_request", fields=e.fields)
            try:
                reference = refcode.parse(str(body.get("reference") or ""))
            except refcode.ReferenceError_ as e:
                return _error(422, e.code)
            tail = digits_only(str(body.get("phone_tail") or ""))
            pin = digits_only(str(body.get("pin") or ""))
            proof: dict[str, str] = {}
            if len(pin) == 6:
                proof["pin"] = pin
            elif len(tail) == 4:
                proof["phone_tail"] = tail
            else:
                return _error(422, "verification_required")
            answer: HTTPResponse
            try:
                found = await cases.get_request(reference, actor=f"agent:{s.agent.id}", **proof)
                outcome, answer = "found", _ok({"request": request_view(found)})
            except CaseStoreUnavailable:
                return _error(502, "case_store_unavailable")
            except NotFoundOrUnverified:
                outcome, answer = "not_found_or_unverified", _error(404, "not_found_or_unverified")
            except RateLimited as e:
                outcome, answer = "rate_limited", _error(429, "rate_limited", retry_after=e.retry_after)
            except InvalidReference as e:
                outcome, answer = "error", _error(422, e.code or "malformed_reference")
            except CaseStoreError as e:
                logger.warning("case store refused a lookup: status %s", e.status)
                outcome, answer = "error", _error(502, "case_store_error")
            await store.run(store.record, s.agent.id, "request_lookup", reference, {"outcome": outcome}, self.client_ip(request))
            return answer

        # handoff --------------------------------------------------------------------------------
        @bp.route("/internal/handoff", methods=["POST"])
        async def internal_handoff(request: Request) -> HTTPResponse:
            auth = request.headers.get("Authorization", "")
            given = auth[7:] if auth.startswith("Bearer ") else ""
            if not given or not hmac.compare_digest(given.encode(), cfg.internal_token.encode()):
                return _error(403, "forbidden")
            try:
                body = _json_body(request)
                sender_id, channel, language = body.get("sender_id"), body.get("channel"), body.get("language")
                problems: dict[str, str] = {}
                if not isinstance(sender_id, str) or not 1 <= len(sender_id) <= 200 or not sender_id.isprintable():
                    problems["sender_id"] = "required"
                if channel not in HANDOFF_CHANNELS:
                    problems["channel"] = "one of: " + ", ".join(HANDOFF_CHANNELS)
                if problems:
                    raise BadInput(problems)
                transcript = parse_transcript(body.get("transcript", []))
            except BadInput as e:
                return _error(422, "invalid", fields=e.fields)
            hid = await store.run(store.enqueue_handoff, sender_id, channel, lang_or_default(language), transcript)
            await store.run(store.record, None, "handoff_queued", hid, {"channel": channel})
            return _ok({"handoff_id": hid}, status=201)

        def _brief(h: Json, me: int, names: dict[int, str]) -> Json:
            return {
                "id": h["id"],
                "label": f"{h['channel']} · {h['id'][:6]}",  # never the PSID or phone
                "channel": h["channel"],
                "language": h["language"],
                "state": h["state"],
                "mine": h["agent_id"] == me,
                "held_by": names.get(h["agent_id"]) if h["agent_id"] else None,
                "created_at": h["created_at"].isoformat(),
                "updated_at": h["updated_at"].isoformat(),
            }

        async def _names() -> dict[int, str]:
            return {a.id: a.display_name for a in await store.run(store.list_agents)}

        @bp.route("/api/handoffs", methods=["GET"])
        async def handoff_queue(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=False)
            if isinstance(s, HTTPResponse):
                return s
            items, names = await store.run(store.open_handoffs), await _names()
            return _ok({"handoffs": [_brief(h, s.agent.id, names) for h in items]})

        def _conflict(e: HandoffConflict) -> HTTPResponse:
            if e.code == "not_found":
                return _error(404, "not_found")
            if e.code == "held_by_other":
                return _error(403, "held_by_another_agent")
            return _error(409, e.code)

        @bp.route("/api/handoffs/<hid_:uuid>", methods=["GET"])
        async def handoff_detail(request: Request, hid_: uuid.UUID) -> HTTPResponse:
            hid = str(hid_)  # the route accepts only a UUID, as the queue mints
            s = await self._session(request, changes_state=False)
            if isinstance(s, HTTPResponse):
                return s
            h = await store.run(store.get_handoff, hid)
            if h is None or h["state"] == "resumed":
                return _error(404, "not_found")
            if h["state"] == "taken" and h["agent_id"] != s.agent.id:
                return _error(403, "held_by_another_agent")
            tracker = await self._tracker(request, h["sender_id"])
            transcript = transcript_from_tracker(tracker) if tracker is not None else []
            return _ok({**_brief(h, s.agent.id, await _names()), "transcript": transcript or h["transcript"]})

        @bp.route("/api/handoffs/<hid_:uuid>/take", methods=["POST"])
        async def take(request: Request, hid_: uuid.UUID) -> HTTPResponse:
            hid = str(hid_)  # the route accepts only a UUID, as the queue mints
            s = await self._session(request, changes_state=True)
            if isinstance(s, HTTPResponse):
                return s
            try:
                h = await store.run(store.take_handoff, hid, s.agent.id)
            except HandoffConflict as e:
                return _conflict(e)
            # An after-hours request was queued without pausing the bot; holding it pauses it now.
            tracker = await self._tracker(request, h["sender_id"])
            if tracker is not None and not tracker.is_paused():
                from rasa.shared.core.events import ConversationPaused

                await self._append(request, h["sender_id"], [ConversationPaused()])
            await store.run(store.record, s.agent.id, "handoff_taken", hid, None, self.client_ip(request))
            return _ok(_brief(h, s.agent.id, await _names()))

        @bp.route("/api/handoffs/<hid_:uuid>/reply", methods=["POST"])
        async def reply(request: Request, hid_: uuid.UUID) -> HTTPResponse:
            hid = str(hid_)  # the route accepts only a UUID, as the queue mints
            s = await self._session(request, changes_state=True)
            if isinstance(s, HTTPResponse):
                return s
            try:
                body = _json_body(request)
            except BadInput as e:
                return _error(400, "bad_request", fields=e.fields)
            raw = body.get("text")
            text = raw.strip() if isinstance(raw, str) else ""
            if not text or len(text) > MAX_REPLY:
                return _error(422, "invalid", fields={"text": "required" if not text else "too_long"})
            try:
                h = await store.run(store.require_holder, hid, s.agent.id)
            except HandoffConflict as e:
                return _conflict(e)
            try:
                await self._send_to_citizen(request, h, text)
            except NoReplyAddress:
                return _error(409, "no_reply_address")
            except OptedOut:
                return _error(409, "sms_opted_out")
            except TooLongForSms as e:
                return _error(422, "too_long_for_sms", max_length=e.limit)
            except SendError as e:
                logger.warning("agent reply not delivered on %s: %s", h["channel"], e)
                return _error(502, "not_delivered")
            from rasa.shared.core.events import BotUttered

            await self._append(request, h["sender_id"], [BotUttered(text, metadata={"agent": s.agent.display_name})])
            await store.run(store.record, s.agent.id, "handoff_reply", hid, None, self.client_ip(request))
            return _ok({"sent": True})

        @bp.route("/api/handoffs/<hid_:uuid>/resume", methods=["POST"])
        async def resume(request: Request, hid_: uuid.UUID) -> HTTPResponse:
            hid = str(hid_)  # the route accepts only a UUID, as the queue mints
            s = await self._session(request, changes_state=True)
            if isinstance(s, HTTPResponse):
                return s
            try:
                h = await store.run(store.require_holder, hid, s.agent.id)
            except HandoffConflict as e:
                return _conflict(e)
            from rasa.shared.core.events import BotUttered, ConversationResumed

            text = _t(h["language"], "You are back with the Bekhedmetkom assistant. How can I help?")
            delivered = True
            try:
                await self._send_to_citizen(request, h, text)
            except SendError as e:
                logger.warning("resume notice not delivered on %s: %s", h["channel"], e)
                delivered = False
            await self._append(request, h["sender_id"], [ConversationResumed(), BotUttered(text)])
            await store.run(store.resume_handoff, hid, s.agent.id)
            await store.run(store.record, s.agent.id, "handoff_resumed", hid, {"notice_delivered": delivered}, self.client_ip(request))
            return _ok({"resumed": True, "notice_delivered": delivered})

        return bp
