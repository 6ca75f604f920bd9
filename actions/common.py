"""What the actions share: the case-store client, catalogue cache, and reading the tracker."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from rasa_sdk import Tracker

from backend_client import CaseStoreClient
from backend_client.types import Campaign, Entity, Sector
from bot.privacy import open_address, phone_identity

_client: CaseStoreClient | None = None
_lock = asyncio.Lock()


def client() -> CaseStoreClient:
    """One client (one aiohttp session) per action-server process."""
    global _client
    if _client is None:
        _client = CaseStoreClient.from_settings(timeout=4.0)
    return _client


def language(tracker: Tracker) -> str:
    return "en" if tracker.get_slot("language") == "en" else "ar"


def latest_metadata(tracker: Tracker) -> dict[str, Any]:
    return dict(tracker.latest_message.get("metadata") or {})


# Our connectors, by the `input_channel` Rasa records on each user event (their name()), with
# the `metadata.channel` each of them sets and the case-store channel it stands for. Channel and
# identity are read only from user events that came through one of these, and only when the
# connector's own tag agrees: a client cannot name its channel or its identity (issue 10).
_CONNECTORS: dict[str, tuple[str, str]] = {
    "messenger": ("messenger", "messenger"),
    "twilio_sms": ("sms", "sms"),
    "twilio_voice": ("voice", "voice"),
    "rest": ("rest", "web"),
}
# Which connectors may vouch for a real address (a sealed reply_address) or a caller's keyed
# phone id: those that verified the vendor's signature. The REST channel never does.
_SEALS_ADDRESS = frozenset({"messenger", "twilio_sms", "twilio_voice"})
_SENDS_CALLER_KEY = frozenset({"twilio_voice"})


def _connector_user_event(tracker: Tracker) -> dict[str, Any] | None:
    """The latest user event one of our connectors delivered (with its own channel tag)."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        known = _CONNECTORS.get(str(event.get("input_channel") or ""))
        meta = event.get("metadata") or {}
        if known and isinstance(meta, dict) and meta.get("channel") == known[0]:
            return event
    return None


def last_user_metadata(tracker: Tracker) -> dict[str, Any]:
    """Metadata of the latest user event a connector of ours delivered (each sends it on every
    message), minus what Rasa adds; {} when no connector of ours delivered one."""
    event = _connector_user_event(tracker)
    if event is None:
        return {}
    return {k: v for k, v in event["metadata"].items() if k not in ("model_id", "assistant_id")}


def _connector(tracker: Tracker) -> str | None:
    event = _connector_user_event(tracker)
    return str(event["input_channel"]) if event else None


def channel(tracker: Tracker) -> str:
    """The case-store channel of the conversation: from the connector that delivered the latest
    user message, never from the sender id or a client's word; "web" when none of ours did."""
    name = _connector(tracker)
    return _CONNECTORS[name][1] if name else "web"


def reply_address(tracker: Tracker) -> str | None:
    """The person's real address (phone or PSID), opened from the sealed value a verified
    connector sent; None for anything else (the REST channel, a forged or foreign value)."""
    if _connector(tracker) not in _SEALS_ADDRESS:
        return None
    return open_address(last_user_metadata(tracker).get("reply_address"))


def caller_key(tracker: Tracker) -> str | None:
    """The IVR caller's keyed phone id, only as the voice connector sent it."""
    if _connector(tracker) not in _SENDS_CALLER_KEY:
        return None
    key = last_user_metadata(tracker).get("caller_key")
    return key if isinstance(key, str) and key else None


def can_use_own_number(tracker: Tracker) -> bool:
    """Can we offer "use the number you are texting/calling from"? SMS always knows it; the IVR
    sends it (sealed) only on the turn where the caller says yes, so a known caller qualifies."""
    ch = channel(tracker)
    return (ch == "sms" and reply_address(tracker) is not None) or (ch == "voice" and caller_key(tracker) is not None)


def requester_id(tracker: Tracker) -> str:
    """Who filed it, as the case store knows them.

    A phone number is one identity across SMS, the IVR and the contact center, so those use a
    keyed id of the number; Messenger and the web use the tracker's (already keyed) sender id.
    """
    key = caller_key(tracker)
    if key:
        return key  # the IVR sends the caller's keyed phone id, never the number
    ch = channel(tracker)
    address = reply_address(tracker)
    if ch in ("sms", "voice") and address:
        return phone_identity(address)
    return tracker.sender_id


def attachments_in(tracker: Tracker) -> list[dict[str, str]]:
    items = latest_metadata(tracker).get("attachments") or []
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"].startswith(("http://", "https://")):
            out.append({"url": item["url"][:2000], "media_type": str(item.get("media_type") or "application/octet-stream")[:100]})
    return out


