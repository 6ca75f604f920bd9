"""Request bodies and queries turned into checked values: the "new call" form, the lookup's
catalogue query, what the page may see of a request, and the server-minted form tokens that
choose every idempotency key."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sanic.request import Request

from backend_client import CaseRequest, Centre
from bot.arabic import fold_digits
from bot.bounded_json import BadJson, parse_json
from bot.lang import LANGUAGES
from bot.privacy import is_anonymous, is_plausible_phone, normalise_phone
from bot.request_rules import (
    IMPORTANCE,
    INTENT_TO_TYPE,
    PILLARS,
    PRESET_ENTITY,
    REQUEST_TYPES,
    description_too_short,
    track_of,
)
from channels.agents import ABSOLUTE_TIMEOUT

Json = dict[str, Any]
MAX_API_BODY = 64 * 1024
MAX_DESCRIPTION = 2000


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
    # A complaint made from a caller's bad centre rating (the rating form's one-step offer): the
    # centre's 4-digit code, so the description names the centre as the chat's does.
    centre_code: str | None = None


def centre_code_of(value: object) -> str | None:
    """A centre's 4-digit code as typed (Arabic-Indic digits folded, spaces ignored), or None."""
    if not isinstance(value, str):
        return None
    code = fold_digits(value).strip()
    return code if re.fullmatch(r"[0-9]{4}", code) else None


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
    # A menu entry that names its body (the human-rights grievance) sends its intent as `track`
    # and no sector or entity: the body is bot.request_rules' preset, its sector the catalogue's.
    track = text("track")
    if track:
        preset = PRESET_ENTITY.get(track)
        if preset is None or INTENT_TO_TYPE.get(track) != rtype:
            errors["type"] = "required"
        else:
            sector, entity = "", preset
    elif not sector:
        errors["sector"] = "required"
    if not entity and not track:
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
    centre_code = None
    if body.get("centre_code") not in (None, ""):
        centre_code = centre_code_of(body.get("centre_code"))
        if centre_code is None or rtype != "complaint":
            errors["centre_code"] = "invalid"
    if errors:
        raise BadInput(errors)
    return NewRequest(normalise_phone(phone), language, rtype, sector, entity, pillar, importance, description, anonymous,
                      centre_code)


@dataclass(frozen=True)
class NewCentreRating:
    """A caller's rating of a service-centre visit, entered by an agent (issue 13)."""

    phone: str
    language: str
    centre_code: str
    score: int
    pillars: tuple[str, ...]
    comment: str | None


def parse_centre_rating(body: Json) -> NewCentreRating:
    errors: dict[str, str] = {}
    phone = body.get("caller_phone") if isinstance(body.get("caller_phone"), str) else ""
    if not phone or not is_plausible_phone(phone):
        errors["caller_phone"] = "invalid_phone"
    language = body.get("caller_language")
    if language not in LANGUAGES:
        errors["caller_language"] = "required"
    code = centre_code_of(body.get("centre_code"))
    if code is None:
        errors["centre_code"] = "invalid"
    score = body.get("score")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        errors["score"] = "invalid"
    pillars = body.get("pillars") or []
    if not isinstance(pillars, list) or not all(p in PILLARS for p in pillars):
        errors["pillars"] = "invalid"
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 1000):
        errors["comment"] = "invalid"
    if errors:
        raise BadInput(errors)
    return NewCentreRating(normalise_phone(str(phone)), str(language), str(code), int(str(score)),
                           tuple(sorted(set(pillars))), (comment or "").strip() or None)


def json_body(request: Request) -> Json:
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
        # The menu entry it came from (bot.request_rules.track_of): the page names the type by it.
        "track": track_of(r.type, r.entity.id),
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


def centre_view(c: Centre) -> Json:
    """A service centre as the page shows it: both names, open or closed, its entity and sector."""
    return {"code": c.code, "name_ar": c.name_ar, "name_en": c.name_en, "status": c.status, "sector": c.sector,
            "entity": {"id": c.entity.id, "name_ar": c.entity.name_ar, "name_en": c.entity.name_en}}


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

