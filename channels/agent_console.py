"""The agent console: a web page for contact-center agents, served inside the Rasa server.

Routes (all under /webhooks/agent_console/):
    GET  /                         the page (?lang=ar|en; Arabic is right-to-left)
    GET  /static/<file>            its CSS and JS (no CDN, no build step)
    POST /api/login                {username, password} -> session cookie + CSRF token
    POST /api/logout               (CSRF)
    GET  /api/session              who is signed in, and the CSRF token for this session
    GET  /api/catalogue/sectors    proxied from the case store
    GET  /api/catalogue/entities   ?sector=&q=&limit= proxied from the case store
    POST /api/requests             (CSRF) file a request for a caller; the caller gets the reference by SMS
    POST /api/lookup               (CSRF) a request by reference + the caller's proof (phone tail or PIN)
    GET  /api/handoffs             the queue of conversations waiting for a person
    GET  /api/handoffs/<id>        one conversation with its live transcript
    POST /api/handoffs/<id>/take   (CSRF) hold it (one agent at a time)
    POST /api/handoffs/<id>/reply  (CSRF) {text}: sent on Messenger or SMS
    POST /api/handoffs/<id>/resume (CSRF) hand it back to the assistant
    POST /internal/handoff         (bearer AGENT_CONSOLE_INTERNAL_TOKEN) called by action_handoff

Roles, as in the other channel modules: *parse* (request bodies -> checked values), *send*
(ConsoleSender: Messenger send API and Twilio REST, the case store over HTTP) and *wire*
(AgentConsoleInput: credentials, routes, auth).

The case store is called with a small aiohttp client here rather than backend_client, because
channels/ may import only bot/ (DESIGN.md "Rooms").
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from babel.dates import format_datetime
from babel.messages.pofile import read_po
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import refcode
from bot.i18n import BABEL_LOCALES, LOCALE_DIR, gettext, lang_or_default
from bot.privacy import is_plausible_phone, keyed_id, normalise_phone, open_address, phone_identity
from bot.settings import ConfigError, env, get_settings, secret
from channels.agents import AgentStore, HandoffConflict, Session, utcnow

logger = logging.getLogger(__name__)

DOMAIN = "console"
STATIC_DIR = Path(__file__).resolve().parent / "agent_console_static"
COOKIE = "bekh_console"
LANG_COOKIE = "bekh_console_lang"
CSRF_HEADER = "X-CSRF-Token"
MAX_API_BODY = 64 * 1024
MAX_DESCRIPTION = 2000
MIN_DESCRIPTION = 10
MAX_REPLY = 2000  # Messenger's limit for one text message
MESSENGER_WINDOW = dt.timedelta(hours=24)

REQUEST_TYPES = ("inquiry", "suggestion", "compliment", "complaint", "report")
PILLARS = ("service_quality", "delivery_time", "employee_behaviour", "procedures", "infrastructure")
IMPORTANCE = ("normal", "urgent")
HANDOFF_CHANNELS = ("messenger", "sms", "voice")  # a voice caller who gave SMS consent is answered by SMS

Json = dict[str, Any]


def _t(language: str, message: str, **params: object) -> str:
    return gettext(DOMAIN, lang_or_default(language), message, **params)


# --- business hours ------------------------------------------------------------------------------
# The hours come from channels/business_hours.py (CONTACT_CENTER_HOURS, holidays). If that module is
# missing, Sunday-Thursday 08:00-15:00 Amman time, public holidays not counted.

_AMMAN = ZoneInfo("Asia/Amman")
_OPEN_DAYS = (6, 0, 1, 2, 3)  # Python weekday(): Sunday=6, Monday=0 .. Thursday=3
_OPEN_AT, _CLOSE_AT = dt.time(8, 0), dt.time(15, 0)
_STEP = dt.timedelta(minutes=5)


def _fallback_is_open(when: dt.datetime) -> bool:
    local = when.astimezone(_AMMAN)
    return local.weekday() in _OPEN_DAYS and _OPEN_AT <= local.time() < _CLOSE_AT


def _hours() -> Any:
    try:
        from bot import business_hours  # written by another helper
    except ImportError:
        return None
    return business_hours.current()


def next_opening(now: dt.datetime) -> dt.datetime:
    """`now` when agents are on duty, else the first moment (5-minute grid) they are, within 3 weeks."""
    hours = _hours()
    is_open: Callable[[dt.datetime], bool] = hours.is_open if hours is not None else _fallback_is_open
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
    hours = _hours()
    if hours is not None:
        available = _t(language, "Our agents are available {hours}.", hours=hours.describe(language))
    else:
        available = _t(language, "Our agents are available Sunday to Thursday, 8:00 to 15:00.")
    moment = format_datetime(when.astimezone(_AMMAN), "EEEE HH:mm", locale=BABEL_LOCALES[language])
    return available + " " + _t(language, "The next opening is {when}.", when=moment)


# --- parse -----------------------------------------------------------------------------------------

class BadInput(Exception):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


@dataclass(frozen=True)
class NewRequest:
    idempotency_key: str
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

    key = text("idempotency_key")
    if not 8 <= len(key) <= 128:
        errors["idempotency_key"] = "invalid"
    phone = text("caller_phone")
    if not phone or not is_plausible_phone(phone):
        errors["caller_phone"] = "invalid_phone"
    language = text("caller_language")
    if language not in ("ar", "en"):
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
    if len(description) < MIN_DESCRIPTION:
        errors["description"] = "too_short"
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = "too_long"
    # A report is anonymous unless the caller agrees to be contacted (the case store's default).
    anonymous = rtype == "report" and body.get("contact_ok") is not True
    if errors:
        raise BadInput(errors)
    return NewRequest(key, normalise_phone(phone), language, rtype, sector, entity, pillar, importance, description, anonymous)


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


class CaseStoreUnavailable(Exception):
    pass


class ConsoleSender:
    """Every outbound HTTP call of the console, over one lazily made aiohttp session per server."""

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

    # case store ---------------------------------------------------------------------------------
    async def case_store(
        self, method: str, path: str, *, json_body: Json | None = None, headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        h = {"Authorization": f"Bearer {self.cfg.case_store_token}", **(headers or {})}
        try:
            async with self.http().request(
                method, f"{self.cfg.case_store_url}{path}", json=json_body, headers=h, params=params
            ) as resp:
                try:
                    data = await resp.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    data = None
                return resp.status, data
        except (aiohttp.ClientError, TimeoutError) as e:
            logger.warning("case store unreachable: %s", type(e).__name__)
            raise CaseStoreUnavailable() from e

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
    )


def _error(status: int, code: str, **extra: Any) -> HTTPResponse:
    return response.json({"error": code, **extra}, status=status, headers={"Cache-Control": "no-store"})


def _ok(data: Any, status: int = 200) -> HTTPResponse:
    return response.json(data, status=status, headers={"Cache-Control": "no-store"})


def _client_ip(request: Request) -> str:
    # Sanic fills remote_addr only from proxy headers it is configured to trust (PROXIES_COUNT).
    return (request.remote_addr or request.ip or "unknown")[:64]


def _json_body(request: Request) -> Json:
    if len(request.body or b"") > MAX_API_BODY:
        raise BadInput({"body": "too_large"})
    if not (request.content_type or "").startswith("application/json"):
        # Also a guard against cross-site form posts: a page elsewhere cannot send JSON without CORS.
        raise BadInput({"body": "json_required"})
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise BadInput({"body": "malformed_json"}) from None
    if not isinstance(data, dict):
        raise BadInput({"body": "object_required"})
    return data


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
        store, sender, cfg = self.store, self.sender, self.config
        template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

        @bp.listener("after_server_stop")
        async def _close(_app: Any, _loop: Any) -> None:
            await sender.close()

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
            result = await store.run(store.login, username, password, _client_ip(request))
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
            await store.run(store.record, s.agent.id, "logout", None, None, _client_ip(request))
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

        @bp.route("/api/catalogue/sectors", methods=["GET"])
        async def sectors(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=False)
            if isinstance(s, HTTPResponse):
                return s
            try:
                status, data = await sender.case_store("GET", "/v1/catalogue/sectors")
            except CaseStoreUnavailable:
                return _error(502, "case_store_unavailable")
            if status != 200:
                return _error(502, "case_store_error")
            items = data.get("sectors", data.get("items", [])) if isinstance(data, dict) else data
            return _ok({"sectors": [{k: x.get(k) for k in ("id", "name_ar", "name_en")} for x in items or []]})

        @bp.route("/api/catalogue/entities", methods=["GET"])
        async def entities(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=False)
            if isinstance(s, HTTPResponse):
                return s
            params = {k: request.args.get(k, "")[:100] for k in ("sector", "q") if request.args.get(k)}
            params["limit"] = str(min(max(int(request.args.get("limit", "10") or 10), 1), 25)) if (
                request.args.get("limit", "10").isdigit()
            ) else "10"
            try:
                status, data = await sender.case_store("GET", "/v1/catalogue/entities", params=params)
            except CaseStoreUnavailable:
                return _error(502, "case_store_unavailable")
            if status != 200:
                return _error(502, "case_store_error")
            items = data.get("entities", data.get("items", [])) if isinstance(data, dict) else data
            out = []
            for x in items or []:
                e = x.get("entity", x) if isinstance(x, dict) else {}
                out.append({k: e.get(k) for k in ("id", "sector", "name_ar", "name_en")})
            return _ok({"entities": out})

        @bp.route("/api/requests", methods=["POST"])
        async def create_request(request: Request) -> HTTPResponse:
            s = await self._session(request, changes_state=True)
            if isinstance(s, HTTPResponse):
                return s
            try:
                form = parse_new_request(_json_body(request))
            except BadInput as e:
                return _error(422, "invalid", fields=e.fields)
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
                "requester_id": keyed_id("contact_center_anon", secrets.token_hex(16))
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
                status, data = await sender.case_store(
                    "POST", "/v1/requests", json_body=payload,
                    headers={"Idempotency-Key": form.idempotency_key, "X-Actor": actor},
                )
            except CaseStoreUnavailable:
                return _error(502, "case_store_unavailable")
            if status == 422 or status == 400:
                return _error(422, "invalid", fields=(data or {}).get("fields") or {"form": str((data or {}).get("error", "invalid"))})
            if status not in (200, 201) or not isinstance(data, dict) or "reference" not in data:
                logger.warning("case store refused a console request: status %s", status)
                return _error(502, "case_store_error")
            reference = str(data["reference"])
            display = data.get("reference_display") or refcode.format_grouped(reference)
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
                store.record, s.agent.id, "request_created", reference,
                {"type": form.type, "entity": form.entity, "sms": sms, "replay": status == 200}, _client_ip(request),
            )
            out = {"reference": reference, "reference_display": display, "sms": sms, "due_at": data.get("due_at"),
                   "type": data.get("type", form.type), "created": status == 201}
            if data.get("pin"):
                out["pin"] = data["pin"]
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
            tail = re.sub(r"\D", "", str(body.get("phone_tail") or "").translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")))
            pin = re.sub(r"\D", "", str(body.get("pin") or "").translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")))
            headers = {"X-Actor": f"agent:{s.agent.id}"}
            if len(pin) == 6:
                headers["X-Verify-Pin"] = pin
            elif len(tail) == 4:
                headers["X-Verify-Phone-Tail"] = tail
            else:
                return _error(422, "verification_required")
            try:
                status, data = await sender.case_store("GET", f"/v1/requests/{reference}", headers=headers)
            except CaseStoreUnavailable:
                return _error(502, "case_store_unavailable")
            outcome = {200: "found", 404: "not_found_or_unverified", 429: "rate_limited"}.get(status, "error")
            await store.run(store.record, s.agent.id, "request_lookup", reference, {"outcome": outcome}, _client_ip(request))
            if status == 200 and isinstance(data, dict):
                return _ok({"request": data})
            if status == 404:
                return _error(404, "not_found_or_unverified")
            if status == 429:
                return _error(429, "rate_limited", retry_after=(data or {}).get("retry_after"))
            if status == 422:
                return _error(422, (data or {}).get("error", "malformed_reference"))
            return _error(502, "case_store_error")

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
                if not isinstance(sender_id, str) or not 1 <= len(sender_id) <= 200:
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

        @bp.route("/api/handoffs/<hid:str>", methods=["GET"])
        async def handoff_detail(request: Request, hid: str) -> HTTPResponse:
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

        @bp.route("/api/handoffs/<hid:str>/take", methods=["POST"])
        async def take(request: Request, hid: str) -> HTTPResponse:
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
            await store.run(store.record, s.agent.id, "handoff_taken", hid, None, _client_ip(request))
            return _ok(_brief(h, s.agent.id, await _names()))

        @bp.route("/api/handoffs/<hid:str>/reply", methods=["POST"])
        async def reply(request: Request, hid: str) -> HTTPResponse:
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
            await store.run(store.record, s.agent.id, "handoff_reply", hid, None, _client_ip(request))
            return _ok({"sent": True})

        @bp.route("/api/handoffs/<hid:str>/resume", methods=["POST"])
        async def resume(request: Request, hid: str) -> HTTPResponse:
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
            await store.run(store.record, s.agent.id, "handoff_resumed", hid, {"notice_delivered": delivered}, _client_ip(request))
            return _ok({"resumed": True, "notice_delivered": delivered})

        return bp
