"""The JSON API of the page, apart from the handoff queue (handoffs.py): sign-in and session, the
catalogue, the "new call" form and the lookup of a request. The case store is reached only through
backend_client.CaseStoreClient."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from backend_client import (
    CaseStoreError,
    CaseStoreUnavailable,
    Conflict,
    InvalidReference,
    NotFoundOrUnverified,
    RateLimited,
    ValidationError,
)
from bot import refcode
from bot.arabic import digits_only
from bot.labels import visit_complaint
from bot.privacy import anonymous_requester_id, phone_identity
from bot.request_rules import BAD_VISIT_SCORE, complaint_from_visit
from channels.agent_console.forms import (
    BadInput,
    catalogue_query,
    centre_code_of,
    centre_view,
    json_body,
    parse_centre_rating,
    parse_new_request,
    request_view,
)
from channels.agent_console.page import t
from channels.agent_console.sending import OptedOut, SendError
from channels.agent_console.web import CONSOLE_ROLES, SESSION_COOKIE, error, ok
from channels.agents import Session

if TYPE_CHECKING:
    from channels.agent_console.channel import AgentConsoleInput

logger = logging.getLogger(__name__)
Json = dict[str, Any]


def register(bp: Blueprint, console: AgentConsoleInput) -> None:
    store, sender, cases, as_agent = console.store, console.sender, console.cases, console.as_agent

    @bp.route("/api/login", methods=["POST"])
    async def login(request: Request) -> HTTPResponse:
        try:
            body = json_body(request)
        except BadInput as e:
            return error(400, "bad_request", fields=e.fields)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or len(password) > 1024:
            return error(400, "bad_request")
        result = await store.run(store.login, username, password, console.client_ip(request), CONSOLE_ROLES)
        if result.outcome == "rate_limited":
            return error(429, "rate_limited", retry_after=result.retry_after)
        if result.outcome == "disabled":
            return error(403, "account_disabled")
        if result.outcome == "wrong_room":
            return error(403, "not_an_agent_account")
        if result.outcome != "ok" or result.agent is None or result.session_token is None:
            return error(401, "bad_credentials")
        resp = ok({"agent": result.agent.public(), "csrf_token": result.csrf_token})
        console.set_cookie(resp, result.session_token)
        return resp

    @bp.route("/api/logout", methods=["POST"])
    @as_agent(changes_state=True)
    async def logout(request: Request, s: Session) -> HTTPResponse:
        await store.run(store.logout, request.cookies.get(SESSION_COOKIE))
        await store.run(store.record, s.agent.id, "logout", None, None, console.client_ip(request))
        resp = ok({"ok": True})
        console.set_cookie(resp, "")
        resp.cookies[SESSION_COOKIE]["max-age"] = 0
        return resp

    @bp.route("/api/session", methods=["GET"])
    @as_agent(changes_state=False)
    async def session_info(request: Request, s: Session) -> HTTPResponse:
        return ok({"agent": s.agent.public(), "csrf_token": s.csrf_token})

    @bp.route("/api/form_token", methods=["GET"])
    @as_agent(changes_state=False)
    async def form_token(request: Request, s: Session) -> HTTPResponse:
        return ok({"form_token": console.forms.issue(s.agent.id)})

    @bp.route("/api/catalogue/sectors", methods=["GET"])
    @as_agent(changes_state=False)
    async def sectors(request: Request, s: Session) -> HTTPResponse:
        try:
            found = await cases.sectors()
        except CaseStoreUnavailable:
            return error(502, "case_store_unavailable")
        except CaseStoreError as e:
            logger.warning("case store refused the sector list: %s", e.status)
            return error(502, "case_store_error")
        return ok({"sectors": [{"id": x.id, "name_ar": x.name_ar, "name_en": x.name_en} for x in found]})

    @bp.route("/api/catalogue/entities", methods=["GET"])
    @as_agent(changes_state=False)
    async def entities(request: Request, s: Session) -> HTTPResponse:
        try:
            query = catalogue_query(request.args)
        except BadInput as e:
            return error(422, "invalid", fields=e.fields)
        try:
            found = await cases.entities(
                sector=str(query.get("sector") or "") or None, q=str(query.get("q") or "") or None,
                limit=int(query["limit"]),
            )
        except CaseStoreUnavailable:
            return error(502, "case_store_unavailable")
        except ValidationError as e:  # e.g. an unknown sector
            return error(422, "invalid", fields={e.field or "sector": e.code or "invalid"})
        except CaseStoreError as e:
            logger.warning("case store refused an entity search: %s", e.status)
            return error(502, "case_store_error")
        return ok({"entities": [{"id": x.id, "sector": x.sector, "name_ar": x.name_ar, "name_en": x.name_en} for x in found]})

    @bp.route("/api/requests", methods=["POST"])
    @as_agent(changes_state=True)
    async def create_request(request: Request, s: Session) -> HTTPResponse:
        try:
            body = json_body(request)
            form = parse_new_request(body)
        except BadInput as e:
            return error(422, "invalid", fields=e.fields)
        # The key comes from a token this server issued to this agent, never from the client.
        key = console.forms.idempotency_key(s.agent.id, body.get("form_token"))
        if key is None:
            return error(422, "form_expired")
        actor = f"agent:{s.agent.id}"
        sector = form.sector
        description = form.description
        if form.centre_code:  # a complaint from a bad centre rating: the description names the centre
            try:
                centre = await cases.centre(form.centre_code)
            except NotFoundOrUnverified:
                return error(422, "invalid", fields={"centre_code": "invalid"})
            except CaseStoreUnavailable:
                return error(502, "case_store_unavailable")
            except CaseStoreError as e:
                logger.warning("case store refused a centre lookup: status %s", e.status)
                return error(502, "case_store_error")
            # Only while it still goes to the centre's entity: an agent who changed the body files
            # an ordinary complaint (as the chat's campaign rule).
            if centre.entity.id == form.entity:
                description = visit_complaint(form.language, centre.name(form.language), description)
        if not sector:  # a preset body (forms.parse_new_request): its sector from the catalogue
            try:
                found = [e for e in await cases.entities(limit=500) if e.id == form.entity]
            except CaseStoreUnavailable:
                return error(502, "case_store_unavailable")
            except CaseStoreError as e:
                logger.warning("case store refused the catalogue: status %s", e.status)
                return error(502, "case_store_error")
            if not found:
                return error(422, "invalid", fields={"entity": "invalid"})
            sector = found[0].sector
        payload: Json = {
            "type": form.type,
            "sector": sector,
            "entity": form.entity,
            "importance": form.importance,
            "description": description,
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
            return error(502, "case_store_unavailable")
        except ValidationError as e:  # the store's own checks (e.g. an unknown entity)
            return error(422, "invalid", fields={e.field or "form": e.code or "invalid"})
        except CaseStoreError as e:
            if e.code == "idempotency_key_reused":  # the same form token with a changed form
                return error(409, "form_already_submitted")
            logger.warning("case store refused a console request: status %s", e.status)
            return error(502, "case_store_error")
        status = 201 if created.created else 200
        reference = created.request.reference
        display = created.request.reference_display or refcode.format_grouped(reference)
        sms = "skipped_anonymous" if form.anonymous else ("skipped_replay" if status == 200 else "sent")
        if sms == "sent":
            text = t(form.language, "Bekhedmetkom: your request is registered. Reference: {reference}", reference=display)
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
            {"type": form.type, "entity": form.entity, "sms": sms, "replay": status == 200, "centre": form.centre_code},
            console.client_ip(request),
        )
        due = created.request.due_at
        out = {"reference": reference, "reference_display": display, "sms": sms, "due_at": due.isoformat() if due else None,
               "type": created.request.type, "created": created.created}
        if created.pin:
            out["pin"] = created.pin
        return ok(out, status=201 if status == 201 else 200)

    @bp.route("/api/centres", methods=["GET"])
    @as_agent(changes_state=False)
    async def centre(request: Request, s: Session) -> HTTPResponse:
        """?code=4127 (or ٤١٢٧): the centre a caller names, so the agent can confirm it before rating."""
        code = centre_code_of(request.args.get("code"))
        if code is None:
            return error(422, "invalid", fields={"code": "invalid"})
        try:
            found = await cases.centre(code)
        except NotFoundOrUnverified:
            return error(404, "unknown_centre")
        except CaseStoreError:
            return error(502, "case_store_unavailable")
        return ok({"centre": centre_view(found)})

    @bp.route("/api/centre_ratings", methods=["POST"])
    @as_agent(changes_state=True)
    async def rate_centre(request: Request, s: Session) -> HTTPResponse:
        """A caller rates a service-centre visit by phone; the agent enters it (issue 13). The
        rater is the caller's keyed phone id, so the same person cannot also rate that centre
        by SMS or the IVR the same day."""
        try:
            body = json_body(request)
            form = parse_centre_rating(body)
        except BadInput as e:
            return error(422, "invalid", fields=e.fields)
        key = console.forms.idempotency_key(s.agent.id, body.get("form_token"))
        if key is None:
            return error(422, "form_expired")
        try:
            # The centre first: the answer names it, and a bad visit's complaint offer needs its entity.
            centre = await cases.centre(form.centre_code)
            created = await cases.rate_centre(
                form.centre_code, score=form.score, pillars=form.pillars, language=form.language,
                channel="contact_center", rater_id=phone_identity(form.phone), idempotency_key=key,
                comment=form.comment, entered_by=f"agent:{s.agent.id}",
            )
        except NotFoundOrUnverified:
            return error(404, "unknown_centre")
        except Conflict as e:
            return error(409, e.code or "conflict")
        except CaseStoreUnavailable:
            return error(502, "case_store_unavailable")
        except CaseStoreError as e:
            logger.warning("case store refused a centre rating: status %s", e.status)
            return error(502, "case_store_error")
        await store.run(store.record, s.agent.id, "centre_rated", None, {"centre": form.centre_code, "replay": not created},
                        console.client_ip(request))
        out: Json = {"created": created, "centre": centre_view(centre)}
        if form.score <= BAD_VISIT_SCORE:
            # The one-step complaint the chat offers too (bot.request_rules), for the page to prefill.
            pillar, description = complaint_from_visit(form.pillars, form.comment)
            out["complaint_offer"] = {"centre_code": centre.code, "sector": centre.sector, "entity": centre_view(centre)["entity"],
                                      "pillar": pillar, "description": description}
        return ok(out, status=201 if created else 200)

    @bp.route("/api/lookup", methods=["POST"])
    @as_agent(changes_state=True)
    async def lookup(request: Request, s: Session) -> HTTPResponse:
        try:
            body = json_body(request)
        except BadInput as e:
            return error(400, "bad_request", fields=e.fields)
        try:
            reference = refcode.parse(str(body.get("reference") or ""))
        except refcode.ReferenceError_ as e:
            return error(422, e.code)
        tail = digits_only(str(body.get("phone_tail") or ""))
        pin = digits_only(str(body.get("pin") or ""))
        proof: dict[str, str] = {}
        if len(pin) == 6:
            proof["pin"] = pin
        elif len(tail) == 4:
            proof["phone_tail"] = tail
        else:
            return error(422, "verification_required")
        answer: HTTPResponse
        try:
            found = await cases.get_request(reference, actor=f"agent:{s.agent.id}", **proof)
            outcome, answer = "found", ok({"request": request_view(found)})
        except CaseStoreUnavailable:
            return error(502, "case_store_unavailable")
        except NotFoundOrUnverified:
            outcome, answer = "not_found_or_unverified", error(404, "not_found_or_unverified")
        except RateLimited as e:
            outcome, answer = "rate_limited", error(429, "rate_limited", retry_after=e.retry_after)
        except InvalidReference as e:
            outcome, answer = "error", error(422, e.code or "malformed_reference")
        except CaseStoreError as e:
            logger.warning("case store refused a lookup: status %s", e.status)
            outcome, answer = "error", error(502, "case_store_error")
        await store.run(store.record, s.agent.id, "request_lookup", reference, {"outcome": outcome}, console.client_ip(request))
        return answer
