"""Validation of request bodies into typed inputs. Every failure names the field and a
machine-readable error, so the bot can re-ask exactly the slot that was wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.lang import LANGUAGES
from bot.privacy import is_plausible_phone, normalise_phone
from bot.request_rules import IMPORTANCE, PILLARS, REQUEST_TYPES
from case_store.constants import CHANNELS, MAX_DESCRIPTION_CHARS, STATUSES
from case_store.errors import ValidationFailed

MAX_ATTACHMENTS = 10
MAX_SHORT = 128
MAX_CAMPAIGN_ANSWER = 500


def is_clean_text(value: str) -> bool:
    """Text every store and hash can take: no NUL (PostgreSQL refuses it in text columns) and
    no lone surrogates (JSON "\\ud800" parses to one; nothing can encode it as UTF-8)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class AttachmentIn:
    url: str
    media_type: str


@dataclass(frozen=True)
class CreateInput:
    type: str
    sector: str
    entity: str
    description: str
    language: str
    channel: str
    requester_id: str
    pillar: str | None = None
    importance: str = "normal"
    entered_by: str | None = None
    contact_phone: str | None = None
    anonymous: bool = False
    attachments: tuple[AttachmentIn, ...] = ()
    notify_channel: str | None = None
    notify_address: str | None = None
    campaign: str | None = None
    campaign_answers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RatingInput:
    score: int
    resolved: bool
    comment: str | None = None


@dataclass(frozen=True)
class CentreRatingInput:
    """A rated visit to a service centre (issue 13): not a request, no reference."""

    score: int
    pillars: tuple[str, ...]
    language: str
    channel: str
    rater_id: str
    comment: str | None = None
    entered_by: str | None = None


@dataclass(frozen=True)
class StatusInput:
    status: str
    actor: str
    note: str | None = None
    answer: str | None = None


@dataclass
class _Body:
    data: dict[str, Any]
    prefix: str = ""

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def text(self, key: str, *, required: bool = True, max_len: int = MAX_SHORT) -> str | None:
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ValidationFailed("missing_field", self._name(key))
            return None
        if not isinstance(value, str):
            raise ValidationFailed("invalid_type", self._name(key), "expected a string")
        if not is_clean_text(value):
            raise ValidationFailed("invalid_value", self._name(key), "not valid text")
        value = value.strip()
        if len(value) > max_len:
            raise ValidationFailed("too_long", self._name(key), f"at most {max_len} characters")
        return value

    def choice(
        self, key: str, allowed: tuple[str, ...], *, required: bool = True, default: str | None = None
    ) -> str | None:
        value = self.text(key, required=required and default is None)
        if value is None:
            return default
        if value not in allowed:
            raise ValidationFailed("invalid_value", self._name(key), f"allowed: {', '.join(allowed)}")
        return value

    def flag(self, key: str, default: bool | None) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ValidationFailed("invalid_type", self._name(key), "expected true or false")
        return value