def entity_values(tracker: Tracker, name: str) -> list[str]:
    return [str(e["value"]) for e in tracker.latest_message.get("entities", []) if e.get("entity") == name and e.get("value")]


def pillar_in(tracker: Tracker) -> str | None:
    """The pillar the latest message is clearly about: a pillar button's value, or
    bot.pillars.guess over the text and the words the NLU tagged (None when unclear)."""
    from bot import pillars, request_rules

    raw = tracker.latest_message.get("text") or ""
    tagged: list[tuple[str, str]] = []
    # The body and the place a message names are what it is about, never its pillar ("the Civil
    # Service Bureau", "شركة الكهرباء", "الرصيفة"): their words are blanked before the lexicon reads it.
    read = raw
    for e in tracker.latest_message.get("entities", []):
        start, end = e.get("start"), e.get("end")
        if e.get("entity") in NAMES and isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(raw):
            read = read[:start] + " " * (end - start) + read[end:]
    for e in tracker.latest_message.get("entities", []):
        if e.get("entity") != "pillar":
            continue
        value = str(e.get("value") or "")
        if is_payload(raw.strip()):
            if value in request_rules.PILLARS:
                return value
            continue
        start, end = e.get("start"), e.get("end")
        span = raw[start:end] if isinstance(start, int) and isinstance(end, int) and start < end else value
        tagged.append((span, value))
    if is_payload(raw.strip()):
        return None
    return pillars.guess(read, tagged)


# Entities that name what a message is about (a body, a place): bot/nlu_components.py and DIET.
NAMES = frozenset({"entity_name", "city"})


def intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def user_text(tracker: Tracker) -> str:
    return (tracker.latest_message.get("text") or "").strip()


def is_payload(text: str) -> bool:
    return text.startswith("/")


# --- catalogue cache ---------------------------------------------------------------------------

_CACHE_TTL = 600.0
_cache: dict[str, tuple[float, Any]] = {}


async def _cached(key: str, loader: Any, ttl: float = _CACHE_TTL) -> Any:
    hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < ttl:
        return hit[1]
    async with _lock:
        hit = _cache.get(key)
        if hit and time.monotonic() - hit[0] < ttl:
            return hit[1]
        value = await loader()
        _cache[key] = (time.monotonic(), value)
        return value


async def sectors() -> list[Sector]:
    return await _cached("sectors", lambda: client().sectors())  # type: ignore[no-any-return]


async def all_entities() -> dict[str, Entity]:
    async def load() -> dict[str, Entity]:
        return {e.id: e for e in await client().entities(limit=500)}  # the API caps pages at 500

    return await _cached("entities", load)  # type: ignore[no-any-return]


async def campaigns() -> dict[str, Campaign]:
    """The active complaint campaigns, in file order; a minute's cache, so a campaign added to
    the case store's files is picked up without restarting the action server."""

    async def load() -> dict[str, Campaign]:
        return {c.id: c for c in await client().campaigns()}

    return await _cached("campaigns", load, ttl=60.0)  # type: ignore[no-any-return]


async def entities_in_sector(sector: str) -> list[Entity]:
    return sorted((e for e in (await all_entities()).values() if e.sector == sector), key=lambda e: e.name_en)


# --- free-text helpers ---------------------------------------------------------------------------

_GENERIC = re.compile(
    r"(?ix)"
    r"\b(i\s+(would\s+like|want|wanna|need)\s+to\s+(make|file|submit|send|raise|report|ask|give|leave|do)?\s*(a|an)?\s*)"
    r"|\b(i\s+have\s+(a|an)\s+)"
    r"|\b(complaint|suggestion|compliment|question|inquiry|enquiry|report|about|the|please|plz|hi|hello)\b"
    r"|(بدي|بدّي|اريد|أريد|حابب|ابغى|عندي|اقدم|أقدم|اعمل|أعمل|اسال|اسأل|اشتكي|ابلغ|أبلغ|اقترح|أقترح)"
    r"|(شكوى|شكوه|اقتراح|سؤال|استفسار|بلاغ|ثناء|مرحبا|لو سمحت|من فضلك|على|عن)"
    r"|\b(bdi|badi|biddi|3ndi|andi|a2adem|aqadem|shakwa|shakwe|e2tira7|iqtira7|so2al|su2al|balagh|3an|3ala|3al)\b"
)


def has_content(text: str) -> bool:
    """Does an opening message say more than 'I want to complain'? Then it is the description."""
    if is_payload(text):
        return False
    rest = _GENERIC.sub(" ", text)
    words = [w for w in re.split(r"\s+", rest) if len(w) > 1]
    return len(words) >= 4

