"""The handoff queue: conversations the assistant handed to a person. The actions queue them
(POST /internal/handoff); an agent takes one (one agent at a time), replies on the person's own
channel, and hands it back to the assistant. Waiting ones expire (expiry.py)."""

from __future__ import annotations

import functools
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.i18n import lang_or_default
from channels.agent_console import conversations
from channels.agent_console.forms import BadInput, json_body
from channels.agent_console.page import t
from channels.agent_console.sending import NoReplyAddress, OptedOut, SendError, TooLongForSms
from channels.agent_console.web import error, ok
from channels.agents import HandoffConflict, Session

if TYPE_CHECKING:
    from channels.agent_console.channel import AgentConsoleInput

logger = logging.getLogger(__name__)
Json = dict[str, Any]
MAX_REPLY = 2000  # Messenger's limit for one text message
HANDOFF_CHANNELS = ("messenger", "sms", "voice")  # a voice caller who gave SMS consent is answered by SMS
GONE = ("resumed", "expired")  # states that have left the queue

# A handler of one held conversation: (request, the agent's session, the handoff row).
HeldHandler = Callable[[Request, Session, Json], Awaitable[HTTPResponse]]


def parse_transcript(raw: Any) -> list[Json]:
    if not isinstance(raw, list):
        raise BadInput({"transcript": "must_be_list"})
    out: list[Json] = []
    for item in raw[-200:]:
        if not isinstance(item, dict) or item.get("who") not in ("user", "bot") or not isinstance(item.get("text"), str):
            raise BadInput({"transcript": "bad_item"})
        out.append({"who": item["who"], "text": item["text"][:4000], "at": str(item.get("at") or "")[:40]})
    return out


def conflict(e: HandoffConflict) -> HTTPResponse:
    if e.code == "not_found":
        return error(404, "not_found")
    if e.code == "held_by_other":
        return error(403, "held_by_another_agent")
    return error(409, e.code)


def register(bp: Blueprint, console: AgentConsoleInput) -> None:
    store, cfg, as_agent = console.store, console.config, console.as_agent

    def held(claim: bool) -> Callable[[HeldHandler], Callable[..., Awaitable[HTTPResponse]]]:
        """What take, reply and resume share: a signed-in agent with the session's CSRF token
        (as_agent), and the handoff held by that agent (`claim`: take it first if it is waiting).
        The route accepts only a UUID, as the queue mints."""

        def wrap(handler: HeldHandler) -> Callable[..., Awaitable[HTTPResponse]]:
            @as_agent(changes_state=True)
            @functools.wraps(handler)
            async def route(request: Request, s: Session, hid_: uuid.UUID) -> HTTPResponse:
                try:
                    h = await store.run(store.take_handoff if claim else store.require_holder, str(hid_), s.agent.id)
                except HandoffConflict as e:
                    return conflict(e)
                return await handler(request, s, h)

            return route

        return wrap

    @bp.route("/internal/handoff", methods=["POST"])
    async def internal_handoff(request: Request) -> HTTPResponse:
        auth = request.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), cfg.internal_token.encode()):
            return error(403, "forbidden")
        try:
            body = json_body(request)
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
            return error(422, "invalid", fields=e.fields)
        hid = await store.run(store.enqueue_handoff, sender_id, channel, lang_or_default(language), transcript)
        await store.run(store.record, None, "handoff_queued", hid, {"channel": channel})
        return ok({"handoff_id": hid}, status=201)

    def brief(h: Json, me: int, names: dict[int, str]) -> Json:
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

    async def agent_names() -> dict[int, str]:
        return {a.id: a.display_name for a in await store.run(store.list_agents)}

    @bp.route("/api/handoffs", methods=["GET"])
    @as_agent(changes_state=False)
    async def handoff_queue(request: Request, s: Session) -> HTTPResponse:
        items, names = await store.run(store.open_handoffs), await agent_names()
        return ok({"handoffs": [brief(h, s.agent.id, names) for h in items]})

    @bp.route("/api/handoffs/<hid_:uuid>", methods=["GET"])
    @as_agent(changes_state=False)
    async def handoff_detail(request: Request, s: Session, hid_: uuid.UUID) -> HTTPResponse:
        h = await store.run(store.get_handoff, str(hid_))
        if h is None or h["state"] in GONE:
            return error(404, "not_found")
        if h["state"] == "taken" and h["agent_id"] != s.agent.id:
            return error(403, "held_by_another_agent")
        found = await conversations.tracker(conversations.rasa_agent(request.app), h["sender_id"])
        transcript = conversations.transcript_from_tracker(found) if found is not None else []
        return ok({**brief(h, s.agent.id, await agent_names()), "transcript": transcript or h["transcript"]})

    @bp.route("/api/handoffs/<hid_:uuid>/take", methods=["POST"])
    @held(claim=True)
    async def take(request: Request, s: Session, h: Json) -> HTTPResponse:
        # An after-hours request was queued without pausing the bot; holding it pauses it now.
        agent = conversations.rasa_agent(request.app)
        found = await conversations.tracker(agent, h["sender_id"])
        if found is not None and not found.is_paused():
            from rasa.shared.core.events import ConversationPaused

            await conversations.append(agent, h["sender_id"], [ConversationPaused()])
        await store.run(store.record, s.agent.id, "handoff_taken", h["id"], None, console.client_ip(request))
        return ok(brief(h, s.agent.id, await agent_names()))

    @bp.route("/api/handoffs/<hid_:uuid>/reply", methods=["POST"])
    @held(claim=False)
    async def reply(request: Request, s: Session, h: Json) -> HTTPResponse:
        try:
            body = json_body(request)
        except BadInput as e:
            return error(400, "bad_request", fields=e.fields)
        raw = body.get("text")
        text = raw.strip() if isinstance(raw, str) else ""
        if not text or len(text) > MAX_REPLY:
            return error(422, "invalid", fields={"text": "required" if not text else "too_long"})
        try:
            await console.send_to_citizen(conversations.rasa_agent(request.app), h, text)
        except NoReplyAddress:
            return error(409, "no_reply_address")
        except OptedOut:
            return error(409, "sms_opted_out")
        except TooLongForSms as e:
            return error(422, "too_long_for_sms", max_length=e.limit)
        except SendError as e:
            logger.warning("agent reply not delivered on %s: %s", h["channel"], e)
            return error(502, "not_delivered")
        from rasa.shared.core.events import BotUttered

        agent = conversations.rasa_agent(request.app)
        await conversations.append(agent, h["sender_id"], [BotUttered(text, metadata={"agent": s.agent.display_name})])
        await store.run(store.record, s.agent.id, "handoff_reply", h["id"], None, console.client_ip(request))
        return ok({"sent": True})

    @bp.route("/api/handoffs/<hid_:uuid>/resume", methods=["POST"])
    @held(claim=False)
    async def resume(request: Request, s: Session, h: Json) -> HTTPResponse:
        text = t(h["language"], "You are back with the Bekhedmetkom assistant. How can I help?")
        delivered = await console.hand_back(conversations.rasa_agent(request.app), h, text)
        await store.run(store.resume_handoff, h["id"], s.agent.id)
        await store.run(
            store.record, s.agent.id, "handoff_resumed", h["id"], {"notice_delivered": delivered}, console.client_ip(request)
        )
        return ok({"resumed": True, "notice_delivered": delivered})