def _object(data: Any, name: str | None = None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed("invalid_type", name, "expected a JSON object")
    return data


def parse_create(data: Any) -> tuple[CreateInput, bool | None]:
    """Returns the input and the `anonymous` flag as given (None when absent: the type decides)."""
    b = _Body(_object(data))
    type_ = b.choice("type", REQUEST_TYPES)
    pillar = b.choice("pillar", PILLARS, required=False)
    importance = b.choice("importance", IMPORTANCE, default="normal")
    description = b.text("description", max_len=MAX_DESCRIPTION_CHARS)
    phone_raw = b.text("contact_phone", required=False, max_len=32)
    phone = None
    if phone_raw is not None:
        if not is_plausible_phone(phone_raw):
            raise ValidationFailed("invalid_value", "contact_phone", "not a plausible phone number")
        phone = normalise_phone(phone_raw)
    attachments: list[AttachmentIn] = []
    raw_attachments = b.data.get("attachments") or []
    if not isinstance(raw_attachments, list):
        raise ValidationFailed("invalid_type", "attachments", "expected a list")
    if len(raw_attachments) > MAX_ATTACHMENTS:
        raise ValidationFailed("too_many", "attachments", f"at most {MAX_ATTACHMENTS}")
    for i, item in enumerate(raw_attachments):
        a = _Body(_object(item, f"attachments[{i}]"), prefix=f"attachments[{i}].")
        url = a.text("url", max_len=2048)
        assert url is not None
        try:
            scheme = urlsplit(url).scheme
        except ValueError:  # e.g. "http://[" (an unclosed IPv6 host)
            scheme = ""
        if scheme not in ("https", "http"):
            raise ValidationFailed("invalid_value", f"attachments[{i}].url", "expected an http(s) URL")
        media_type = a.text("media_type")
        assert media_type is not None
        attachments.append(AttachmentIn(url, media_type))
    notify_channel = notify_address = None
    if b.data.get("notify") is not None:
        n = _Body(_object(b.data["notify"], "notify"), prefix="notify.")
        notify_channel = n.choice("channel", CHANNELS)
        notify_address = n.text("address", max_len=256)
    anonymous = b.flag("anonymous", None)
    campaign = b.text("campaign", required=False, max_len=64)
    answers: list[tuple[str, str]] = []
    raw_answers = b.data.get("campaign_answers")
    if raw_answers is not None:
        a = _Body(_object(raw_answers, "campaign_answers"), prefix="campaign_answers.")
        if len(a.data) > 2:
            raise ValidationFailed("too_many", "campaign_answers", "at most 2")
        for qid in sorted(a.data):
            value = a.text(qid, max_len=MAX_CAMPAIGN_ANSWER)
            if value is not None and len(qid) <= 64:
                answers.append((qid, value))
        if answers and campaign is None:
            raise ValidationFailed("missing_field", "campaign", "campaign_answers need a campaign")
    result = CreateInput(
        type=type_ or "",
        sector=b.text("sector", max_len=64) or "",
        entity=b.text("entity", max_len=64) or "",
        description=description or "",
        language=b.choice("language", LANGUAGES) or "",
        channel=b.choice("channel", CHANNELS) or "",
        requester_id=b.text("requester_id") or "",
        pillar=pillar,
        importance=importance or "normal",
        entered_by=b.text("entered_by", required=False),
        contact_phone=phone,
        anonymous=bool(anonymous),
        attachments=tuple(attachments),
        notify_channel=notify_channel,
        notify_address=notify_address,
        campaign=campaign,
        campaign_answers=tuple(answers),
    )
    return result, anonymous


def parse_rating(data: Any) -> RatingInput:
    b = _Body(_object(data))
    score = _score(b)
    resolved = b.flag("resolved", None)
    if resolved is None:
        raise ValidationFailed("missing_field", "resolved")
    return RatingInput(score, resolved, b.text("comment", required=False, max_len=2000))


def _score(b: _Body) -> int:
    score = b.data.get("score")
    if score is None:
        raise ValidationFailed("missing_field", "score")
    if not isinstance(score, int) or isinstance(score, bool):
        raise ValidationFailed("invalid_type", "score", "expected an integer 1..5")
    if not 1 <= score <= 5:
        raise ValidationFailed("out_of_range", "score", "expected an integer 1..5")
    return score


def parse_centre_rating(data: Any) -> CentreRatingInput:
    b = _Body(_object(data))
    score = _score(b)
    raw = b.data.get("pillars")
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise ValidationFailed("invalid_type", "pillars", "expected a list of pillar names (empty: none fell short)")
    if any(p not in PILLARS for p in raw):
        raise ValidationFailed("invalid_value", "pillars", f"allowed: {', '.join(PILLARS)}")
    return CentreRatingInput(
        score=score,
        pillars=tuple(sorted(set(raw))),
        language=b.choice("language", LANGUAGES) or "",
        channel=b.choice("channel", CHANNELS) or "",
        rater_id=b.text("rater_id") or "",
        comment=b.text("comment", required=False, max_len=1000),
        entered_by=b.text("entered_by", required=False),
    )


def parse_reopen(data: Any) -> str | None:
    return _Body(_object(data)).text("reason", required=False, max_len=2000)


def parse_status(data: Any) -> StatusInput:
    b = _Body(_object(data))
    status = b.choice("status", STATUSES)
    actor = b.text("actor")
    answer = b.text("answer", required=False, max_len=MAX_DESCRIPTION_CHARS)
    if status == "answered" and not answer:
        raise ValidationFailed("missing_field", "answer", "an answered request needs the answer text")
    return StatusInput(status or "", actor or "", b.text("note", required=False, max_len=2000), answer)


MAX_ROUTE_TEXT = 2000
MAX_ROUTE_AMONG = 50


@dataclass(frozen=True)
class RouteInput:
    text: str
    among: tuple[str, ...]


def parse_route(data: Any) -> RouteInput:
    """`{text, among?}` for POST /v1/catalogue/route: the text to route, and the entity ids just
    offered (a place alone picks among them)."""
    b = _Body(_object(data))
    text = b.text("text", max_len=MAX_ROUTE_TEXT) or ""
    raw = data.get("among")
    if raw is None:
        return RouteInput(text, ())
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ValidationFailed("invalid_type", "among", "expected a list of entity ids")
    if len(raw) > MAX_ROUTE_AMONG or any(len(v) > MAX_SHORT or not is_clean_text(v) for v in raw):
        raise ValidationFailed("too_long", "among", f"at most {MAX_ROUTE_AMONG} ids of at most {MAX_SHORT} characters")
    return RouteInput(text, tuple(raw))


def idempotency_key(value: str | None) -> str:
    if value is None or not value.strip():
        raise ValidationFailed("missing_field", "Idempotency-Key", "the header is required")
    value = value.strip()
    if not 8 <= len(value) <= 128 or not value.isascii() or not value.isprintable():
        raise ValidationFailed("invalid_value", "Idempotency-Key", "8..128 printable ASCII characters")
    return value
